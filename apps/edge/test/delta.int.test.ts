/**
 * Playlist Delta Updates (`_HLS_skip`, RFC 8216bis §6.2.5.1) and compressed playlists
 * (Accept-Encoding) on the edge, against a real PostgreSQL and local storage written by the
 * packager's renderer: a live DVR playlist advertises CAN-SKIP-UNTIL, `_HLS_skip=YES` and `v2`
 * get a conforming delta (also when combined with a blocking reload), an invalid `_HLS_skip` gets
 * 400 BAD_DELIVERY_DIRECTIVE, an ENDLIST playlist is never skipped, and br / gzip bodies decode to
 * the identity body. Parked blocking reloads woken by one update share one rendering and one
 * compression (read from the edge's `edge_playlist_bodies_made` counter, not from timing).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { createLocalStorage } from '@live/storage';
import {
  checkLowLatencyPlaylist, llPartUri, llSegmentUri, renderLowLatencyPlaylist, renderMediaPlaylist, segmentKeying, type LlPlaylistSegment,
} from '@live/media';
import { edgeMetric } from './edge-metrics.js';
import { buildEdge } from '../src/app.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
const root = mkdtempSync(join(tmpdir(), 'edge-delta-'));
const packager = createLocalStorage({ rootDir: root });
const KEY = 'sessions/s-dl/480p/index.m3u8';
const URL = '/live/dlchan/480p/index.m3u8';
const keying = segmentKeying({ rotateEverySegments: 5, keyFor: () => Buffer.alloc(16, 1), keyUri: (i) => `/keys/s-dl/${i}.key` });
const parts = (msn: number, n: number) => Array.from({ length: n }, (_, i) => ({ uri: llPartUri(msn, i), duration: 0.5, independent: i === 0 }));

/** The live playlist with 30 segments of 2 s (encrypted, a key every 5), parts on the last 3, the open segment 30 with `openParts` parts. */
function livePlaylist(openParts: number): string {
  const segments: LlPlaylistSegment[] = Array.from({ length: 30 }, (_, s) => ({
    uri: llSegmentUri(s), duration: 2, sequence: s, discontinuity: false, map: 'init_1.mp4', key: keying(s).tag,
    ...(s === 0 ? { programDateTime: '2026-12-06T10:00:00.000Z' } : {}), ...(s >= 27 ? { parts: parts(s, 4) } : {}),
  }));
  return renderLowLatencyPlaylist({
    segments, open: { sequence: 30, parts: parts(30, openParts), discontinuity: false, map: 'init_1.mp4', key: keying(30).tag },
    partTarget: 0.5, minTargetDuration: 2, preloadHint: llPartUri(30, openParts), playlistType: null,
  });
}

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-delta', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'dlchan', displayName: 'DL', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 's-dl', channel_id: 'dlchan', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await packager.writePlaylist(KEY, livePlaylist(1), { live: true });
  app = await buildEdge({ storage: createLocalStorage({ rootDir: root }), db, blockingPollMs: 20 });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

describe('Playlist Delta Updates at the edge', () => {
  it('advertises CAN-SKIP-UNTIL and answers _HLS_skip=YES and v2 with a conforming delta that restates the key', async () => {
    const full = await get(URL);
    expect(full.statusCode).toBe(200);
    expect(full.body).toContain('CAN-SKIP-UNTIL=12.00000');
    for (const skip of ['YES', 'v2']) {
      const r = await get(`${URL}?_HLS_skip=${skip}`);
      expect(r.statusCode).toBe(200);
      expect(r.body).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=24\n#EXT-X-MAP:URI="init_1.mp4"\n#EXT-X-KEY:METHOD=AES-128,URI="/keys/s-dl/4.key"\n');
      expect(checkLowLatencyPlaylist(r.body, { partUri: llPartUri, fullPlaylist: full.body }).filter((v) => v.severity === 'error')).toEqual([]);
      expect(r.headers.etag).not.toBe(full.headers.etag);
    }
    expect(Buffer.byteLength((await get(`${URL}?_HLS_skip=YES`)).body)).toBeLessThan(full.body.length * 0.7);
  });

  it('refuses an invalid _HLS_skip with 400 BAD_DELIVERY_DIRECTIVE, no stack trace', async () => {
    for (const q of ['_HLS_skip=NO', '_HLS_skip=yes', '_HLS_skip=YES&_HLS_skip=YES', '_HLS_msn=30&_HLS_skip=v3']) {
      const r = await get(`${URL}?${q}`);
      expect(r.statusCode, q).toBe(400);
      expect(r.json()).toMatchObject({ code: 'BAD_DELIVERY_DIRECTIVE' });
      expect(r.body).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it('never skips an ENDLIST playlist', async () => {
    const segs = Array.from({ length: 30 }, (_, s) => ({ uri: llSegmentUri(s), duration: 2, sequence: s, discontinuity: false, map: 'init_1.mp4' }));
    const vod = renderMediaPlaylist({ segments: segs, endList: true, playlistType: 'VOD' });
    await packager.writePlaylist('sessions/s-dl/vod.m3u8', vod, { live: false });
    const r = await get('/sessions/s-dl/vod.m3u8?_HLS_skip=YES');
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe(vod);
  });

  it('compresses by Accept-Encoding (br preferred, q=0 refuses), with Vary, decoding to the identity body; 304 per encoding', async () => {
    const plain = await get(`${URL}?_HLS_skip=YES`);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    const br = await get(`${URL}?_HLS_skip=YES`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(plain.body);
    expect(br.rawPayload.length).toBeLessThan(plain.body.length / 2);
    const gz = await get(URL, { 'accept-encoding': 'br;q=0, gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe((await get(URL)).body);
    expect((await get(URL, { 'accept-encoding': 'br;q=0, gzip;q=0' })).headers['content-encoding']).toBeUndefined();
    expect((await get(`${URL}?_HLS_skip=YES`, { 'accept-encoding': 'br', 'if-none-match': br.headers.etag as string })).statusCode).toBe(304);
    expect((await get(`${URL}?_HLS_skip=YES`, { 'accept-encoding': 'gzip', 'if-none-match': br.headers.etag as string })).statusCode).toBe(200);
  });

  it('blocking reloads with _HLS_skip get the delta of the playlist that satisfied them, all woken by one update sharing one rendering and one compression', async () => {
    const url = `${URL}?_HLS_msn=30&_HLS_part=2&_HLS_skip=YES`;
    const parkedBefore = await edgeMetric(app, 'edge_blocking_reloads_parked_total');
    const brBefore = await edgeMetric(app, 'edge_playlist_bodies_made', '{encoding="br"}');
    const idBefore = await edgeMetric(app, 'edge_playlist_bodies_made', '{encoding="identity"}');
    const waiting = [1, 2, 3].map(() => get(url, { 'accept-encoding': 'br' }));
    await vi.waitFor(async () => expect(await edgeMetric(app, 'edge_blocking_reloads_parked_total')).toBe(parkedBefore + 3), { timeout: 60_000, interval: 5 });
    const next = livePlaylist(3);
    await packager.writePlaylist(KEY, next, { live: true });
    const answers = await Promise.all(waiting);
    const bodies = answers.map((r) => {
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-encoding']).toBe('br');
      return brotliDecompressSync(r.rawPayload).toString();
    });
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]).toContain(`URI="${llPartUri(30, 2)}"`);
    expect(bodies[0]).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=24');
    expect(checkLowLatencyPlaylist(bodies[0]!, { partUri: llPartUri, fullPlaylist: next }).filter((v) => v.severity === 'error')).toEqual([]);
    expect(await edgeMetric(app, 'edge_playlist_bodies_made', '{encoding="br"}')).toBe(brBefore + 1);
    expect(await edgeMetric(app, 'edge_playlist_bodies_made', '{encoding="identity"}')).toBe(idBefore + 1);
  });
});
