/**
 * Requests for preload-hinted parts (RFC 8216bis §6.2.6, issue 17 item 2) on the edge, against a
 * real PostgreSQL and the real LL-HLS packager writing parts one at a time to local storage
 * through its own client (the edge learns of them only through storage, by polling): a request
 * for the part EXT-X-PRELOAD-HINT names, or one a little further ahead, is held until the part is
 * written and then answered with its bytes (a range of it included); a part that can no longer
 * appear is 404 at once; a hinted part that never comes is 503 after three target durations.
 *
 * "Held" and "at once" are read from the edge's own counters, never from elapsed time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { llPartUri, parseLlPartUri } from '@live/media';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import { edgeMetric, waitParked } from './edge-metrics.js';
import { buildEdge } from '../src/app.js';
import { encodeFragments, FEED_RENDITION, startLlFeed, type LlFeed } from './ll-feed.js';

const SESSION = 'hint-s';
const CHANNEL = 'hintchan';
const BASE = `/live/${CHANNEL}/${FEED_RENDITION.name}`;

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
let packager: ObjectStorage;
let feed: LlFeed;
const work = mkdtempSync(join(tmpdir(), 'edge-preload-'));

/** The part the live playlist's preload hint names now. */
async function hinted(): Promise<{ uri: string; msn: number; index: number }> {
  const text = (await app.inject({ method: 'GET', url: `${BASE}/index.m3u8` })).body;
  const uri = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1];
  const parsed = uri ? parseLlPartUri(uri) : null;
  if (!uri || !parsed) throw new Error(`no preload hint in\n${text}`);
  return { uri, ...parsed };
}

const stored = async (uri: string): Promise<Buffer> => {
  const body = await packager.read(`sessions/${SESSION}/${FEED_RENDITION.name}/${uri}`);
  if (!body) throw new Error(`${uri} is not stored`);
  return body;
};

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-preload', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: CHANNEL, displayName: 'Hints', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: SESSION, channel_id: CHANNEL, status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  const root = join(work, 'store');
  packager = createLocalStorage({ rootDir: root });
  feed = startLlFeed({ storage: packager, keyPrefix: `sessions/${SESSION}`, outputDir: join(work, 'out'), media: encodeFragments(join(work, 'enc'), 8) });
  for (let i = 0; i < 3; i++) await feed.next();
  app = await buildEdge({ db, storage: createLocalStorage({ rootDir: root }), liveLookupCacheMs: 60_000, logger: false });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('preload-hinted parts', () => {
  it('holds a request for the hinted part until it is written, then answers with its bytes', async () => {
    const hint = await hinted();
    let answered = false;
    const pending = app.inject({ method: 'GET', url: `${BASE}/${hint.uri}` }).then((r) => { answered = true; return r; });
    await waitParked(app, 1);
    expect(answered).toBe(false);
    await feed.next(); // the packager writes the hinted part, then the playlist naming it
    const r = await pending;
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Buffer.compare(r.rawPayload, await stored(hint.uri))).toBe(0);
    expect(await edgeMetric(app, 'edge_hinted_part_requests_total', '{outcome="held"}')).toBe(1);
    await waitParked(app, 0);
  });

  it('holds a range of the hinted part and a part further ahead, each answered once written', async () => {
    const hint = await hinted();
    const ahead = hint.index === 0 ? llPartUri(hint.msn, 1) : llPartUri(hint.msn + 1, 0);
    const range = app.inject({ method: 'GET', url: `${BASE}/${hint.uri}`, headers: { range: 'bytes=0-99' } });
    const later = app.inject({ method: 'GET', url: `${BASE}/${ahead}` });
    await waitParked(app, 2);
    await feed.next();
    const r = await range;
    expect(r.statusCode).toBe(206);
    expect(Buffer.compare(r.rawPayload, (await stored(hint.uri)).subarray(0, 100))).toBe(0);
    await waitParked(app, 1); // the part ahead is still waited for
    await feed.next();
    const l = await later;
    expect(l.statusCode).toBe(200);
    expect(Buffer.compare(l.rawPayload, await stored(ahead))).toBe(0);
    expect(await edgeMetric(app, 'edge_hinted_part_requests_total', '{outcome="held"}')).toBe(3);
  });

  it('answers 404 at once for parts that can no longer appear, without parking', async () => {
    const hint = await hinted();
    const parksBefore = await edgeMetric(app, 'edge_blocking_reloads_parked_total');
    for (const uri of [
      llPartUri(0, 9), // segment 0 closed with fewer parts
      llPartUri(hint.msn + 5, 0), // beyond the Advance Part Limit
      hint.uri.replace(/\.m4s$/, '.a7.m4s'), // another packager attempt's name
      'seg_99999.m4s', // a segment far beyond the one being written (answered by the open-segment path)
      'nonsense.m4s',
    ]) {
      const r = await app.inject({ method: 'GET', url: `${BASE}/${uri}` });
      expect([uri, r.statusCode, r.json()]).toEqual([uri, 404, { code: 'NOT_FOUND', message: expect.any(String) }]);
    }
    expect(await edgeMetric(app, 'edge_blocking_reloads_parked_total')).toBe(parksBefore);
    expect(await edgeMetric(app, 'edge_hinted_part_requests_total', '{outcome="gone"}')).toBe(4);
    expect(await edgeMetric(app, 'edge_open_segment_requests_total', '{outcome="gone"}')).toBe(1);
  });

  it('answers 503 PART_NOT_READY when the hinted part is not written within three target durations', async () => {
    const hint = await hinted();
    const r = await app.inject({ method: 'GET', url: `${BASE}/${hint.uri}` });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ code: 'PART_NOT_READY' });
    expect(await edgeMetric(app, 'edge_hinted_part_requests_total', '{outcome="timeout"}')).toBe(1);
    await waitParked(app, 0);
  });
});
