/**
 * The edge with HLS Content Steering against a real PostgreSQL and local storage: a session's
 * live and VOD master playlists name the steering server and list every edge's variants (with
 * the viewer's token), media playlists and every other object are served as stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { createLocalStorage } from '@live/storage';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { buildEdge } from '../src/app.js';

const ring = parseJwtKeys('pb1:edge-steering-test-secret-0123456789abcdef');
const MASTER = '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"\n360p/index.m3u8\n';
const MEDIA = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nseg_00000.m4s\n';
let services: RunningServices;
let db: Db;
let app: FastifyInstance;
const storage = createLocalStorage({ rootDir: mkdtempSync(join(tmpdir(), 'edge-steering-int-')) });

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-steering-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'demo', displayName: 'Demo', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 's1', channel_id: 'demo', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await storage.writePlaylist('sessions/s1/master.m3u8', MASTER, { live: true });
  await storage.writePlaylist('sessions/s1/vod.m3u8', MASTER, { live: false });
  await storage.writePlaylist('sessions/s1/360p/index.m3u8', MEDIA, { live: true });
  app = await buildEdge({
    db, storage, liveLookupCacheMs: 0, playbackKeys: ring,
    steering: { pathwayId: 'edge-1', serverUrl: '/api/streams', pathways: [{ id: 'edge-1', url: 'http://127.0.0.1:8081' }, { id: 'edge-2', url: 'http://127.0.0.1:8083' }] },
  });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

describe('edge with content steering', () => {
  it('serves the live master with the steering tag and both pathways', async () => {
    const r = await app.inject({ method: 'GET', url: '/live/demo/master.m3u8' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(r.headers['cache-control']).toBe('public, max-age=1');
    expect(r.headers.etag).toBeUndefined();
    expect(r.body).toBe([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-CONTENT-STEERING:SERVER-URI="/api/streams/s1/steering",PATHWAY-ID="edge-1"',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="edge-1"',
      '360p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="edge-2"',
      'http://127.0.0.1:8083/live/demo/360p/index.m3u8',
      '',
    ].join('\n'));
    const head = await app.inject({ method: 'HEAD', url: '/live/demo/master.m3u8' });
    expect(head.statusCode).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(r.body));
  });

  it('carries the viewer\'s token on every pathway, privately', async () => {
    const token = signPlaybackToken({ channelId: 'demo', expiresAt: Date.now() + 600_000 }, ring);
    const r = await app.inject({ method: 'GET', url: `/sessions/s1/vod.m3u8?token=${token}` });
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('private, no-store');
    expect(r.body).toContain(`\n360p/index.m3u8?token=${token}\n`);
    expect(r.body).toContain(`\nhttp://127.0.0.1:8083/sessions/s1/360p/index.m3u8?token=${token}\n`);
    expect(r.body).toContain('SERVER-URI="/api/streams/s1/steering",PATHWAY-ID="edge-1"\n');
  });

  it('leaves media playlists as stored', async () => {
    const r = await app.inject({ method: 'GET', url: '/live/demo/360p/index.m3u8' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe(MEDIA);
  });
});
