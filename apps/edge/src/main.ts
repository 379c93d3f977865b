/**
 * Edge process: listens on EDGE_PORT (default 8081) at EDGE_HOST (default 127.0.0.1), serving
 * object storage: S3 when S3_BUCKET (and S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID,
 * S3_SECRET_ACCESS_KEY, S3_PREFIX) is set, else the local directory STORAGE_DIR
 * (`storageConfigFromEnv`). Env: DATABASE_URL, LOG_LEVEL,
 * PLAYBACK_KEYS (else JWT_KEYS; `kid:secret,…`, the API's playback-token ring), CONTENT_KEY_SECRET
 * (base64 or hex:<hex>, ≥ 16 bytes; AES-128 HLS keys), EDGE_CACHE_BYTES (memory for immutable
 * objects: a byte count or `256m`; default 256 MiB, 0 turns the cache off).
 */
import { parseContentKeySecret, parseJwtKeys } from '@live/auth';
import { createDb } from '@live/db';
import { createObjectStorage, storageConfigFromEnv } from '@live/storage';
import { buildEdge } from './app.js';
import { parseCacheBytes } from './cache.js';

const databaseUrl = process.env.DATABASE_URL;
const storageConfig = storageConfigFromEnv(process.env);
if (!databaseUrl || (!storageConfig.s3 && !storageConfig.rootDir)) { console.error('DATABASE_URL and STORAGE_DIR (or S3_BUCKET) are required'); process.exit(2); }
const db = createDb(databaseUrl, 5);
const cacheBytes = parseCacheBytes(process.env.EDGE_CACHE_BYTES);
const playbackKeysText = process.env.PLAYBACK_KEYS || process.env.JWT_KEYS;
const app = await buildEdge({
  db, storage: createObjectStorage(storageConfig), logger: { name: 'edge', level: process.env.LOG_LEVEL ?? 'info' },
  ...(playbackKeysText ? { playbackKeys: parseJwtKeys(playbackKeysText) } : {}),
  ...(cacheBytes !== undefined ? { objectCacheBytes: cacheBytes } : {}),
  ...(process.env.CONTENT_KEY_SECRET ? { contentKeySecret: parseContentKeySecret(process.env.CONTENT_KEY_SECRET) } : {}),
});
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
