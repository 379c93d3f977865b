/**
 * MPEG-DASH on the edge (issue 17 item 5), against a real PostgreSQL and the real LL-HLS
 * packager writing to local storage: the live MPD (`/live/<channel>/manifest.mpd`) and the VOD
 * MPD of the finished session (`/sessions/<session>/vod.mpd`, after the real `packageVod`) pass
 * the MPD conformance checker, name exactly the packager's segments (every URL they list is
 * served), and time them by the segments' own `tfdt`; the playlists' token checks apply and the
 * token reaches every segment URL; an encrypted channel's MPD is refused with its catalogue code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { llSegmentUri, packageVod, parseFragment, parseInitTracks, parseMediaPlaylist } from '@live/media';
import { checkDashMpd, dashSegmentUrls } from '@live/media/dash-check';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import { buildEdge } from '../src/app.js';
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

/** Every URL of the MPD is served by the edge (200), as a player would request it. */
async function expectAllServed(mpd: string, mpdPath: string): Promise<string[]> {
  const urls = dashSegmentUrls(mpd, `${ORIGIN}${mpdPath}`);
  expect(urls.length).toBeGreaterThan(2);
  for (const url of urls) {
    const r = await get(url.slice(ORIGIN.length));
    expect(r.statusCode, url).toBe(200);
  }
  return urls;
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
    expect(urls.slice(1).map((u) => u.split('/').pop())).toEqual(listed.map((s) => s.uri));
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
