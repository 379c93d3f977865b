/**
 * Signed playback at the edge against a real PostgreSQL and local storage: private channels
 * refuse playlists, segments, parts and keys without a valid token (expired, tampered, wrong
 * stream, wrong address: each with its code), public channels play without one, playlists pass
 * the token on (master: written out; media: by reference, or written out with `inline`) and not publicly cacheable, content keys are the derived 16 bytes,
 * tokens older than the channel's policy version are refused as stale.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { deriveContentKey, parseJwtKeys, signPlaybackToken } from '@live/auth';
import { createLocalStorage } from '@live/storage';
import { buildEdge } from '../src/app.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
const storage = createLocalStorage({ rootDir: mkdtempSync(join(tmpdir(), 'edge-playback-')) });
const ring = parseJwtKeys('pb1:edge-playback-test-secret-0123456789abcdef');
const contentKeySecret = Buffer.alloc(32, 9);
const segment = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff));
const in10min = () => Date.now() + 600_000;

const mediaPlaylist = [
  '#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-MAP:URI="init.mp4"', '#EXT-X-KEY:METHOD=AES-128,URI="/keys/p1/0.key"',
  '#EXTINF:2.0,', 'seg_00000.m4s', '#EXT-X-PART:DURATION=0.5,URI="seg_00001.0.m4s"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.1.m4s"', '',
].join('\n');

async function channel(id: string, visibility: 'public' | 'followers' | 'allowlist', encrypted: boolean, sessions: Array<[string, 'live' | 'vod']>) {
  await ensureChannelWithKey(db, { slug: id, displayName: id, title: '' });
  await db.updateTable('channels').set({ playback_visibility: visibility, playback_encrypted: encrypted, playback_key_rotation_segments: encrypted ? 5 : 0 }).where('id', '=', id).execute();
  for (const [sessionId, status] of sessions) {
    await db.insertInto('stream_sessions').values({ session_id: sessionId, channel_id: id, status, started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
    await storage.writePlaylist(`sessions/${sessionId}/master.m3u8`, '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n720p/index.m3u8\n', { live: status === 'live' });
    await storage.writePlaylist(`sessions/${sessionId}/720p/index.m3u8`, mediaPlaylist.replaceAll('/keys/p1/', `/keys/${sessionId}/`), { live: status === 'live' });
    await storage.writeSegment(`sessions/${sessionId}/720p/seg_00000.m4s`, segment);
    await storage.writeSegment(`sessions/${sessionId}/720p/seg_00001.0.m4s`, segment.subarray(0, 100));
  }
}

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-playback-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await channel('pub', 'public', false, [['s1', 'live']]);
  await channel('priv', 'followers', false, [['p1', 'live'], ['pv', 'vod']]);
  await channel('list', 'allowlist', false, [['l1', 'live']]);
  await channel('enc', 'public', true, [['e1', 'live']]);
  await channel('ver', 'followers', true, [['v1', 'live']]);
  app = await buildEdge({ db, storage, liveLookupCacheMs: 0, policyCacheMs: 0, playbackKeys: ring, contentKeySecret });
}, 90_000);
afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

const get = (url: string, remoteAddress = '127.0.0.1') => app.inject({ method: 'GET', url, remoteAddress });
const q = (url: string, token: string) => `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;

/** The private channel's URLs of every kind: playlists (live and VOD paths), segment, part, key. */
const privateUrls = [
  '/live/priv/master.m3u8', '/live/priv/720p/index.m3u8?_HLS_msn=1&_HLS_part=0', '/sessions/p1/720p/index.m3u8',
  '/sessions/p1/720p/seg_00000.m4s', '/live/priv/720p/seg_00001.0.m4s', '/keys/p1/0.key',
];

describe('signed playback at the edge', () => {
  it('refuses a private stream copied without a token: playlists, segments, parts and keys', async () => {
    for (const url of [...privateUrls, '/sessions/pv/720p/seg_00000.m4s', '/live/list/master.m3u8', '/live/enc/720p/seg_00000.m4s']) {
      const r = await get(url);
      expect([r.statusCode, r.json()], url).toEqual([401, { code: 'PLAYBACK_TOKEN_MISSING', message: expect.any(String) }]);
      expect(r.headers['cache-control']).toBe('no-store');
    }
  });

  it('serves a public unencrypted stream without a token, but refuses a present invalid one', async () => {
    const ok = await get('/live/pub/720p/seg_00000.m4s');
    expect(ok.statusCode).toBe(200);
    expect(Buffer.compare(ok.rawPayload, segment)).toBe(0);
    expect((await get('/live/pub/master.m3u8')).body).toBe('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n720p/index.m3u8\n');
    const bad = await get('/live/pub/master.m3u8?token=garbage');
    expect([bad.statusCode, bad.json().code]).toEqual([401, 'PLAYBACK_TOKEN_INVALID']);
    // Keys always need a token, even on a public channel.
    expect((await get('/keys/s1/0.key')).json().code).toBe('PLAYBACK_TOKEN_MISSING');
  });

  it('serves every kind of object of a private stream with a valid token', async () => {
    const token = signPlaybackToken({ channelId: 'priv', expiresAt: in10min(), viewerId: 'u1' }, ring);
    for (const url of privateUrls) expect((await get(q(url, token))).statusCode, url).toBe(200);
    const seg = await get(q('/sessions/p1/720p/seg_00000.m4s', token));
    expect(seg.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Buffer.compare(seg.rawPayload, segment)).toBe(0);
    const vod = await get(q('/sessions/pv/720p/seg_00000.m4s', token));
    expect(vod.statusCode).toBe(200);
  });

  it('rewrites playlists so every child URI carries the token, and never lets shared caches keep them', async () => {
    const token = signPlaybackToken({ channelId: 'priv', sessionId: 'p1', expiresAt: in10min() }, ring);
    const master = await get(q('/live/priv/master.m3u8', token));
    expect(master.statusCode).toBe(200);
    expect(master.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(master.headers['cache-control']).toBe('private, no-store');
    expect(master.headers.etag).toBeUndefined();
    expect(master.body).toBe(`#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n720p/index.m3u8?token=${token}\n`);
    // Media playlists carry the token by reference (EXT-X-DEFINE:QUERYPARAM): one body for every viewer.
    const media = await get(q('/live/priv/720p/index.m3u8?_HLS_msn=0', token));
    expect(media.headers['cache-control']).toBe('private, no-store');
    expect(media.body.split('\n')).toEqual([
      '#EXTM3U', '#EXT-X-VERSION:11', '#EXT-X-DEFINE:QUERYPARAM="token"', '#EXT-X-TARGETDURATION:2', '#EXT-X-MAP:URI="init.mp4?token={$token}"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/p1/0.key?token={$token}"', '#EXTINF:2.0,', 'seg_00000.m4s?token={$token}',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00001.0.m4s?token={$token}"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.1.m4s?token={$token}"', '',
    ]);
    const other = signPlaybackToken({ channelId: 'priv', sessionId: 'p1', expiresAt: in10min() + 5000 }, ring);
    expect((await get(q('/live/priv/720p/index.m3u8', other))).body).toBe(media.body);
    // What a player does (RFC 8216bis §4.3): the value of `token` in the playlist's URL replaces {$token}; those URIs play.
    for (const uri of ['seg_00000.m4s?token={$token}', 'seg_00001.0.m4s?token={$token}']) {
      const url = new URL(uri.replace('{$token}', encodeURIComponent(token)), 'http://edge/live/priv/720p/index.m3u8');
      expect((await get(url.pathname + url.search)).statusCode, uri).toBe(200);
    }
    // EDGE_PLAYLIST_TOKENS=inline: the token written into every URI, for players without variable substitution.
    const inline = await buildEdge({ db, storage, liveLookupCacheMs: 0, policyCacheMs: 0, playbackKeys: ring, contentKeySecret, playlistTokens: 'inline' });
    try {
      const body = (await inline.inject({ method: 'GET', url: q('/live/priv/720p/index.m3u8?_HLS_msn=0', token), remoteAddress: '127.0.0.1' })).body;
      expect(body.split('\n')).toEqual([
        '#EXTM3U', '#EXT-X-TARGETDURATION:2', `#EXT-X-MAP:URI="init.mp4?token=${token}"`, `#EXT-X-KEY:METHOD=AES-128,URI="/keys/p1/0.key?token=${token}"`,
        '#EXTINF:2.0,', `seg_00000.m4s?token=${token}`, `#EXT-X-PART:DURATION=0.5,URI="seg_00001.0.m4s?token=${token}"`,
        `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.1.m4s?token=${token}"`, '',
      ]);
    } finally {
      await inline.close();
    }
    // A public playlist fetched without a token keeps its normal, shareable caching.
    expect((await get('/live/pub/master.m3u8')).headers['cache-control']).toBe('public, max-age=1');
  });

  it.each(privateUrls)('refuses expired, tampered, wrong-stream and wrong-address tokens on %s', async (url) => {
    const expired = signPlaybackToken({ channelId: 'priv', expiresAt: Date.now() - 1000 }, ring);
    const valid = signPlaybackToken({ channelId: 'priv', expiresAt: in10min() }, ring);
    const [kid, , sig] = valid.split('.');
    const longer = Buffer.from(JSON.stringify({ c: 'priv', e: Math.floor(Date.now() / 1000) + 86_400 * 365 })).toString('base64url');
    const tampered = `${kid}.${longer}.${sig}`;
    const otherStream = signPlaybackToken({ channelId: 'pub', expiresAt: in10min() }, ring);
    const otherSession = signPlaybackToken({ channelId: 'priv', sessionId: 'pv', expiresAt: in10min() }, ring);
    const foreignKey = signPlaybackToken({ channelId: 'priv', expiresAt: in10min() }, parseJwtKeys('pb1:someone-elses-secret-0123456789abcdef-xyz'));
    const bound = signPlaybackToken({ channelId: 'priv', expiresAt: in10min(), clientAddress: '198.51.100.20' }, ring);
    const cases: Array<[string, string, number, string]> = [
      ['expired', expired, 401, 'PLAYBACK_TOKEN_EXPIRED'],
      ['tampered', tampered, 401, 'PLAYBACK_TOKEN_INVALID'],
      ['foreign key', foreignKey, 401, 'PLAYBACK_TOKEN_INVALID'],
      ['other channel', otherStream, 403, 'PLAYBACK_TOKEN_WRONG_STREAM'],
      ['other session', otherSession, 403, 'PLAYBACK_TOKEN_WRONG_STREAM'],
      ['other address', bound, 403, 'PLAYBACK_TOKEN_WRONG_ADDRESS'],
    ];
    for (const [what, token, status, code] of cases) {
      const r = await get(q(url, token));
      expect([r.statusCode, r.json().code], what).toEqual([status, code]);
      expect(r.body).not.toContain(token);
    }
    // The bound token works from its own address.
    expect((await get(q(url, bound), '198.51.100.20')).statusCode).toBe(200);
  });

  it('serves the derived content key, private and uncacheable, only with a token of that session', async () => {
    const token = signPlaybackToken({ channelId: 'enc', sessionId: 'e1', expiresAt: in10min() }, ring);
    const r = await get(q('/keys/e1/3.key', token));
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['cache-control']).toBe('private, no-store');
    expect(r.rawPayload).toHaveLength(16);
    expect(Buffer.compare(r.rawPayload, deriveContentKey(contentKeySecret, 'e1', 3))).toBe(0);
    expect((await get(q('/keys/p1/3.key', token))).json().code).toBe('PLAYBACK_TOKEN_WRONG_STREAM');
    for (const bad of ['/keys/e1/x.key', '/keys/e1/-1.key', '/keys/e1/01.key', '/keys/e1/1.bin']) expect((await get(q(bad, token))).statusCode, bad).toBe(400);
    expect((await get(q('/keys/nosuch/0.key', token))).statusCode).toBe(404);
  });

  it('counts refusals by code in edge_token_refusals_total', async () => {
    const text = (await get('/metrics')).body;
    for (const code of ['PLAYBACK_TOKEN_MISSING', 'PLAYBACK_TOKEN_INVALID', 'PLAYBACK_TOKEN_EXPIRED', 'PLAYBACK_TOKEN_WRONG_STREAM', 'PLAYBACK_TOKEN_WRONG_ADDRESS']) {
      expect(text).toMatch(new RegExp(`edge_token_refusals_total\\{code="${code}"\\} [1-9]`));
    }
  });

  it('follows a policy change: a public channel made private refuses token-less requests', async () => {
    expect((await get('/live/pub/720p/seg_00000.m4s')).statusCode).toBe(200);
    await db.updateTable('channels').set({ playback_visibility: 'allowlist' }).where('id', '=', 'pub').execute();
    expect((await get('/live/pub/720p/seg_00000.m4s')).json().code).toBe('PLAYBACK_TOKEN_MISSING');
    await db.updateTable('channels').set({ playback_visibility: 'public' }).where('id', '=', 'pub').execute();
  });

  it('refuses a token issued under an older policy version as PLAYBACK_TOKEN_STALE; a fresh, address-bound one works', async () => {
    const urls = ['/live/ver/master.m3u8', '/live/ver/720p/index.m3u8', '/sessions/v1/720p/seg_00000.m4s', '/live/ver/720p/seg_00001.0.m4s', '/keys/v1/0.key'];
    await db.updateTable('channels').set({ playback_policy_version: 1 }).where('id', '=', 'ver').execute();
    const v1 = signPlaybackToken({ channelId: 'ver', expiresAt: in10min(), policyVersion: 1 }, ring);
    for (const url of urls) expect((await get(q(url, v1))).statusCode, url).toBe(200); // also remembered as verified
    // The owner turns on address binding: the projection moves the policy to version 2.
    await db.updateTable('channels').set({ playback_policy_version: 2, playback_bind_address: true }).where('id', '=', 'ver').execute();
    const legacy = signPlaybackToken({ channelId: 'ver', expiresAt: in10min() }, ring); // no version: 0
    for (const t of [v1, legacy]) {
      for (const url of urls) {
        const r = await get(q(url, t));
        expect([r.statusCode, r.json()], url).toEqual([403, { code: 'PLAYBACK_TOKEN_STALE', message: expect.stringMatching(/policy changed/) }]);
      }
    }
    // A new token (as the API issues it for this channel now: version 2, bound to the caller).
    const v2 = signPlaybackToken({ channelId: 'ver', expiresAt: in10min(), policyVersion: 2, clientAddress: '198.51.100.4' }, ring);
    for (const url of urls) {
      expect((await get(q(url, v2), '198.51.100.4')).statusCode, url).toBe(200);
      expect((await get(q(url, v2), '198.51.100.5')).json().code, url).toBe('PLAYBACK_TOKEN_WRONG_ADDRESS');
    }
    expect((await get('/metrics')).body).toMatch(/edge_token_refusals_total\{code="PLAYBACK_TOKEN_STALE"\} [1-9]/);
  });
});
