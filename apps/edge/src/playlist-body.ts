/**
 * The bodies of the playlists the edge answers: full or Playlist Delta Update (RFC 8216bis
 * §6.2.5.1, `_HLS_skip`), with or without the viewer's token, identity, gzip or brotli (RFC 9110
 * §8.4.1, §12.5.3 Accept-Encoding), each rendered and compressed once per playlist version and
 * shared by every request that wants the same (the parked blocking reloads one update wakes).
 *
 * `negotiatePlaylistEncoding` is pure; the cache holds promises, so concurrent requests wait for
 * one rendering; compression runs on node:zlib's thread pool.
 */
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';

/** A `Content-Encoding` the edge sends playlists with. */
export type PlaylistEncoding = 'br' | 'gzip' | 'identity';

/** Which playlist a request gets: the full one, or its delta update (`_HLS_skip=YES|v2`). */
export type PlaylistVariant = 'full' | 'delta';

/** gzip level for playlists: 6 (zlib's default), fast enough to run on every playlist update. */
export const PLAYLIST_GZIP_LEVEL = 6;
/** Brotli quality for playlists: 5 (of 11), a fast level that still beats gzip on playlist text. */
export const PLAYLIST_BROTLI_QUALITY = 5;

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/**
 * Chooses the encoding of a playlist answer from `Accept-Encoding` (RFC 9110 §12.5.3), minimally:
 * `br` when accepted with a q-value above 0 (explicitly or by `*`), else `gzip` likewise, else
 * `identity`. Brotli is preferred whatever the q-values say (it is the smaller of the two for
 * playlists); `q=0` refuses a coding. Tokens are case-insensitive; malformed q-values count as 1.
 * Never throws.
 * @param header the request's `Accept-Encoding` (absent: identity; Node joins repeated headers with commas).
 */
export function negotiatePlaylistEncoding(header: string | string[] | undefined): PlaylistEncoding {
  if (header === undefined) return 'identity';
  const q = new Map<string, number>();
  for (const item of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...params] = item.trim().toLowerCase().split(';');
    if (!name) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp === undefined ? 1 : Number(qp.slice(2));
    q.set(name.trim(), Number.isFinite(value) ? value : 1);
  }
  const accepts = (coding: string) => (q.get(coding) ?? q.get('*') ?? 0) > 0;
  if (accepts('br')) return 'br';
  if (accepts('gzip') || accepts('x-gzip')) return 'gzip';
  return 'identity';
}

/**
 * Compresses a playlist body with node:zlib: gzip at {@link PLAYLIST_GZIP_LEVEL}, brotli at
 * {@link PLAYLIST_BROTLI_QUALITY} in text mode with the size hint; identity returns `body`.
 * @throws what node:zlib throws (it does not for a Buffer input).
 */
export async function compressPlaylist(body: Buffer, encoding: PlaylistEncoding): Promise<Buffer> {
  if (encoding === 'gzip') return gzipAsync(body, { level: PLAYLIST_GZIP_LEVEL });
  if (encoding === 'br') {
    return brotliAsync(body, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: PLAYLIST_BROTLI_QUALITY,
        [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_TEXT,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });
  }
  return body;
}

/** What identifies one playlist body: the storage key and version (ETag) of the playlist, the variant, the token written into it, the encoding. */
export interface PlaylistBodyKey {
  readonly key: string;
  readonly etag: string;
  readonly variant: PlaylistVariant;
  /** The viewer's playback token rewritten into the child URIs, or null. */
  readonly token: string | null;
  readonly encoding: PlaylistEncoding;
}

/** Options of {@link createPlaylistBodyCache}. */
export interface PlaylistBodyCacheOptions {
  /** Most bytes of bodies kept (identity and compressed); default {@link DEFAULT_PLAYLIST_BODY_CACHE_BYTES}. */
  readonly maxBytes?: number;
}

/** 32 MiB: the default {@link PlaylistBodyCacheOptions.maxBytes}. */
export const DEFAULT_PLAYLIST_BODY_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Rendered and compressed playlist bodies, by {@link PlaylistBodyKey}. `body(k, render)` returns
 * the cached body, or renders the identity body once (`render`: e.g. delta + token rewrite) and
 * compresses it once for `k.encoding`; every request asking for the same key while that runs
 * gets the same promise. Entries are dropped least recently used first beyond `maxBytes`, and a
 * failed rendering is not kept.
 */
export interface PlaylistBodyCache {
  body(k: PlaylistBodyKey, render: () => string): Promise<Buffer>;
  /** Renderings and compressions done so far, by encoding (tests, metrics). */
  readonly made: Readonly<Record<PlaylistEncoding, number>>;
  /** Bytes held. */
  bytes(): number;
}

/** Creates a {@link PlaylistBodyCache}. */
export function createPlaylistBodyCache(opts: PlaylistBodyCacheOptions = {}): PlaylistBodyCache {
  const maxBytes = opts.maxBytes ?? DEFAULT_PLAYLIST_BODY_CACHE_BYTES;
  const entries = new Map<string, { body: Promise<Buffer>; size: number }>();
  const made: Record<PlaylistEncoding, number> = { br: 0, gzip: 0, identity: 0 };
  let held = 0;
  const id = (k: PlaylistBodyKey) => `${k.key}\n${k.etag}\n${k.variant}\n${k.encoding}\n${k.token ?? ''}`;
  const remember = (name: string, make: () => Promise<Buffer>): Promise<Buffer> => {
    const hit = entries.get(name);
    if (hit) {
      entries.delete(name);
      entries.set(name, hit);
      return hit.body;
    }
    const entry = { body: make(), size: 0 };
    entries.set(name, entry);
    entry.body.then((b) => {
      if (entries.get(name) !== entry) return;
      entry.size = b.length;
      held += b.length;
      for (const [n, e] of entries) {
        if (held <= maxBytes || n === name) break;
        entries.delete(n);
        held -= e.size;
      }
    }, () => {
      if (entries.get(name) === entry) entries.delete(name);
    });
    return entry.body;
  };
  return {
    made,
    bytes: () => held,
    body(k, render) {
      const identity = remember(id({ ...k, encoding: 'identity' }), async () => {
        made.identity++;
        return Buffer.from(render(), 'utf8');
      });
      if (k.encoding === 'identity') return identity;
      return remember(id(k), async () => {
        const plain = await identity;
        made[k.encoding]++;
        return compressPlaylist(plain, k.encoding);
      });
    },
  };
}
