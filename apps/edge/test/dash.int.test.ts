/**
 * MPEG-DASH on the edge (issue 17 item 5), against a real PostgreSQL and the real LL-HLS
 * packager writing to local storage: the live MPD (`/live/<channel>/manifest.mpd`) and the VOD
 * MPD of the finished session (`/sessions/<session>/vod.mpd`, after the real `packageVod`) pass
 * the MPD conformance checker, name exactly the packager's segments (every URL they list is
 * served), and time them by the segments' own `tfdt`; the playlists' token checks apply and the
 * token reaches every segment URL; an encrypted channel's MPD is refused with its catalogue code.
 * Low-latency DASH: the live MPD lists the segment being written with availabilityTimeOffset, and
 * a GET of that segment over real HTTP receives its first part before the segment is complete,
 * the rest as the packager writes it, and a body equal to the segment stored afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { dashOpenSegmentOf, llSegmentUri, packageVod, parseFragment, parseInitTracks, parseMediaPlaylist } from '@live/media';
import { checkDashMpd, dashSegmentUrls } from '@live/media/dash-check';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import { buildEdge, type EdgeServerKind } from '../src/app.js';
import { listenEdge, type ListeningEdge } from '../src/listen.js';
import { encodeFragments, FEED_RENDITION, startLlFeed, type LlFeed } from './ll-feed.js';

const SESSION = 'dash-s';
const CHANNEL = 'dashch';
const ORIGIN = 'http://edge.test';
const ring = parseJwtKeys('pb1:edge-dash-test-secret-0123456789abcdef');

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
let storage: ObjectStorage;
let feed: LlFeed;
const work = mkdtempSync(join(tmpdir(), 'edge-dash-'));

const get = (url: string) => app.inject({ method: 'GET', url });

/** Edges listening on real sockets, by server kind, started on first use (`app` for `node`; another app behind the uWS front). */
const listening = new Map<EdgeServerKind, { edge: ListeningEdge; address: string }>();
async function listenOnce(server: EdgeServerKind): Promise<string> {
  const known = listening.get(server);
  if (known) return known.address;
  const edgeApp = server === 'node' ? app : await buildEdge({ db, storage: createLocalStorage({ rootDir: join(work, 'store') }), liveLookupCacheMs: 0, policyCacheMs: 0, playbackKeys: ring, logger: false, server });
  const edge = await listenEdge(edgeApp, { host: '127.0.0.1', port: 0 });
  const address = `http://127.0.0.1:${edge.port}`;
  listening.set(server, { edge, address });
  return address;
}

/** The segment being written (its parts so far), read from the stored playlist independently of the edge; null once it ended. */
async function openSegmentOrNull(): Promise<{ msn: number; parts: readonly string[] } | null> {
  return dashOpenSegmentOf((await storage.read(`sessions/${SESSION}/${FEED_RENDITION.name}/index.m3u8`))!.toString());
}

/** {@link openSegmentOrNull}, which must exist. */
async function openSegment(): Promise<{ msn: number; parts: readonly string[] }> {
  const open = await openSegmentOrNull();
  if (!open) throw new Error('the playlist shows no open segment');
  return open;
}

/**
 * Every URL of the MPD is served by the edge (200), as a player would request it; the open
 * segment (listed last, still being written: its answer grows until the segment completes) is
 * checked by its own test.
 */
async function expectAllServed(mpd: string, mpdPath: string): Promise<string[]> {
  const urls = dashSegmentUrls(mpd, `${ORIGIN}${mpdPath}`);
  expect(urls.length).toBeGreaterThan(2);
  const open = await openSegmentOrNull();
  for (const url of urls) {
    if (open && new URL(url).pathname.endsWith(`/${llSegmentUri(open.msn)}`)) continue;
    const r = await get(url.slice(ORIGIN.length));
    expect(r.statusCode, url).toBe(200);
  }
  return urls;
}

/** Opens requests until one is not answered 429 (the server notices a client left on its own schedule), at most 50. */
async function waitForStatus(open: () => Promise<{ res: IncomingMessage; req: { destroy(): void } }>): Promise<{ res: IncomingMessage; req: { destroy(): void } }> {
  for (let i = 0; ; i++) {
    const r = await open();
    if (r.res.statusCode !== 429 || i >= 50) return r;
    r.res.resume();
    await new Promise((resolve) => r.res.once('end', resolve));
  }
}

/** The video `tfdt` of a stored segment, read independently of the edge. */
async function tfdtOf(msn: number): Promise<number> {
  const dir = `sessions/${SESSION}/${FEED_RENDITION.name}`;
  const tracks = parseInitTracks((await storage.read(`${dir}/init_1.mp4`))!);
  return parseFragment((await storage.read(`${dir}/${llSegmentUri(msn)}`))!, tracks).runs[0]!.baseDecodeTime;
}

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-dash', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: CHANNEL, displayName: 'Dash', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: SESSION, channel_id: CHANNEL, status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await ensureChannelWithKey(db, { slug: 'dashenc', displayName: 'Enc', title: '' });
  await db.updateTable('channels').set({ playback_encrypted: true, playback_key_rotation_segments: 0 }).where('id', '=', 'dashenc').execute();
  await db.insertInto('stream_sessions').values({ session_id: 'dash-e', channel_id: 'dashenc', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  const root = join(work, 'store');
  storage = createLocalStorage({ rootDir: root });
  feed = startLlFeed({ storage, keyPrefix: `sessions/${SESSION}`, outputDir: join(work, 'out'), media: encodeFragments(join(work, 'enc'), 8) });
  for (let i = 0; i < 9; i++) await feed.next(); // four complete segments and an open one
  app = await buildEdge({ db, storage: createLocalStorage({ rootDir: root }), liveLookupCacheMs: 0, policyCacheMs: 0, playbackKeys: ring, logger: false });
}, 120_000);

afterAll(async () => {
  for (const { edge } of listening.values()) await edge.close();
  await app?.close();
  await db?.destroy();
  await services?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('MPEG-DASH at the edge', () => {
  it('serves a conformant dynamic MPD of the live session over the packager\'s complete segments', async () => {
    const r = await get(`/live/${CHANNEL}/manifest.mpd`);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/dash+xml');
    expect(r.headers['access-control-allow-origin']).toBe('*');
    const playlist = (await storage.stat(`sessions/${SESSION}/${FEED_RENDITION.name}/index.m3u8`))!;
    expect(r.headers['cache-control']).toBe(playlist.cacheControl);
    const mpd = r.body;
    // errors only: the test feeds media faster than real time, so the newest segments' wall-clock
    // times (PROGRAM-DATE-TIME) are ahead of now, which the checker reports as warnings
    expect(checkDashMpd(mpd).filter((v) => v.severity === 'error')).toEqual([]);
    expect(mpd).toContain('type="dynamic"');
    const listed = parseMediaPlaylist((await storage.read(`sessions/${SESSION}/${FEED_RENDITION.name}/index.m3u8`))!.toString()).segments;
    const urls = await expectAllServed(mpd, `/live/${CHANNEL}/manifest.mpd`);
    // the complete segments, then the one being written (low-latency DASH)
    expect(urls.slice(1).map((u) => u.split('/').pop())).toEqual([...listed.map((s) => s.uri), llSegmentUri((await openSegment()).msn)]);
    expect(mpd).toContain('availabilityTimeOffset="0.5" availabilityTimeComplete="false"'); // 1 s segments, 0.5 s parts
    expect(mpd).toContain('<Latency target="1000"/>');
    expect(mpd).toContain('<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/time"/>');
    const time = await get('/time');
    expect([time.statusCode, time.headers['cache-control']]).toEqual([200, 'no-store']);
    expect(Math.abs(Date.parse(time.body) - Date.now())).toBeLessThan(5000);
    expect(mpd).toContain(`<S t="${await tfdtOf(listed[0]!.sequence)}"`);
    // compressed as the playlists are: the same MPD (but for its clock) in brotli
    const br = await app.inject({ method: 'GET', url: `/live/${CHANNEL}/manifest.mpd`, headers: { 'accept-encoding': 'br, gzip' } });
    expect([br.headers['content-encoding'], br.headers.vary]).toEqual(['br', 'accept-encoding']);
    const clockless = (x: string) => x.replace(/(publishTime|value)="[^"]*"/g, '');
    expect(clockless(brotliDecompressSync(br.rawPayload).toString('utf8'))).toBe(clockless(mpd));
  });

  it('applies the playlists\' token checks and carries the token into every segment URL', async () => {
    await db.updateTable('channels').set({ playback_visibility: 'followers' }).where('id', '=', CHANNEL).execute();
    try {
      const refused = await get(`/live/${CHANNEL}/manifest.mpd`);
      expect([refused.statusCode, refused.json().code]).toEqual([401, 'PLAYBACK_TOKEN_MISSING']);
      const token = signPlaybackToken({ channelId: CHANNEL, expiresAt: Date.now() + 600_000 }, ring);
      const path = `/live/${CHANNEL}/manifest.mpd?token=${encodeURIComponent(token)}`;
      const r = await get(path);
      expect(r.statusCode).toBe(200);
      expect(r.headers['cache-control']).toBe('private, no-store');
      const urls = await expectAllServed(r.body, path);
      for (const url of urls) expect(new URL(url).searchParams.get('token')).toBe(token);
      expect((await get(`/live/${CHANNEL}/manifest.mpd?token=garbage`)).json().code).toBe('PLAYBACK_TOKEN_INVALID');
    } finally {
      await db.updateTable('channels').set({ playback_visibility: 'public' }).where('id', '=', CHANNEL).execute();
    }
  });

  it('refuses an encrypted channel\'s MPD (AES-128 CBC does not map onto DASH), an offline channel and bad names', async () => {
    const token = signPlaybackToken({ channelId: 'dashenc', expiresAt: Date.now() + 600_000 }, ring);
    await storage.writePlaylist('sessions/dash-e/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.42c00d"\n240p/index.m3u8\n', { live: true });
    await storage.writePlaylist('sessions/dash-e/240p/index.m3u8', (await storage.read(`sessions/${SESSION}/240p/index.m3u8`))!.toString()
      .replace('#EXT-X-MAP:URI="init_1.mp4"', '#EXT-X-MAP:URI="init_1.mp4"\n#EXT-X-KEY:METHOD=AES-128,URI="/keys/dash-e/0.key"'), { live: true });
    const enc = await get(`/live/dashenc/manifest.mpd?token=${encodeURIComponent(token)}`);
    expect([enc.statusCode, enc.json().code]).toEqual([409, 'DASH_ENCRYPTED']);
    expect((await get('/live/dashenc/manifest.mpd')).json().code).toBe('PLAYBACK_TOKEN_MISSING');
    expect((await get('/live/nosuchchannel/manifest.mpd')).json().code).toBe('CHANNEL_OFFLINE');
    expect((await get(`/sessions/${SESSION}/vod.mpd`)).json().code).toBe('NOT_FOUND'); // no VOD yet
    expect((await get('/sessions/nosuch/vod.mpd')).json().code).toBe('NOT_FOUND');
    expect((await get('/live/a.b/manifest.mpd')).json().code).toBe('BAD_PATH');
  });

  it.each<EdgeServerKind>(['node', 'uws'])('answers a GET of the segment being written with a growing chunked body: its first part before the segment is complete, in all the stored segment (%s server)', async (server) => {
    const address = await listenOnce(server);
    const open = await openSegment();
    const name = llSegmentUri(open.msn);
    const dir = `sessions/${SESSION}/${FEED_RENDITION.name}`;
    expect(await storage.stat(`${dir}/${name}`)).toBeNull();
    const firstPart = (await storage.read(`${dir}/${open.parts[0]}`))!;
    // real HTTP (chunked transfer): the first chunk arrives while the segment is incomplete
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${address}/live/${CHANNEL}/${FEED_RENDITION.name}/${name}`, resolve).on('error', reject).end();
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      res.on('end', resolve).on('error', reject);
    });
    const received = () => Buffer.concat(chunks).length;
    const firstBytes = new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (received() >= firstPart.length) resolve();
      });
    });
    await firstBytes;
    expect(await storage.stat(`${dir}/${name}`)).toBeNull(); // still being written
    expect(Buffer.concat(chunks).equals(firstPart)).toBe(true);
    // the packager writes the segment's next parts, then cuts it at the next keyframe
    while (!(await storage.stat(`${dir}/${name}`))) await feed.next();
    await ended;
    expect(Buffer.concat(chunks).equals((await storage.read(`${dir}/${name}`))!)).toBe(true);
    expect(chunks.length).toBeGreaterThanOrEqual(2);
  });

  it('holds growing answers within the blocking reloads\' bounds: one client address over its limit is answered 429', async () => {
    const bounded = await buildEdge({ db, storage, liveLookupCacheMs: 0, policyCacheMs: 0, playbackKeys: ring, logger: false, maxBlockingPerClient: 1 });
    try {
      const address = await bounded.listen({ port: 0, host: '127.0.0.1' });
      const url = `${address}/live/${CHANNEL}/${FEED_RENDITION.name}/${llSegmentUri((await openSegment()).msn)}`;
      const open = () => new Promise<{ res: IncomingMessage; req: ReturnType<typeof httpRequest> }>((resolve, reject) => {
        const req = httpRequest(url, (res) => resolve({ res, req })).on('error', reject);
        req.end();
      });
      const held = await open();
      expect(held.res.statusCode).toBe(200);
      const second = await open();
      expect(second.res.statusCode).toBe(429);
      second.res.resume();
      // the client leaves: its slot is given back
      held.req.destroy();
      await new Promise((r) => held.res.once('close', r));
      const { res: again, req } = await waitForStatus(open);
      expect(again.statusCode).toBe(200);
      req.destroy();
    } finally {
      await bounded.close();
    }
  });

  it('answers 404 at once for a segment beyond the one being written, and 409 DASH_ENCRYPTED for an encrypted rendition\'s', async () => {
    const open = await openSegment();
    const r = await get(`/live/${CHANNEL}/${FEED_RENDITION.name}/${llSegmentUri(open.msn + 1)}`);
    expect([r.statusCode, r.json().code]).toEqual([404, 'NOT_FOUND']);
    const token = signPlaybackToken({ channelId: 'dashenc', expiresAt: Date.now() + 600_000 }, ring);
    const enc = await get(`/live/dashenc/240p/${llSegmentUri(open.msn)}?token=${encodeURIComponent(token)}`);
    expect([enc.statusCode, enc.json().code]).toEqual([409, 'DASH_ENCRYPTED']);
    const head = await app.inject({ method: 'HEAD', url: `/live/${CHANNEL}/${FEED_RENDITION.name}/${llSegmentUri(open.msn)}` });
    expect([head.statusCode, head.headers['content-type']]).toEqual([200, 'video/iso.segment']);
  });

  it('serves a conformant static MPD of the finished session\'s VOD', async () => {
    while (feed.remaining() > 0) await feed.next();
    const state = await feed.publisher.finish();
    await packageVod({ storage, keyPrefix: `sessions/${SESSION}`, state, skipMp4: true });
    await db.updateTable('stream_sessions').set({ status: 'vod' }).where('session_id', '=', SESSION).execute();
    const r = await get(`/sessions/${SESSION}/vod.mpd`);
    expect(r.statusCode).toBe(200);
    const mpd = r.body;
    expect(checkDashMpd(mpd)).toEqual([]);
    expect(mpd).toContain('type="static"');
    const vod = parseMediaPlaylist((await storage.read(`sessions/${SESSION}/${FEED_RENDITION.name}/vod.m3u8`))!.toString()).segments;
    const total = vod.reduce((n, s) => n + s.duration, 0);
    expect(Number(/mediaPresentationDuration="PT([\d.]+)S"/.exec(mpd)?.[1])).toBeCloseTo(total, 2);
    const urls = await expectAllServed(mpd, `/sessions/${SESSION}/vod.mpd`);
    expect(urls.slice(1).map((u) => u.split('/').pop())).toEqual(vod.map((s) => s.uri));
    expect(mpd).toContain(`presentationTimeOffset="${await tfdtOf(0)}"`);
    expect((await get(`/live/${CHANNEL}/manifest.mpd`)).json().code).toBe('CHANNEL_OFFLINE');
  });
});
