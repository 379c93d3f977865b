/**
 * The edge serving from the S3 provider: a real S3-compatible server (MinIO, started by the test
 * harness) and a real PostgreSQL. The same requests as against the local directory: playlists
 * with their short Cache-Control, segments immutable with ETag / 304 and byte ranges, 404s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { startMinio, startServices, type MinioHandle, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { createS3Storage, type S3ObjectStorage } from '@live/storage';
import { buildEdge } from '../src/app.js';

let services: RunningServices;
let minio: MinioHandle;
let storage: S3ObjectStorage;
let db: Db;
let app: FastifyInstance;
const segment = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff));

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-s3', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  minio = await startMinio();
  storage = createS3Storage({ endpoint: minio.endpoint, region: minio.region, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey, bucket: 'media' });
  await storage.ensureBucket();
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 's3chan', displayName: 'S3', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 's3s', channel_id: 's3chan', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  // Publishing order: the segment before the playlist that names it.
  await storage.writeSegment('sessions/s3s/480p/seg_00000.m4s', segment);
  await storage.writePlaylist('sessions/s3s/480p/index.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_00000.m4s\n', { live: true });
  app = await buildEdge({ db, storage, liveLookupCacheMs: 0 });
}, 120_000);
afterAll(async () => {
  await app?.close();
  storage?.close();
  await minio?.stop();
  await db?.destroy();
  await services?.stop();
});

describe('edge on S3 storage', () => {
  it('serves the live playlist with the Cache-Control and type set on upload', async () => {
    const r = await app.inject({ method: 'GET', url: '/live/s3chan/480p/index.m3u8' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(r.headers['cache-control']).toBe('public, max-age=1');
    expect(r.body).toContain('seg_00000.m4s');
  });

  it('serves segments immutable, with ETag / 304 and byte ranges', async () => {
    const r = await app.inject({ method: 'GET', url: '/sessions/s3s/480p/seg_00000.m4s' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('video/iso.segment');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Buffer.compare(r.rawPayload, segment)).toBe(0);
    const etag = r.headers.etag as string;
    expect(etag).toMatch(/^"/);
    expect((await app.inject({ method: 'GET', url: '/sessions/s3s/480p/seg_00000.m4s', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
    const part = await app.inject({ method: 'GET', url: '/sessions/s3s/480p/seg_00000.m4s', headers: { range: 'bytes=100-199' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/4096');
    expect(Buffer.compare(part.rawPayload, segment.subarray(100, 200))).toBe(0);
  });

  it('answers 404 for an object the bucket does not hold', async () => {
    const r = await app.inject({ method: 'GET', url: '/sessions/s3s/480p/seg_00009.m4s' });
    expect([r.statusCode, r.json()]).toEqual([404, { code: 'NOT_FOUND', message: 'No such object.' }]);
  });
});
