/**
 * The edge's fast path (fast-path.ts) over real sockets, against a real PostgreSQL and local
 * storage: once the router has answered a token-checked segment request (filling the lookup,
 * token and object caches), the same request is answered before routing
 * (`edge_fast_path_answers_total`) with the router's status, headers and body; ranges and HEAD
 * too; refusals, conditional requests and other client addresses (`trustProxy`, X-Forwarded-For)
 * still reach the router and are refused or answered as before; over TLS as well. Each case runs
 * on both servers (`EDGE_SERVER`): Node's, where the fast path sits on the `request` event, and
 * the uWebSockets.js front, which answers it itself and hands the rest to the app on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { makeSelfSignedCertificate, startServices, type RunningServices } from '@live/dev';
import { waitFor } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { createLocalStorage } from '@live/storage';
import { buildEdge, type EdgeServerKind } from '../src/app.js';
import { listenEdge, type ListeningEdge } from '../src/listen.js';
import { readSlowly } from './slow-reader.js';
import { edgeMetric } from './edge-metrics.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
let base: string;
let listening: ListeningEdge | undefined;
const storage = createLocalStorage({ rootDir: mkdtempSync(join(tmpdir(), 'edge-fast-')) });
const ring = parseJwtKeys('fp1:edge-fast-path-test-secret-0123456789abcdef');
const segment = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff));
/** More than loopback's socket buffers hold (4 MiB send, 6 MiB receive at most): the answer must wait for the reader. */
const large = Buffer.from(Array.from({ length: 16 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 12)) & 0xff));
const token = (clientAddress: string) => signPlaybackToken({ channelId: 'priv', sessionId: 'p1', expiresAt: Date.now() + 600_000, clientAddress }, ring);

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-fast-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'priv', displayName: 'priv', title: '' });
  await db.updateTable('channels').set({ playback_visibility: 'followers' }).where('id', '=', 'priv').execute();
  await db.insertInto('stream_sessions').values({ session_id: 'p1', channel_id: 'priv', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await storage.writeSegment('sessions/p1/720p/seg_00000.m4s', segment);
  await storage.writeSegment('sessions/p1/720p/seg_00001.m4s', segment.subarray(0, 1000));
  await storage.writeSegment('sessions/p1/720p/seg_00002.m4s', large);
}, 90_000);
afterAll(async () => {
  await db?.destroy();
  await services?.stop();
});

const fast = () => edgeMetric(app, 'edge_fast_path_answers_total');
/**
 * Response headers without the per-response ones: Node's Date, Connection and Keep-Alive, and
 * CMSD-Dynamic, present once the edge's first TCP reading since the request began is done.
 */
const headersOf = (r: Response) => Object.fromEntries([...r.headers].filter(([k]) => !['date', 'connection', 'keep-alive', 'uwebsockets', 'cmsd-dynamic'].includes(k)));

describe.each<EdgeServerKind>(['node', 'uws'])('the edge fast path (%s)', (server) => {
  beforeAll(async () => {
    // Caches long enough that a slow machine cannot expire them between two requests of a test.
    app = await buildEdge({ db, storage, playbackKeys: ring, liveLookupCacheMs: 600_000, policyCacheMs: 600_000, objectCacheRevalidateMs: 600_000, trustProxy: ['127.0.0.1'], server });
    listening = await listenEdge(app, { host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${listening.port}`;
  });
  afterAll(async () => {
    await listening?.close();
  });

  it('answers a repeated token-checked segment GET from memory with the router\'s status, headers and body', async () => {
    const url = `${base}/live/priv/720p/seg_00000.m4s?token=${token('127.0.0.1')}`;
    const before = await fast();
    const first = await fetch(url);
    const firstBody = Buffer.from(await first.arrayBuffer());
    expect(await fast()).toBe(before);
    const second = await fetch(url);
    const secondBody = Buffer.from(await second.arrayBuffer());
    expect(await fast()).toBe(before + 1);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(headersOf(second)).toEqual(headersOf(first));
    expect(headersOf(second)).toMatchObject({ 'content-type': 'video/iso.segment', 'cache-control': 'public, max-age=31536000, immutable', 'content-length': '4000', 'access-control-allow-origin': '*' });
    expect(secondBody.equals(segment) && firstBody.equals(segment)).toBe(true);
    // the same session's objects under /sessions/ too, once the router has seen them
    const bySession = `${base}/sessions/p1/720p/seg_00000.m4s?token=${token('127.0.0.1')}`;
    await (await fetch(bySession)).arrayBuffer();
    const again = await fetch(bySession);
    expect(Buffer.from(await again.arrayBuffer()).equals(segment)).toBe(true);
    expect(await fast()).toBe(before + 2);
  });

  it('sends an object larger than the socket takes at once to a slow reader, whole, from memory', async () => {
    const url = `${base}/live/priv/720p/seg_00002.m4s?token=${token('127.0.0.1')}`;
    await (await fetch(url)).arrayBuffer();
    const before = await fast();
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).on('error', reject));
    expect([res.statusCode, res.headers['content-length']]).toEqual([200, String(large.length)]);
    // the sockets fill up and the edge waits
    const body = await readSlowly(res);
    expect(await fast()).toBe(before + 1);
    expect(body.equals(large)).toBe(true);
  });

  it('answers byte ranges and HEAD like the router', async () => {
    const url = `${base}/live/priv/720p/seg_00001.m4s?token=${token('127.0.0.1')}`;
    await (await fetch(url)).arrayBuffer();
    const before = await fast();
    const routed = await app.inject({ method: 'GET', url: url.slice(base.length), headers: { range: 'bytes=10-19' } });
    const r = await fetch(url, { headers: { range: 'bytes=10-19' } });
    expect([r.status, r.headers.get('content-range'), r.headers.get('content-length')]).toEqual([206, 'bytes 10-19/1000', '10']);
    expect([routed.statusCode, routed.headers['content-range']]).toEqual([206, 'bytes 10-19/1000']);
    expect([...new Uint8Array(await r.arrayBuffer())]).toEqual([...segment.subarray(10, 20)]);
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), (await head.arrayBuffer()).byteLength]).toEqual([200, '1000', 0]);
    expect(await fast()).toBe(before + 2);
    // an unsatisfiable range and a conditional request are the router's
    expect((await fetch(url, { headers: { range: 'bytes=5000-' } })).status).toBe(416);
    expect((await fetch(url, { headers: { 'if-none-match': head.headers.get('etag')! } })).status).toBe(304);
    expect(await fast()).toBe(before + 2);
  });

  it('leaves refusals to the router: no token, a tampered token, another address, a new policy version', async () => {
    const url = `${base}/live/priv/720p/seg_00000.m4s`;
    const good = token('127.0.0.1');
    await (await fetch(`${url}?token=${good}`)).arrayBuffer();
    const before = await fast();
    const refusals = [
      [await fetch(url), 401, 'PLAYBACK_TOKEN_MISSING'],
      [await fetch(`${url}?token=${good.slice(0, -2)}xx`), 401, 'PLAYBACK_TOKEN_INVALID'],
      [await fetch(`${url}?token=${good}`, { headers: { 'x-forwarded-for': '203.0.113.9' } }), 403, 'PLAYBACK_TOKEN_WRONG_ADDRESS'],
    ] as const;
    for (const [r, status, code] of refusals) {
      expect([r.status, ((await r.json()) as { code: string }).code, r.headers.get('access-control-allow-origin')]).toEqual([status, code, '*']);
    }
    expect(await fast()).toBe(before);
  });

  it('binds the token to the viewer\'s address behind a trusted proxy (X-Forwarded-For)', async () => {
    const url = `${base}/live/priv/720p/seg_00000.m4s?token=${token('203.0.113.5')}`;
    const viaProxy = { headers: { 'x-forwarded-for': '203.0.113.5' } };
    expect((await fetch(url, viaProxy)).status).toBe(200);
    const before = await fast();
    const r = await fetch(url, viaProxy);
    expect([r.status, Buffer.from(await r.arrayBuffer()).equals(segment)]).toEqual([200, true]);
    expect(await fast()).toBe(before + 1);
    // the same token from the proxy itself, or for another viewer, is refused (by the router)
    expect((await fetch(url)).status).toBe(403);
    expect((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(403);
    expect(await fast()).toBe(before + 1);
  });

  it('carries CMSD-Dynamic with the kernel\'s figures for a viewer connected directly, from the fast path and the router, and none behind a proxy', async () => {
    const url = `${base}/live/priv/720p/seg_00000.m4s?token=${token('127.0.0.1')}`;
    // readings start when media is asked for: ask until an answer carries one
    let direct: Response | undefined;
    await waitFor('an answer with CMSD-Dynamic', async () => {
      direct = await fetch(url);
      await direct.arrayBuffer();
      return direct.headers.has('cmsd-dynamic');
    }, 15_000, 50);
    expect(direct!.headers.get('cmsd-dynamic')).toMatch(/^"edge";etp=[1-9]\d*;rtt=\d+$/);
    expect(direct!.headers.get('access-control-expose-headers')).toContain('cmsd-dynamic');
    // fast path and router alike (a conditional request is the router's)
    const before = await fast();
    const fastAnswer = await fetch(url);
    await fastAnswer.arrayBuffer();
    expect(await fast()).toBe(before + 1);
    const routed = await fetch(url, { headers: { 'if-none-match': '"another"' } });
    await routed.arrayBuffer();
    expect(await fast()).toBe(before + 1);
    expect([fastAnswer.headers.get('cmsd-dynamic'), routed.headers.get('cmsd-dynamic')]).toEqual([expect.stringMatching(/^"edge";etp=/), expect.stringMatching(/^"edge";etp=/)]);
    // a viewer behind the trusted proxy: the connection is the proxy's, so no figures
    const viaProxy = { headers: { 'x-forwarded-for': '203.0.113.5' } };
    const proxiedUrl = `${base}/live/priv/720p/seg_00000.m4s?token=${token('203.0.113.5')}`;
    for (const init of [viaProxy, { headers: { ...viaProxy.headers, 'if-none-match': '"another"' } }]) {
      const r = await fetch(proxiedUrl, init);
      await r.arrayBuffer();
      expect([r.status, r.headers.get('cmsd-dynamic')]).toEqual([200, null]);
    }
  });

  it('counts its answers in edge_requests_total and the object cache hits', async () => {
    const url = `${base}/live/priv/720p/seg_00000.m4s?token=${token('127.0.0.1')}`;
    await (await fetch(url)).arrayBuffer();
    const [ok, hits] = [await edgeMetric(app, 'edge_requests_total', '{kind="object",status="200"}'), await edgeMetric(app, 'edge_object_cache_lookups_total', '{result="hit"}')];
    await (await fetch(url)).arrayBuffer();
    expect(await edgeMetric(app, 'edge_requests_total', '{kind="object",status="200"}')).toBe(ok + 1);
    expect(await edgeMetric(app, 'edge_object_cache_lookups_total', '{result="hit"}')).toBe(hits + 1);
  });

  it.runIf(server === 'node')('answers over HTTPS on the same server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-fast-tls-'));
    const cert = await makeSelfSignedCertificate(dir, 'edge');
    const ca = readFileSync(cert.certFile, 'utf8');
    const tls = await buildEdge({ db, storage, playbackKeys: ring, liveLookupCacheMs: 600_000, policyCacheMs: 600_000, objectCacheRevalidateMs: 600_000, https: { cert: ca, key: readFileSync(cert.keyFile) } });
    try {
      await tls.listen({ port: 0, host: '127.0.0.1' });
      const { port } = tls.server.address() as AddressInfo;
      const get = () => new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: `/live/priv/720p/seg_00000.m4s?token=${token('127.0.0.1')}`, servername: 'localhost', ca, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end();
      });
      const first = await get();
      const second = await get();
      expect([first.status, second.status, first.body.equals(segment), second.body.equals(segment)]).toEqual([200, 200, true, true]);
      expect(await edgeMetric(tls, 'edge_fast_path_answers_total')).toBe(1);
    } finally {
      await tls.close();
    }
  });
});
