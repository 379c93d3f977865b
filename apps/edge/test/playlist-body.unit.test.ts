import { describe, expect, it } from 'vitest';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createPlaylistBodyCache, negotiatePlaylistEncoding, type PlaylistBodyKey } from '../src/playlist-body.js';

describe('negotiatePlaylistEncoding (RFC 9110 §12.5.3, minimal)', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1.0, br;q=0.1', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', 'identity'],
    ['*', 'br'],
    ['*;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['identity', 'identity'],
  ] as const)('%s -> %s', (header, want) => {
    expect(negotiatePlaylistEncoding(header)).toBe(want);
  });

  it('reads repeated headers', () => {
    expect(negotiatePlaylistEncoding(['gzip', 'br;q=0.5'])).toBe('br');
  });
});

describe('createPlaylistBodyCache', () => {
  const k = (over: Partial<PlaylistBodyKey> = {}): PlaylistBodyKey => ({ key: 'sessions/s/480p/index.m3u8', etag: '"v1"', variant: 'full', token: null, encoding: 'identity', ...over });
  const text = `#EXTM3U\n${'#EXTINF:2.000000,\nseg_00001.m4s\n'.repeat(200)}`;

  it('renders once and compresses once per version, variant, token and encoding, however many ask at once', async () => {
    const cache = createPlaylistBodyCache();
    let renders = 0;
    const render = () => {
      renders++;
      return text;
    };
    const all = await Promise.all([1, 2, 3].map(() => cache.body(k({ encoding: 'br' }), render)));
    expect(renders).toBe(1);
    expect(cache.made).toEqual({ br: 1, gzip: 0, identity: 1 });
    expect(all[0]).toBe(all[2]);
    expect(brotliDecompressSync(all[0]!).toString()).toBe(text);
    expect(gunzipSync(await cache.body(k({ encoding: 'gzip' }), render)).toString()).toBe(text);
    expect(renders).toBe(1); // gzip of the same identity body
    expect((await cache.body(k(), render)).toString()).toBe(text);
    await cache.body(k({ etag: '"v2"', encoding: 'br' }), render);
    await cache.body(k({ token: 't1', encoding: 'br' }), render);
    await cache.body(k({ variant: 'delta', encoding: 'br' }), render);
    expect(renders).toBe(4);
    expect(cache.made).toEqual({ br: 4, gzip: 1, identity: 4 });
  });

  it('stays within maxBytes (least recently used out first) and forgets failed renderings', async () => {
    const cache = createPlaylistBodyCache({ maxBytes: text.length * 2 + 10 });
    for (const etag of ['"a"', '"b"', '"c"', '"d"']) await cache.body(k({ etag }), () => text);
    expect(cache.bytes()).toBeLessThanOrEqual(text.length * 2 + 10);
    let renders = 0;
    await cache.body(k({ etag: '"a"' }), () => {
      renders++;
      return text;
    });
    expect(renders).toBe(1); // "a" was evicted
    await expect(cache.body(k({ etag: '"x"' }), () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect((await cache.body(k({ etag: '"x"' }), () => 'ok')).toString()).toBe('ok');
  });
});
