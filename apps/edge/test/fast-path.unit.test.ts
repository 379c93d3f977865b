/** The fast path's pure parts: which request URLs it may answer, the headers it sends; and which server answers it (`EDGE_SERVER`). */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@live/runtime';
import { EDGE_CORS_HEADERS, objectResponseHeaders, parseFastObjectRequest } from '../src/fast-path.js';
import { deriveEdgeConfig, edgeConfigSchema } from '../src/config.js';

describe('parseFastObjectRequest', () => {
  it('reads the route, the path after it and the first token', () => {
    expect(parseFastObjectRequest('/live/demo/720p/seg_00001.m4s?token=a.b_c-d&token=x')).toEqual({ route: 'live', rest: 'demo/720p/seg_00001.m4s', token: 'a.b_c-d' });
    expect(parseFastObjectRequest('/sessions/s1/720p/init.mp4?x=1&token=t')).toEqual({ route: 'sessions', rest: 's1/720p/init.mp4', token: 't' });
    expect(parseFastObjectRequest('/live/demo/720p/seg_00001.m4s')).toEqual({ route: 'live', rest: 'demo/720p/seg_00001.m4s', token: undefined });
    expect(parseFastObjectRequest('/live/demo/720p/seg_00001.m4s?token=')).toMatchObject({ token: '' });
  });

  it.each([
    '/keys/s1/0.key', '/healthz', '/live/demo/master.m3u8', '/live/demo/720p/index.m3u8?token=t', '/sessions/s1/manifest.mpd',
    '/live/de%6Do/720p/seg.m4s', '/live/demo/720p/seg.m4s?token=a%2Bb', '/live/demo/720p/seg.m4s?token=a+b', '/live/demo/720p/seg.m4s?tok%65n=t', '/livestream/x.m4s',
  ])('leaves %s to the router', (url) => {
    expect(parseFastObjectRequest(url)).toBeNull();
  });
});

describe('objectResponseHeaders', () => {
  const object = {
    info: { key: 'k', size: 1000, etag: '"e1"', contentType: 'video/iso.segment', cacheControl: 'public, max-age=31536000, immutable', lastModified: new Date(0) },
    body: Buffer.alloc(1000),
    lastModifiedHttp: new Date(0).toUTCString(),
  };
  it('describes the whole object, with the CORS headers', () => {
    const h = objectResponseHeaders(object);
    const map = Object.fromEntries(Array.from({ length: h.length / 2 }, (_, i) => [h[2 * i], h[2 * i + 1]]));
    expect(map).toEqual({
      'content-type': 'video/iso.segment', 'cache-control': 'public, max-age=31536000, immutable', etag: '"e1"',
      'last-modified': 'Thu, 01 Jan 1970 00:00:00 GMT', 'accept-ranges': 'bytes', 'content-length': '1000',
      ...Object.fromEntries(Array.from({ length: EDGE_CORS_HEADERS.length / 2 }, (_, i) => [EDGE_CORS_HEADERS[2 * i], EDGE_CORS_HEADERS[2 * i + 1]])),
    });
  });
  it('describes a byte range (RFC 9110 §14.4)', () => {
    const h = objectResponseHeaders(object, { start: 10, end: 19 });
    expect(h.slice(-4)).toEqual(['content-range', 'bytes 10-19/1000', 'content-length', '10']);
  });
  it('leaves Content-Length out for servers that write it themselves', () => {
    expect(objectResponseHeaders(object, undefined, false)).toEqual(objectResponseHeaders(object).slice(0, -2));
    expect(objectResponseHeaders(object, { start: 10, end: 19 }, false).slice(-2)).toEqual(['content-range', 'bytes 10-19/1000']);
  });
});

describe('EDGE_SERVER', () => {
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', STORAGE_DIR: '/tmp/edge-server-unit' };
  // the files need only be readable for the settings
  const dir = mkdtempSync(join(tmpdir(), 'edge-server-unit-'));
  writeFileSync(join(dir, 'cert.pem'), 'cert');
  writeFileSync(join(dir, 'key.pem'), 'key');
  const tls = { EDGE_TLS_CERT_FILE: join(dir, 'cert.pem'), EDGE_TLS_KEY_FILE: join(dir, 'key.pem') };
  const server = (env: Record<string, string>) => deriveEdgeConfig(loadConfig(edgeConfigSchema, { env: { ...base, ...env } })).server;
  it('is Node\'s server by default, the uWS front on request', () => {
    expect(server({})).toBe('node');
    expect(server(tls)).toBe('node');
    expect(server({ EDGE_SERVER: 'uws' })).toBe('uws');
  });
  it('refuses the uWS front with TLS files, and unknown servers', () => {
    expect(() => server({ ...tls, EDGE_SERVER: 'uws' })).toThrow(/^EDGE_SERVER=uws serves plain HTTP/);
    expect(() => server({ EDGE_SERVER: 'nginx' })).toThrow(/EDGE_SERVER/);
    expect(() => server({ EDGE_SERVER: 'auto' })).toThrow(/EDGE_SERVER/);
  });
});
