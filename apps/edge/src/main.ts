/**
 * Edge process: listens on EDGE_PORT (default 8081) at EDGE_HOST (default 127.0.0.1), serving
 * STORAGE_DIR (local object storage root). Env: DATABASE_URL, STORAGE_DIR, LOG_LEVEL.
 */
import { createDb } from '@live/db';
import { createLocalStorage } from '@live/storage';
import { buildEdge } from './app.js';

const databaseUrl = process.env.DATABASE_URL;
const storageDir = process.env.STORAGE_DIR;
if (!databaseUrl || !storageDir) { console.error('DATABASE_URL and STORAGE_DIR are required'); process.exit(2); }
const db = createDb(databaseUrl, 5);
const app = await buildEdge({ db, storage: createLocalStorage({ rootDir: storageDir }), logger: { name: 'edge', level: process.env.LOG_LEVEL ?? 'info' } });
await app.listen({ port: Number(process.env.EDGE_PORT ?? 8081), host: process.env.EDGE_HOST ?? '127.0.0.1' });

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await app.close();
  await db.destroy();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
