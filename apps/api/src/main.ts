/**
 * API process: listens on API_PORT (default 8080) at API_HOST (default 127.0.0.1).
 * Env: DATABASE_URL, EDGE_PUBLIC_URL (prefix of playback URLs, default same-origin), LOG_LEVEL.
 */
import { createDb, migrateToLatest } from '@live/db';
import { buildApp } from './app.js';

const level = process.env.LOG_LEVEL ?? 'info';
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) { console.error('DATABASE_URL is required'); process.exit(2); }
const db = createDb(databaseUrl);
await migrateToLatest(db);
const app = await buildApp({ db, edgeBaseUrl: process.env.EDGE_PUBLIC_URL ?? '', logger: { name: 'api', level } });
await app.listen({ port: Number(process.env.API_PORT ?? 8080), host: process.env.API_HOST ?? '127.0.0.1' });

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
