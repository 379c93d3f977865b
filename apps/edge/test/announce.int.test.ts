/**
 * Edges fed by the packager's announcements (issue 18): a real nats-server with the platform's
 * authorization (the packager connects as `worker`, the edges as `edge`), MinIO storage, a real
 * PostgreSQL and TWO edges, each with its own storage client and NATS connection (the only
 * coupling between packager and edges is the bucket and the announcements: no shared disk).
 * The real LL-HLS packager writes parts one at a time and announces them; a blocking playlist
 * reload parked on each edge is answered once the part is announced, and neither edge touches
 * storage meanwhile (their storage calls are counted), nor for the part itself afterwards.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startMinio, startServices, type MinioHandle, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, type Messaging } from '@live/messaging';
import { createS3Storage, type ObjectStorage, type S3ObjectStorage } from '@live/storage';
import { edgeMetric, waitParked } from './edge-metrics.js';
import { buildEdge } from '../src/app.js';
import { natsAnnouncementSource } from '../src/feed.js';
import { encodeFragments, FEED_RENDITION, natsAnnouncer, startLlFeed, type LlFeed } from './ll-feed.js';

const SESSION = 'ann-s';
const CHANNEL = 'annchan';
const PLAYLIST_URL = `/live/${CHANNEL}/${FEED_RENDITION.name}/index.m3u8`;

let services: RunningServices;
let minio: MinioHandle;
let db: Db;
let work: string;
let packagerStorage: S3ObjectStorage;
let packagerNats: Messaging;
let feed: LlFeed;
const edges: Array<{ app: FastifyInstance; nats: Messaging; s3: S3ObjectStorage; calls: () => number }> = [];

/** `storage` with its reads (`stat`, `read`, `createReadStream`) counted. */
function counted(storage: S3ObjectStorage): { storage: ObjectStorage; calls: () => number } {
  let n = 0;
  const proxy = new Proxy(storage, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'stat' || prop === 'read' || prop === 'createReadStream') return (...args: unknown[]) => { n++; return (v as (...a: unknown[]) => unknown).apply(target, args); };
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { storage: proxy, calls: () => n };
}

const s3Of = () => createS3Storage({ endpoint: minio.endpoint, region: minio.region, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey, bucket: 'media' });

/** The part the live playlist's preload hint names: the next one the packager writes. */
function hintedPart(text: string): { uri: string; msn: number; part: number } {
  const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(seg_(\d+)\.part(\d+)\.m4s)"/.exec(text);
  if (!m) throw new Error(`no preload hint in\n${text}`);
  return { uri: m[1]!, msn: Number(m[2]), part: Number(m[3]) };
}

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-announce', natsAuth: true, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  minio = await startMinio();
  packagerStorage = s3Of();
  await packagerStorage.ensureBucket();
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: CHANNEL, displayName: 'Announced', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: SESSION, channel_id: CHANNEL, status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  work = mkdtempSync(join(tmpdir(), 'edge-announce-'));
  packagerNats = await connectMessaging(services.endpoints.natsUrl, 'packager', services.natsAuth('worker'));
  feed = startLlFeed({ storage: packagerStorage, keyPrefix: `sessions/${SESSION}`, outputDir: join(work, 'out'), media: encodeFragments(join(work, 'enc'), 6), announcer: natsAnnouncer(packagerNats.nc, SESSION) });
  for (let i = 0; i < 3; i++) await feed.next(); // a live playlist with a few parts, before any edge listens
  for (const name of ['edge-1', 'edge-2']) {
    const nats = await connectMessaging(services.endpoints.natsUrl, name, services.natsAuth('edge'));
    const s3 = s3Of();
    const { storage, calls } = counted(s3);
    // freshMs: a slow machine must not fall back to polling between two steps of the test
    const app = await buildEdge({ db, storage, liveLookupCacheMs: 60_000, announcements: natsAnnouncementSource(nats.nc), live: { freshMs: 600_000 } });
    edges.push({ app, nats, s3, calls });
  }
}, 180_000);

afterAll(async () => {
  for (const e of edges) {
    await e.app.close();
    await e.nats.close();
    e.s3.close();
  }
  await packagerNats?.close();
  packagerStorage?.close();
  await minio?.stop();
  await db?.destroy();
  await services?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('edges fed by announcements', () => {
  it('subscribe when a viewer asks for the live session (storage answers until announcements arrive)', async () => {
    for (const e of edges) {
      const r = await e.app.inject({ method: 'GET', url: PLAYLIST_URL });
      expect(r.statusCode).toBe(200);
      expect(r.body).toContain('#EXT-X-PRELOAD-HINT');
      expect(await edgeMetric(e.app, 'edge_live_sessions')).toBe(1);
      await e.nats.nc.flush(); // the subscription has reached the server
    }
    await feed.next();
    for (const e of edges) await vi.waitFor(async () => expect(await edgeMetric(e.app, 'edge_announcements_total', '{kind="playlist"}')).toBeGreaterThanOrEqual(1), { timeout: 30_000, interval: 20 });
  });

  it('answers a blocking reload parked on each edge once the part is announced, without reading storage', async () => {
    const current = (await edges[0]!.app.inject({ method: 'GET', url: PLAYLIST_URL })).body;
    const next = hintedPart(current);
    const before = edges.map((e) => e.calls());
    const pending = edges.map((e) => e.app.inject({ method: 'GET', url: `${PLAYLIST_URL}?_HLS_msn=${next.msn}&_HLS_part=${next.part}` }));
    for (const e of edges) await waitParked(e.app, 1);
    for (const e of edges) expect([await edgeMetric(e.app, 'edge_blocking_announced_playlists'), await edgeMetric(e.app, 'edge_blocking_watched_playlists')]).toEqual([1, 0]);
    await feed.next(); // writes the hinted part and the playlist naming it, and announces both
    for (const r of await Promise.all(pending)) {
      expect(r.statusCode).toBe(200);
      expect(r.body).toContain(`URI="${next.uri}"`);
    }
    expect(edges.map((e) => e.calls())).toEqual(before); // no stat, no read: woken by the announcement, answered from memory

    // The part itself comes from memory too, byte for byte what the packager stored.
    const stored = await packagerStorage.read(`sessions/${SESSION}/${FEED_RENDITION.name}/${next.uri}`);
    for (const e of edges) {
      const r = await e.app.inject({ method: 'GET', url: `/live/${CHANNEL}/${FEED_RENDITION.name}/${next.uri}` });
      expect(r.statusCode).toBe(200);
      expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(Buffer.compare(r.rawPayload, stored!)).toBe(0);
      expect(await edgeMetric(e.app, 'edge_live_store_hits_total', '{kind="object"}')).toBeGreaterThanOrEqual(1);
    }
    expect(edges.map((e) => e.calls())).toEqual(before);
  });

  it('holds a request for the preload-hinted part on each edge until it is announced, then serves it from memory', async () => {
    const next = hintedPart((await edges[0]!.app.inject({ method: 'GET', url: PLAYLIST_URL })).body);
    const url = `/live/${CHANNEL}/${FEED_RENDITION.name}/${next.uri}`;
    const pending = edges.map((e) => e.app.inject({ method: 'GET', url }));
    for (const e of edges) await waitParked(e.app, 1);
    for (const e of edges) expect([await edgeMetric(e.app, 'edge_blocking_announced_playlists'), await edgeMetric(e.app, 'edge_blocking_watched_playlists')]).toEqual([1, 0]);
    await feed.next();
    const stored = await packagerStorage.read(`sessions/${SESSION}/${FEED_RENDITION.name}/${next.uri}`);
    for (const [i, r] of (await Promise.all(pending)).entries()) {
      expect(r.statusCode).toBe(200);
      expect(Buffer.compare(r.rawPayload, stored!)).toBe(0);
      expect(await edgeMetric(edges[i]!.app, 'edge_hinted_part_requests_total', '{outcome="held"}')).toBe(1);
    }
  });

  it('still reads storage for what was never announced (older objects)', async () => {
    // Parts written before the edges subscribed were never announced to them.
    const r = await edges[1]!.app.inject({ method: 'GET', url: `/live/${CHANNEL}/${FEED_RENDITION.name}/seg_00000.part0.m4s` });
    expect(r.statusCode).toBe(200);
    expect(edges[1]!.calls()).toBeGreaterThan(0);
  });
});
