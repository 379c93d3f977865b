/**
 * The edge behind its uWebSockets.js front (`EDGE_SERVER=uws`, uws-front.ts) over real sockets,
 * against a real PostgreSQL and local storage: what the front hands to the app comes back whole —
 * a blocking playlist reload held until the playlist changes, a viewer leaving a held reload (the
 * app lets go of it), a large object streamed with backpressure to a slow reader, HEAD, OPTIONS,
 * 404s — and bad input is answered without harm to anyone else: a malformed request line, an
 * oversized header block, an oversized body, an app that cannot be reached. The client address
 * the app sees is the viewer's, with or without `TRUST_PROXY`. (The fast path's own answers,
 * on both servers, are in fast-path.int.test.ts; the growing DASH segment, chunked, in dash.int.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { createLocalStorage } from '@live/storage';
import { freePort, startServices, type RunningServices } from '@live/dev';
import { buildEdge } from '../src/app.js';
import { listenEdge, type ListeningEdge } from '../src/listen.js';
import { startUwsFront } from '../src/uws-front.js';
import { readSlowly } from './slow-reader.js';
import { edgeMetric, waitParked } from './edge-metrics.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
let edge: ListeningEdge;
let base: string;
const root = mkdtempSync(join(tmpdir(), 'edge-uws-'));
const storage = createLocalStorage({ rootDir: root });
const ring = parseJwtKeys('uw1:edge-uws-front-test-secret-0123456789abcdef');
const KEY = 'sessions/u1/480p/index.m3u8';
/** A large VOD object (bigger than any socket buffer, so the slow reader makes the front wait). */
const big = Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 12)) & 0xff));

/** A low-latency media playlist whose last part is `lastPart` of segment 1 (10 s target: a held reload waits up to 30 s, no race with the test's steps). */
function playlist(lastPart: number): string {
  const lines = [
    '#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:10', '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5',
    '#EXT-X-PART-INF:PART-TARGET=0.5', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-MAP:URI="init_1.mp4"',
    '#EXT-X-PART:DURATION=0.5,URI="seg_00000.part0.m4s",INDEPENDENT=YES', '#EXTINF:0.500,', 'seg_00000.m4s',
  ];
  for (let p = 0; p <= lastPart; p++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="seg_00001.part${p}.m4s"${p === 0 ? ',INDEPENDENT=YES' : ''}`);
  lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00001.part${lastPart + 1}.m4s"`);
  return lines.join('\n') + '\n';
}

/** Sends raw bytes on a new connection and resolves with everything the server sent until it closed or `until` matched. */
function raw(port: number, bytes: string, until = /\r\n\r\n/): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (until.test(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

/** A GET whose response is handed back as soon as its head arrives. */
function open(url: string, headers: Record<string, string> = {}): { response: Promise<IncomingMessage>; abort(): void } {
  const req = httpRequest(url, { headers, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve).on('error', reject);
  });
  req.end();
  return { response, abort: () => req.destroy() };
}

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-uws-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'uwch', displayName: 'uws', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 'u1', channel_id: 'uwch', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await ensureChannelWithKey(db, { slug: 'uwpriv', displayName: 'uws private', title: '' });
  await db.updateTable('channels').set({ playback_visibility: 'followers' }).where('id', '=', 'uwpriv').execute();
  await db.insertInto('stream_sessions').values({ session_id: 'u2', channel_id: 'uwpriv', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await storage.writePlaylist(KEY, playlist(0), { live: true });
  await storage.writeSegment('sessions/u1/recording.mp4', big);
  await storage.writeSegment('sessions/u2/480p/seg_00000.m4s', Buffer.alloc(1000, 7));
  // no TRUST_PROXY: X-Forwarded-For from viewers is ignored
  app = await buildEdge({ db, storage, playbackKeys: ring, logger: false, server: 'uws', blockingPollMs: 20 });
  edge = await listenEdge(app, { host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${edge.port}`;
}, 90_000);
afterAll(async () => {
  await edge?.close();
  await db?.destroy();
  await services?.stop();
});

describe('the edge behind its uWS front', () => {
  it('hands a blocking playlist reload to the app and streams the answer once the playlist changes', async () => {
    const parked = await edgeMetric(app, 'edge_blocking_reloads_parked');
    const held = open(`${base}/live/uwch/480p/index.m3u8?_HLS_msn=1&_HLS_part=1`);
    await waitParked(app, parked + 1);
    await storage.writePlaylist(KEY, playlist(1), { live: true });
    const res = await held.response;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('mpegurl');
    expect(Buffer.concat(chunks).toString()).toContain('seg_00001.part1.m4s');
    expect(res.headers['content-length']).toBe(String(Buffer.concat(chunks).length));
  });

  it('lets the app release a held reload when the viewer leaves', async () => {
    const parked = await edgeMetric(app, 'edge_blocking_reloads_parked');
    const held = open(`${base}/live/uwch/480p/index.m3u8?_HLS_msn=1&_HLS_part=3`);
    held.response.catch(() => undefined);
    await waitParked(app, parked + 1);
    held.abort();
    await waitParked(app, parked);
  });

  it('streams a large object to a slow reader, whole', async () => {
    const res = await open(`${base}/sessions/u1/recording.mp4`).response;
    expect([res.statusCode, res.headers['content-length']]).toEqual([200, String(big.length)]);
    // the sockets fill up and the front waits
    const body = await readSlowly(res);
    expect(body.equals(big)).toBe(true);
  });

  it('hands on HEAD, OPTIONS and unknown paths with the app\'s answers', async () => {
    const head = await fetch(`${base}/sessions/u1/recording.mp4`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), (await head.arrayBuffer()).byteLength]).toEqual([200, String(big.length), 0]);
    const options = await fetch(`${base}/live/uwch/480p/index.m3u8`, { method: 'OPTIONS' });
    expect([options.status, options.headers.get('access-control-allow-methods')]).toEqual([204, 'GET, HEAD, OPTIONS']);
    const missing = await fetch(`${base}/sessions/u1/nothing.m4s`);
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
    const metrics = await fetch(`${base}/metrics`);
    expect([metrics.status, (await metrics.text()).includes('edge_requests_total')]).toEqual([200, true]);
  });

  it('gives the app the viewer\'s TCP address: X-Forwarded-For from a viewer is not believed without TRUST_PROXY', async () => {
    const url = (address: string) => `${base}/live/uwpriv/480p/seg_00000.m4s?token=${signPlaybackToken({ channelId: 'uwpriv', sessionId: 'u2', expiresAt: Date.now() + 600_000, clientAddress: address }, ring)}`;
    const forged = { headers: { 'x-forwarded-for': '203.0.113.9' } };
    // twice each: the first is the app's, the second may be the front's own (fast path)
    for (let i = 0; i < 2; i++) {
      expect((await fetch(url('127.0.0.1'), forged)).status).toBe(200);
      const r = await fetch(url('203.0.113.9'), forged);
      expect([r.status, ((await r.json()) as { code: string }).code]).toEqual([403, 'PLAYBACK_TOKEN_WRONG_ADDRESS']);
    }
  });

  it('answers malformed requests, oversized headers and oversized bodies, and goes on serving', async () => {
    // uWS drops a request it cannot parse without an answer (at its 10 s idle timeout); meanwhile others are served
    const garbage = connect(edge.port, '127.0.0.1', () => garbage.write('GARBAGE\r\n\r\n'));
    const garbageData: Buffer[] = [];
    garbage.on('data', (c: Buffer) => garbageData.push(c)).on('error', () => undefined);
    expect((await fetch(`${base}/sessions/u1/recording.mp4`, { method: 'HEAD' })).status).toBe(200);
    expect(garbageData).toEqual([]);
    garbage.destroy();
    // header blocks as large as Node's server takes (16 KiB) pass; larger ones are refused
    expect(await raw(edge.port, `HEAD /sessions/u1/recording.mp4 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(12_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await raw(edge.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    const tooBig = await raw(edge.port, `POST /live/uwch/480p/index.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, /\}$/);
    expect(tooBig).toMatch(/^HTTP\/1\.1 413 /);
    expect(tooBig).toContain('"code":"BODY_TOO_LARGE"');
    // a small body reaches the app, which refuses the method with its catalogue
    const post = await fetch(`${base}/live/uwch/480p/index.m3u8`, { method: 'POST', body: 'x'.repeat(100), headers: { 'content-type': 'text/plain' } });
    expect(post.status).toBeGreaterThanOrEqual(400);
    expect(post.status).toBeLessThan(500);
    expect(((await post.json()) as { code: string }).code).toMatch(/^[A-Z_]+$/);
    expect((await fetch(`${base}/sessions/u1/recording.mp4`, { method: 'HEAD' })).status).toBe(200);
  });

  it('answers 500 INTERNAL when the app cannot be reached, and serves on', async () => {
    const front = await startUwsFront({ host: '127.0.0.1', port: 0, upstream: { host: '127.0.0.1', port: await freePort() }, fast: undefined, trust: null, log: { warn: () => undefined, error: () => undefined } });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`http://127.0.0.1:${front.port}/live/uwch/480p/index.m3u8`);
        expect([r.status, await r.json()]).toEqual([500, { code: 'INTERNAL', message: 'Internal error.' }]);
      }
    } finally {
      front.close();
    }
  });
});
