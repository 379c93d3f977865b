/**
 * The edge against a real PostgreSQL and local storage: MIME types, Cache-Control per object
 * kind, 404s, traversal refused, conditional requests, byte ranges, live channel mapping, and
 * the error catalogue for what Fastify and Node's HTTP parser refuse (over a real socket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import { createLocalStorage } from '@live/storage';
import { buildEdge, EDGE_ERRORS, parseRange, safeKeyRest } from '../src/app.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;
const storage = createLocalStorage({ rootDir: mkdtempSync(join(tmpdir(), 'edge-int-')) });
const segment = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'edge-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'demo', displayName: 'Demo', title: '' });
  await db.insertInto('stream_sessions').values({ session_id: 's1', channel_id: 'demo', status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
  await storage.writeSegment('sessions/s1/720p/seg_00000.m4s', segment);
  await storage.writePlaylist('sessions/s1/master.m3u8', '#EXTM3U\n', { live: true });
  await storage.writePlaylist('sessions/s1/vod.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false });
  app = await buildEdge({ db, storage, liveLookupCacheMs: 0 });
  await app.listen({ port: 0, host: '127.0.0.1' });
}, 90_000);

/** Sends `head` (and `body`) as written on one new connection (`connection: close`); resolves with what came back once the server closes it. */
function raw(head: string, body = ''): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head}\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [top = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = top.split('\r\n');
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}
afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

describe('edge', () => {
  it('serves the live channel playlist with a short Cache-Control and HLS MIME type', async () => {
    const r = await app.inject({ method: 'GET', url: '/live/demo/master.m3u8' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(r.headers['cache-control']).toBe('public, max-age=1');
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.body).toBe('#EXTM3U\n');
  });

  it('serves segments immutable, with ETag/304 and byte ranges', async () => {
    const r = await app.inject({ method: 'GET', url: '/sessions/s1/720p/seg_00000.m4s' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('video/iso.segment');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Buffer.compare(r.rawPayload, segment)).toBe(0);
    const etag = r.headers.etag as string;
    expect((await app.inject({ method: 'GET', url: '/sessions/s1/720p/seg_00000.m4s', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
    const part = await app.inject({ method: 'GET', url: '/sessions/s1/720p/seg_00000.m4s', headers: { range: 'bytes=10-19' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 10-19/1000');
    expect([...part.rawPayload]).toEqual([...segment.subarray(10, 20)]);
    expect((await app.inject({ method: 'GET', url: '/sessions/s1/720p/seg_00000.m4s', headers: { range: 'bytes=5000-' } })).statusCode).toBe(416);
  });

  it('404s what does not exist and channels that are offline', async () => {
    const r = await app.inject({ method: 'GET', url: '/sessions/s1/720p/seg_99999.m4s' });
    expect([r.statusCode, r.json()]).toEqual([404, { code: 'NOT_FOUND', message: 'No such object.' }]);
    expect((await app.inject({ method: 'GET', url: '/live/nobody/master.m3u8' })).json()).toMatchObject({ code: 'CHANNEL_OFFLINE' });
  });

  it.each([
    '/sessions/../../etc/passwd', '/sessions/s1/..%2F..%2Fetc%2Fpasswd', '/sessions/%2e%2e/%2e%2e/etc/passwd',
    '/sessions/s1/.hidden', '/live/demo/../../../etc/passwd', '/sessions/s1//master.m3u8', '/live/de.mo/master.m3u8',
  ])('refuses traversal: %s', async (url) => {
    const r = await app.inject({ method: 'GET', url });
    expect([400, 404]).toContain(r.statusCode);
    expect(r.body).not.toContain('root:');
  });

  it.each([
    ['bad URL encoding', 'GET /live/%ff/master.m3u8 HTTP/1.1', '', 'BAD_PATH'],
    ['bad URL encoding (truncated UTF-8)', 'GET /sessions/%E0%A4%A/x.m3u8 HTTP/1.1', '', 'BAD_PATH'],
    ['a route parameter over the router limit', `GET /live/${'a'.repeat(1100)}/master.m3u8 HTTP/1.1`, '', 'URI_TOO_LONG'],
    ['a method the edge does not serve', 'DELETE /live/demo/master.m3u8 HTTP/1.1', '', 'METHOD_NOT_ALLOWED'],
    ['a method with a body the edge does not serve', 'POST /live/demo/master.m3u8 HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2', '{}', 'METHOD_NOT_ALLOWED'],
    ['a method Node does not know', 'BREW /live/demo/master.m3u8 HTTP/1.1', '', 'NOT_IMPLEMENTED'],
    ['a malformed Content-Length', 'GET /live/demo/master.m3u8 HTTP/1.1\r\ncontent-length: abc', '', 'BAD_REQUEST'],
    ['a malformed chunked body on GET', 'GET /live/demo/master.m3u8 HTTP/1.1\r\ntransfer-encoding: chunked', 'zz\r\n', 'BAD_REQUEST'],
    ['headers over the size limit', `GET /live/demo/master.m3u8 HTTP/1.1\r\nx-big: ${'b'.repeat(20_000)}`, '', 'HEADERS_TOO_LARGE'],
    ['a JSON body that does not parse', 'OPTIONS /live/demo/master.m3u8 HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 5', '{bad}', 'BAD_REQUEST'],
    ['a body of an unsupported type', 'OPTIONS /live/demo/master.m3u8 HTTP/1.1\r\ncontent-type: text/xml\r\ncontent-length: 5', '<x/>\n', 'UNSUPPORTED_MEDIA_TYPE'],
  ] as const)('answers %s with the catalogue JSON', async (_what, requestLine, body, code) => {
    const r = await raw(`${requestLine}\r\nhost: edge\r\nconnection: close`, body);
    expect([r.status, JSON.parse(r.body)]).toEqual([EDGE_ERRORS[code].status, { code, message: EDGE_ERRORS[code].message }]);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.body).not.toMatch(/FST_|statusCode|\bat .*\(/);
    if (code === 'METHOD_NOT_ALLOWED') expect(r.headers.allow).toBe('GET, HEAD, OPTIONS');
  });

  it('serves a GET that carries a body as one without (RFC 9110 §9.3.1: it has no meaning)', async () => {
    const r = await raw('GET /live/demo/master.m3u8 HTTP/1.1\r\nhost: edge\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 5', '{bad}');
    expect([r.status, r.body]).toEqual([200, '#EXTM3U\n']);
  });

  it('parses ranges and validates key paths', () => {
    expect(parseRange('bytes=0-', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=5-2', 10)).toBe('unsatisfiable');
    expect(parseRange('items=1-2', 10)).toBeNull();
    expect(safeKeyRest('a/b.m3u8')).toBe('a/b.m3u8');
    for (const bad of ['', '../x', 'a/../b', 'a//b', '.x', 'a/b\\c']) expect(safeKeyRest(bad)).toBeNull();
  });
});
