/**
 * Blocking playlist reloads (RFC 8216bis §6.2.5.2) on the edge, against a real PostgreSQL and
 * local storage written by a separate storage client (as the packager in another process does):
 * a request for a part that exists is answered at once, one for the next part only once a
 * playlist holding it is written, malformed or too-far directives get 400, and a part that never
 * comes gets 503 after three target durations.
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
import { buildEdge } from '../src/app.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
const root = mkdtempSync(join(tmpdir(), 'edge-blocking-'));
/** The packager's own client of the same store: the edge sees its writes only through storage. */
const packager = createLocalStorage({ rootDir: root });
const KEY = 'sessions/s-ll/480p/index.m3u8';
const URL = '/live/llchan/480p/index.m3u8';

/** A low-latency media playlist whose last part is `lastPart` of segment 1 (parts of 0.5 s, 2 per segment). */
function playlist(lastPart: number): string {
  const lines = [
    '#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:1', '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5',
    '#EXT-X-PART-INF:PART-TARGET=0.5', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-MAP:URI="init_1.mp4"',
    '#EXT-X-PART:DURATION=0.5,URI="seg_00000.part0.m4s",INDEPENDENT=YES', '#EXT-X-PART:DURATION=0.5,URI="seg_00000.part1.m4s"',
    '#EXTINF:1.000,', 'seg_00000.m4s',
  ];
  for (let p = 0; p <= lastPart; p++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="seg_00001.part${p}.m4s"${p === 0 ? ',INDEPENDENT=YES' : ''}`);
  lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.part${lastPart + 1}.m4s"`);
  return lines.join('\n') + '\n';
}

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-blocking', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'llchan', displayName: 'LL', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 's-ll', channel_id: 'llchan', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await packager.writePlaylist(KEY, playlist(0), { live: true });
  app = await buildEdge({ db, storage: createLocalStorage({ rootDir: root }), liveLookupCacheMs: 0 });
}, 90_000);
afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

describe('blocking playlist reload', () => {
  it('answers at once when the requested part is already in the playlist', async () => {
    const t0 = Date.now();
    const r = await app.inject({ method: 'GET', url: `${URL}?_HLS_msn=1&_HLS_part=0` });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('seg_00001.part0.m4s');
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('holds a request for the next part until a playlist with it is written, then answers with that playlist', async () => {
    const t0 = Date.now();
    const pending = app.inject({ method: 'GET', url: `${URL}?_HLS_msn=1&_HLS_part=1` });
    let answered = false;
    void pending.then(() => { answered = true; });
    await new Promise((r) => setTimeout(r, 700));
    expect(answered).toBe(false); // still blocked: part 1 is only hinted
    const written = Date.now();
    await packager.writePlaylist(KEY, playlist(1), { live: true });
    const r = await pending;
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('URI="seg_00001.part1.m4s"');
    expect(r.body).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.part2.m4s"');
    expect(Date.now() - written).toBeLessThan(500); // woken by the write, not by a timeout
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
  });

  it.each([
    ['_HLS_part=0', /_HLS_part/],
    ['_HLS_msn=x', /_HLS_msn/],
    ['_HLS_msn=9', /./], // more than two segments beyond the last one
  ])('refuses %s with 400 BAD_DELIVERY_DIRECTIVE', async (query) => {
    const r = await app.inject({ method: 'GET', url: `${URL}?${query}` });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'BAD_DELIVERY_DIRECTIVE' });
  });

  it('answers 503 when the part does not appear within three target durations', async () => {
    const t0 = Date.now();
    const r = await app.inject({ method: 'GET', url: `${URL}?_HLS_msn=2&_HLS_part=1` });
    const waited = Date.now() - t0;
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ code: 'PART_NOT_READY' });
    expect(waited).toBeGreaterThanOrEqual(2900);
    expect(waited).toBeLessThan(6000);
  }, 15_000);

  it('serves a plain request (no directives) as before, with its ETag', async () => {
    const r = await app.inject({ method: 'GET', url: URL });
    expect(r.statusCode).toBe(200);
    expect(r.headers.etag).toBeTruthy();
  });
});
