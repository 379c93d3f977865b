import type { SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { IncomingMessage, RequestListener } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import { channelPlaybackPolicy, currentLiveSession, playbackTokenRequired, sessionChannelId, type Db } from '@live/db';
import {
  deriveContentKey, PLAYBACK_TOKEN_ERRORS, PlaybackTokenError, playbackKeyRing, verifyPlaybackToken,
  type JwtKey, type PlaybackKeyRing, type PlaybackTokenErrorCode,
} from '@live/auth';
import type { ObjectStorage } from '@live/storage';
import {
  awaitBlockingReload, decideBlockingReload, decideHintedPartRequest, masterPlaylistKey, mediaPlaylistKey, parseBlockingReloadQuery, renderPlaylistDeltaUpdate,
  sessionKeyPrefix, planOpenSegment, type BlockingReloadRequest,
} from '@live/media/formats';
import { CACHE_CONTROL, contentTypeFor } from '@live/storage';
import { pumpOpenSegment, type OpenSegmentEnd } from './open-segment.js';
import { clientAddress, compileProxyTrust, ConnectionCounter, normalizeAddress, OffenderLog, trustBehindLocalFront, type ProxyTrust } from '@live/runtime';
import {
  createPlaylistWatcher, masterPlaylistChildKeys,
  DEFAULT_MAX_BLOCKING_PER_CLIENT, DEFAULT_MAX_WATCHED_PLAYLISTS,
} from './blocking.js';
import { registerWebApp, type WebAppOptions } from './web.js';
import { createImmutableObjectCache, DEFAULT_EDGE_CACHE_BYTES, type CachedObject } from './cache.js';
import { createAnnouncedPlaylistWatcher, createLiveStore, type LiveStoreOptions } from './live-store.js';
import { createColdLane, createLookupCache, LookupsBusyError } from './lookups.js';
import { createMediaFeed, type AnnouncementSource, type MediaFeedOptions } from './feed.js';
import { addContentSteering, checkEdgeSteering, steeringServerUri, type EdgeSteering } from './steering.js';
import { createPlaylistBodyCache, negotiatePlaylistEncoding, type PlaylistBodyCacheOptions } from './playlist-body.js';
import { DASH_ERRORS, registerDash } from './dash.js';
import { CMSD_DYNAMIC_HEADER } from './cmsd.js';
import { createViewerThroughput, type ViewerThroughput } from './throughput.js';
import { createFastObjectHandler, EDGE_CORS_HEADERS, parseRange, type FastObjectRequest, type FastPathOptions, type MemoryObject } from './fast-path.js';

export { parseRange } from './fast-path.js';

/** Dependencies and settings of {@link buildEdge}. */
export interface EdgeOptions {
  readonly storage: ObjectStorage;
  readonly db: Db;
  /** Milliseconds a channel → live session lookup is cached (default 1000). */
  readonly liveLookupCacheMs?: number;
  /**
   * Milliseconds a channel's playback policy and a session → channel mapping are cached
   * (default 2000): how long a policy change takes to reach this edge.
   */
  readonly policyCacheMs?: number;
  /**
   * Playback-token key ring (`PLAYBACK_KEYS`, falling back to `JWT_KEYS`; the format of
   * `parseJwtKeys`), the same ring the API signs with. Without it no token verifies: private and
   * encrypted channels and keys answer 401, public unencrypted channels play without tokens.
   */
  readonly playbackKeys?: readonly JwtKey[];
  /** Secret the AES-128 content keys are derived from (`CONTENT_KEY_SECRET`); without it `/keys/…` answers 404. */
  readonly contentKeySecret?: Buffer;
  /**
   * Bytes of immutable objects (segments, parts, init segments) kept in memory
   * (`createImmutableObjectCache`); default 256 MiB (`main.ts` reads `EDGE_CACHE_BYTES`); 0
   * turns the cache off (every request reads storage).
   */
  readonly objectCacheBytes?: number;
  /**
   * How a media playlist's child URIs carry the viewer's token (`EDGE_PLAYLIST_TOKENS`): `define`
   * (default; `{$token}` and EXT-X-DEFINE:QUERYPARAM, one body for every viewer,
   * {@link referencePlaylistToken}) or `inline` (the token written into every URI,
   * {@link rewritePlaylist}). Master playlists always get it written out.
   */
  readonly playlistTokens?: PlaylistTokenStyle;
  /** Milliseconds a cached object is served before storage is asked once whether it still exists (default 1000). */
  readonly objectCacheRevalidateMs?: number;
  readonly logger?: boolean | object;
  /** Log every request (Fastify's request logging; `EDGE_ACCESS_LOG`); default false: errors and refusals only. */
  readonly accessLog?: boolean;
  /** TLS credentials: serve HTTPS (renewals: `applyTlsReloads(watcher, app.server)` of `@live/runtime`). */
  readonly https?: SecureContextOptions;
  /**
   * Reverse proxies / CDN ranges whose `X-Forwarded-For` is believed (`TRUST_PROXY`; Fastify's
   * `trustProxy`), so that address-bound playback tokens see the viewer's address.
   */
  readonly trustProxy?: readonly string[];
  /**
   * Which server takes the viewers' connections (`EDGE_SERVER`, see listen.ts): `node` (default),
   * Fastify's own, with the fast path on its `request` event; `uws`, the uWebSockets.js front of
   * uws-front.ts, which answers the fast path itself and hands every other request to this app
   * over loopback, so the app trusts that front as the nearest hop ({@link trustBehindLocalFront})
   * and installs no fast path of its own. Listen with `listenEdge` either way.
   */
  readonly server?: EdgeServerKind;
  /** Serve the web app's static files too (`WEB_ROOT`, see web.ts). */
  readonly web?: WebAppOptions;
  /**
   * Blocking playlist reloads (RFC 8216bis §6.2.5.2) one client address (`request.ip`, which
   * honours `trustProxy`) may have parked at once (`EDGE_MAX_BLOCKING_PER_CLIENT`, default 32);
   * one more is answered 429 TOO_MANY_BLOCKING_RELOADS with `Retry-After`.
   */
  readonly maxBlockingPerClient?: number;
  /**
   * Distinct playlists the edge polls for parked blocking reloads at once
   * (`EDGE_MAX_WATCHED_PLAYLISTS`, default 1000; each costs one storage `stat` per
   * `blockingPollMs`); a blocking reload of another playlist is answered 503
   * BLOCKING_RELOADS_BUSY with `Retry-After` (the server may answer early, §6.2.5.2).
   */
  readonly maxWatchedPlaylists?: number;
  /** How often a watched playlist is stat'ed for its parked blocking reloads, ms (default 50). */
  readonly blockingPollMs?: number;
  /**
   * Database lookups of names the edge does not know to exist (made-up channels and sessions)
   * at once (`EDGE_COLD_LOOKUP_CONCURRENCY`, default 2 of the pool's 5 connections); lookups of
   * known ones never wait for them (lookups.ts).
   */
  readonly coldLookupConcurrency?: number;
  /** Such lookups waiting before more are answered 503 LOOKUPS_BUSY (`EDGE_COLD_LOOKUP_QUEUE`, default 1000). */
  readonly coldLookupQueue?: number;
  /** A refused blocking reload is logged once per client address per this many ms (default 60,000). */
  readonly offenderLogWindowMs?: number;
  /**
   * The packager's media announcements (core NATS `media.<sessionId>`; main.ts wires
   * `natsAnnouncementSource` when `NATS_URL` is set). With them the edge subscribes to each live
   * session a viewer asks for (`createMediaFeed`), keeps its live playlists and recent parts in
   * memory (`createLiveStore`), serves them from there and wakes parked blocking reloads on the
   * announcement; storage is read for everything else, and polled again for a session whose
   * announcements stopped. Absent: blocking reloads poll storage every `blockingPollMs`.
   */
  readonly announcements?: AnnouncementSource;
  /** Bounds of the live store and the feed (sessions, bytes, parts per rendition, idle and freshness times). */
  readonly live?: LiveStoreOptions & Pick<MediaFeedOptions, 'idleMs' | 'freshMs'>;
  /**
   * HLS Content Steering (`EDGE_PATHWAY_ID`, `EDGE_STEERING_URL`, `EDGE_PATHWAYS`; steering.ts):
   * master playlists name the steering server and list every edge's variants, this edge's
   * Pathway first. Absent: served as stored.
   */
  readonly steering?: EdgeSteering;
  /** Bounds of the cache of rendered and compressed playlist bodies (playlist-body.ts). */
  readonly playlistBodies?: PlaylistBodyCacheOptions;
  /**
   * `CMSD-Dynamic` (CTA-5006; cmsd.ts, throughput.ts) on the answers for segments, parts and init
   * segments to viewers connected directly: the throughput and round-trip time of their TCP
   * connections as the kernel measures them (`ss`), named by `steering.pathwayId` or `edge`.
   * Default true; readings start once `listenEdge` knows the port.
   */
  readonly cmsd?: boolean;
}

/**
 * The edge's error catalogue: every error answer is `{ code, message }` with `status`, including
 * Fastify's and Node's own (bad URL encoding → BAD_PATH, an over-long path parameter →
 * URI_TOO_LONG, another method → METHOD_NOT_ALLOWED, an unknown one → NOT_IMPLEMENTED, a
 * malformed request → BAD_REQUEST …); never a framework body or a stack trace.
 */
export const EDGE_ERRORS = {
  NOT_FOUND: { status: 404, message: 'No such object.' },
  CHANNEL_OFFLINE: { status: 404, message: 'The channel is not live.' },
  BAD_PATH: { status: 400, message: 'Invalid path.' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'Range not satisfiable.' },
  BAD_DELIVERY_DIRECTIVE: { status: 400, message: 'Invalid _HLS_msn / _HLS_part / _HLS_skip (RFC 8216bis §6.2.5.2).' },
  PART_NOT_READY: { status: 503, message: 'The requested segment or part did not appear within three target durations.' },
  SESSION_NOT_LIVE: { status: 404, message: 'The session is not live: its playlists will not change.' },
  TOO_MANY_BLOCKING_RELOADS: { status: 429, message: 'Too many blocking playlist reloads from this address at once.' },
  BLOCKING_RELOADS_BUSY: { status: 503, message: 'The edge is watching as many playlists as it may; retry shortly.' },
  LOOKUPS_BUSY: { status: 503, message: 'The edge is looking up too many unknown channels and sessions; retry shortly.' },
  BAD_REQUEST: { status: 400, message: 'Malformed request.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Only GET, HEAD and OPTIONS are served.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.' },
  BODY_TOO_LARGE: { status: 413, message: 'Request body too large.' },
  URI_TOO_LONG: { status: 414, message: 'Request path too long.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported request body type.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'Request headers too large.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  NOT_IMPLEMENTED: { status: 501, message: 'Unknown request method.' },
  ...PLAYBACK_TOKEN_ERRORS,
  ...DASH_ERRORS,
} as const;

/** A code of {@link EDGE_ERRORS}. */
export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

/** Methods the edge serves (the `Allow` header of a 405). */
const ALLOWED_METHODS = 'GET, HEAD, OPTIONS';

/**
 * The catalogue code of an error Fastify raises or hands to its error handler / `frameworkErrors`
 * (an HTTP status in `statusCode`, a `FST_ERR_…` code): FST_ERR_BAD_URL → BAD_PATH, otherwise
 * by status (404, 405, 408, 413, 414, 415, 431; any other 4xx → BAD_REQUEST); 5xx and errors
 * without a status → INTERNAL.
 */
export function edgeErrorCodeOf(err: { code?: string; statusCode?: number }): EdgeErrorCode {
  if (err.code === 'FST_ERR_BAD_URL') return 'BAD_PATH';
  const status = err.statusCode ?? 500;
  const byStatus: Partial<Record<number, EdgeErrorCode>> = {
    404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 408: 'REQUEST_TIMEOUT', 413: 'BODY_TOO_LARGE', 414: 'URI_TOO_LONG',
    415: 'UNSUPPORTED_MEDIA_TYPE', 431: 'HEADERS_TOO_LARGE', 501: 'NOT_IMPLEMENTED',
  };
  return byStatus[status] ?? (status >= 400 && status < 500 ? 'BAD_REQUEST' : 'INTERNAL');
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused (an unknown method, a
 * malformed header or Content-Length, headers over the size limit, a request not received in
 * time) is answered on the raw socket with the catalogue's `{ code, message }` (NOT_IMPLEMENTED
 * 501, HEADERS_TOO_LARGE 431, REQUEST_TIMEOUT 408, else BAD_REQUEST 400), then the connection is
 * closed, as Node itself does. A reset or already-destroyed socket gets nothing.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: EdgeErrorCode = err.code === 'HPE_INVALID_METHOD' ? 'NOT_IMPLEMENTED'
    : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
  const { status, message } = EDGE_ERRORS[code];
  const body = JSON.stringify({ code, message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n`
      + `access-control-allow-origin: *\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Cache-Control of a playlist rewritten with a viewer's token: never stored by a shared cache. */
export const TOKENISED_PLAYLIST_CACHE_CONTROL = 'private, no-store';
/** Cache-Control of a content key (RFC 8216bis §4.4.4.4 key files are secrets). */
export const CONTENT_KEY_CACHE_CONTROL = 'private, no-store';

/** Tags whose `URI` attribute names a child resource (RFC 8216bis §4.4). */
const URI_TAGS = [
  '#EXT-X-MAP:', '#EXT-X-PART:', '#EXT-X-PRELOAD-HINT:', '#EXT-X-RENDITION-REPORT:', '#EXT-X-KEY:', '#EXT-X-SESSION-KEY:',
  '#EXT-X-MEDIA:', '#EXT-X-I-FRAME-STREAM-INF:', '#EXT-X-SESSION-DATA:',
];
const URI_ATTRIBUTE = /([:,])URI="([^"]*)"/;

/**
 * Appends the query parameter `param` (`name=value`, already encoded) to a URI of a playlist:
 * with `?` or `&` as the URI already has a query (`_HLS_msn`, `_HLS_part` … are kept), before any
 * `#fragment`. URIs with a scheme (`https:`, `data:`, `skd:`) are left alone, so a token never
 * leaves for another origin.
 */
function withQueryParam(uri: string, param: string): string {
  if (uri === '' || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) || uri.startsWith('//')) return uri;
  const hash = uri.indexOf('#');
  const base = hash >= 0 ? uri.slice(0, hash) : uri;
  const frag = hash >= 0 ? uri.slice(hash) : '';
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${param}${frag}`;
}

/**
 * Appends `token=<token>` to a URI of a playlist ({@link withQueryParam}: other query parameters
 * kept, URIs with a scheme left alone).
 */
export function withToken(uri: string, token: string): string {
  return withQueryParam(uri, `token=${encodeURIComponent(token)}`);
}

/**
 * Applies `rewrite` to every child URI of an HLS playlist (master or media; RFC 8216bis §4): URI
 * lines (variant streams, media segments), and the `URI` attribute of EXT-X-MAP, EXT-X-PART,
 * EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, EXT-X-KEY, EXT-X-SESSION-KEY, EXT-X-SESSION-DATA,
 * EXT-X-MEDIA and EXT-X-I-FRAME-STREAM-INF. Everything else (comments, other tags, blank lines,
 * CRLF line ends) is kept byte for byte.
 */
function rewriteChildUris(text: string, rewrite: (uri: string) => string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const cr = raw.endsWith('\r');
    const line = cr ? raw.slice(0, -1) : raw;
    const t = line.trim();
    if (t === '') continue;
    let out = line;
    if (!t.startsWith('#')) {
      out = line.replace(t, () => rewrite(t));
    } else if (URI_TAGS.some((tag) => t.startsWith(tag))) {
      out = line.replace(URI_ATTRIBUTE, (_m, lead: string, uri: string) => `${lead}URI="${rewrite(uri)}"`);
    }
    if (out !== line) lines[i] = cr ? `${out}\r` : out;
  }
  return lines.join('\n');
}

/**
 * Rewrites an HLS playlist so that every child URI ({@link rewriteChildUris}) carries the viewer's
 * playback token as `token=<token>` ({@link withToken}). The edge does this for master playlists,
 * and for media playlists with `playlistTokens: 'inline'`.
 */
export function rewritePlaylist(text: string, token: string): string {
  return rewriteChildUris(text, (uri) => withToken(uri, token));
}

/** How a media playlist's child URIs carry the viewer's token: by reference (EXT-X-DEFINE) or written out in each. */
export type PlaylistTokenStyle = 'define' | 'inline';

/** The Variable Reference a media playlist's URIs carry in `define` style (RFC 8216bis §4.3). */
export const TOKEN_VARIABLE_REFERENCE = '{$token}';
/** EXT-X-DEFINE:QUERYPARAM needs compatibility version 11 (RFC 8216bis §7). */
const QUERYPARAM_MIN_VERSION = 11;

/**
 * A media playlist whose child URIs carry the viewer's token by reference (RFC 8216bis §4.4.2.3
 * EXT-X-DEFINE, §4.3 variable substitution): `#EXT-X-DEFINE:QUERYPARAM="token"` after the
 * EXT-X-VERSION line (raised to 11, the version QUERYPARAM needs; added after `#EXTM3U` when
 * absent), and `token={$token}` appended to every child URI. A player takes the value from the
 * `token` query parameter of the URL it loaded the playlist from, which the master playlist's
 * rewritten variant URI (or the player itself) put there. So the body is the same for every
 * viewer (rendered and compressed once per playlist version, like a public one), and a delta
 * update stays small: the token, about 150 characters, is not written into its 30-odd URIs.
 * hls.js, Shaka Player and Apple's players substitute variables; `EDGE_PLAYLIST_TOKENS=inline`
 * serves players that do not. Pure; a playlist without `#EXTM3U` is returned unchanged.
 */
export function referencePlaylistToken(text: string): string {
  const rewritten = rewriteChildUris(text, (uri) => withQueryParam(uri, `token=${TOKEN_VARIABLE_REFERENCE}`));
  const define = '#EXT-X-DEFINE:QUERYPARAM="token"';
  const version = /^#EXT-X-VERSION:(\d+)(\r?)$/m.exec(rewritten);
  if (version) {
    const v = Math.max(Number(version[1]), QUERYPARAM_MIN_VERSION);
    return rewritten.replace(version[0], `#EXT-X-VERSION:${v}${version[2]}\n${define}${version[2]}`);
  }
  const head = /^#EXTM3U(\r?)$/m.exec(rewritten);
  return head ? rewritten.replace(head[0], `#EXTM3U${head[1]}\n#EXT-X-VERSION:${QUERYPARAM_MIN_VERSION}${head[1]}\n${define}${head[1]}`) : text;
}

/** Whether a playlist is a media playlist (it has EXT-X-TARGETDURATION, RFC 8216bis §4.4.3.1), not a master. */
function isMediaPlaylist(text: string): boolean {
  return text.startsWith('#EXTM3U') && text.includes('#EXT-X-TARGETDURATION:');
}

/** Whether a token goes into `text` by reference: a media playlist, in `define` style. */
function tokenByReference(text: string, style: PlaylistTokenStyle): boolean {
  return style === 'define' && isMediaPlaylist(text);
}

/**
 * The `token` of a playlist body's cache key ({@link PlaylistBodyKey}): the viewer's token, or
 * {@link TOKEN_VARIABLE_REFERENCE} for a body that carries it by reference (one body for every
 * viewer; no real token contains `{`), or null without a token.
 */
function bodyTokenKey(text: string, token: string | null, style: PlaylistTokenStyle): string | null {
  return token !== null && tokenByReference(text, style) ? TOKEN_VARIABLE_REFERENCE : token;
}

/**
 * The identity body of a playlist answer (before any Content-Encoding): the Playlist Delta
 * Update of `text` when `skip` (`renderPlaylistDeltaUpdate`, RFC 8216bis §6.2.5.1; `text` itself
 * when no delta applies), then, when a token is given, its child URIs made to carry it: by
 * reference for a media playlist in `define` style ({@link referencePlaylistToken}, the default),
 * else written out ({@link rewritePlaylist}). Pure.
 */
export function renderPlaylistBody(text: string, opts: { skip: boolean; token: string | null; style?: PlaylistTokenStyle }): string {
  const shown = opts.skip ? renderPlaylistDeltaUpdate(text)?.text ?? text : text;
  if (opts.token === null) return shown;
  return tokenByReference(shown, opts.style ?? 'define') ? referencePlaylistToken(shown) : rewritePlaylist(shown, opts.token);
}

/**
 * Whether a conditional GET is answered 304 (RFC 9110 §13.1.1 If-None-Match, §13.1.3
 * If-Modified-Since, compared at one-second resolution; If-Modified-Since only without
 * If-None-Match). `etag` and `lastModified` describe the representation that would be sent.
 */
function isNotModified(req: FastifyRequest, etag: string, lastModified: Date): boolean {
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if (inm) return inm === etag;
  return !!ims && Math.floor(lastModified.getTime() / 1000) <= Math.floor(Date.parse(ims) / 1000);
}

/** The `token` query parameter of a request URL (first one), or undefined. */
function tokenOf(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, string | string[] | undefined> | undefined;
  const v = q?.token;
  return Array.isArray(v) ? v[0] : v;
}

/** One path segment of an object key: no `..`, no separators, a conservative character set. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const CHANNEL_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `token=<anything>` in a URL, for redaction. */
const TOKEN_PARAM = /([?&]token=)[^&#]*/g;

/** A request URL with its playback token replaced by `[redacted]` (tokens are credentials: never logged). */
export function redactPlaybackToken(url: string): string {
  return url.replace(TOKEN_PARAM, '$1[redacted]');
}

// Fastify logs every request's URL; playback tokens travel in the query, so the serializer redacts them.
function redactingLogger(logger: boolean | object): boolean | object {
  if (!logger) return false;
  const base = (typeof logger === 'object' ? logger : {}) as { serializers?: Record<string, unknown> };
  return {
    ...base,
    serializers: {
      ...base.serializers,
      req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactPlaybackToken(req.url), remoteAddress: req.ip }),
    },
  };
}

/** What the edge keeps of a channel's playback policy. */
interface EdgePolicy {
  readonly channelId: string;
  /** `followers` / `allowlist` visibility, or encryption on. */
  readonly tokenRequired: boolean;
  /** The policy's version: a token issued under an older one is refused (PLAYBACK_TOKEN_STALE). */
  readonly version: number;
}

/** Sends the catalogue error `code`; `detail` (a fixed, non-secret reason) replaces the generic message. */
function sendError(reply: FastifyReply, code: EdgeErrorCode, detail?: string): FastifyReply {
  return reply.status(EDGE_ERRORS[code].status).header('cache-control', 'no-store').send({ code, message: detail ?? EDGE_ERRORS[code].message });
}

/**
 * A rendition's object key split: its directory, the object's name (as the media playlist lists
 * it) and the key of the rendition's media playlist (`sessions/<id>/<rendition>/index.m3u8`).
 */
function renditionObject(key: string): { dir: string; uri: string; playlistKey: string } {
  const slash = key.lastIndexOf('/');
  const dir = key.slice(0, slash);
  return { dir, uri: key.slice(slash + 1), playlistKey: mediaPlaylistKey(dir.slice(0, dir.lastIndexOf('/')), dir.slice(dir.lastIndexOf('/') + 1)) };
}

/** Keys of the packager's segments (`.../seg_<msn>.m4s`, `llSegmentUri`): a missing one may be the segment being written. */
const OPEN_SEGMENT_NAME = /\/seg_\d{5,9}\.m4s$/;

/** Keys of a session's master playlists (live `master.m3u8`, VOD `vod.m3u8`): steered when steering is on. */
const MASTER_KEY = /^sessions\/[^/]+\/(?:master|vod)\.m3u8$/;

/** How long a live session's master playlist (the renditions worth waiting for) is cached, ms. */
const MASTER_CACHE_MS = 1000;

/** A playlist as read for a blocking reload: its metadata and text. */
interface StoredPlaylist {
  readonly info: NonNullable<Awaited<ReturnType<ObjectStorage['stat']>>>;
  readonly text: string;
}

/** The session a request's key belongs to, for blocking reloads. */
interface SessionContext {
  readonly sessionId: string;
  /** Is it the current live session of its channel (its playlists may still change)? */
  isLive(): Promise<boolean>;
}

/** Why a blocking reload was answered at once instead of parked (`edge_blocking_reloads_refused_total{reason}`). */
type BlockingRefusal = 'no_session' | 'not_live' | 'unknown_playlist' | 'client_limit' | 'watch_limit';

/** Does the request carry `_HLS_msn` (a blocking reload, RFC 8216bis §6.2.5.2)? */
function isBlockingReload(req: FastifyRequest): boolean {
  return (req.query as Record<string, unknown> | undefined)?._HLS_msn !== undefined;
}

/**
 * Validates the path below a route prefix and returns the object key rest (`a/b/c.m4s`), or
 * null when any segment is empty, `.`/`..`, encoded oddly or outside the allowed characters
 * (path traversal is refused here before storage sees the key, and storage refuses it again).
 */
export function safeKeyRest(rest: string): string | null {
  if (rest.length === 0 || rest.length > 512) return null;
  const parts = rest.split('/');
  for (const p of parts) if (!SEGMENT.test(p) || p === '.' || p === '..' || p.includes('..')) return null;
  return parts.join('/');
}

/** The servers that may take an edge's connections (`EDGE_SERVER`): see {@link EdgeOptions.server}. */
export type EdgeServerKind = 'node' | 'uws';

/** How an edge was built, as listening needs it (listen.ts). */
export interface EdgeBuild {
  /** The server it was built for ({@link EdgeOptions.server}). */
  readonly server: EdgeServerKind;
  /** `trustProxy` compiled; null when no proxy is trusted (the TCP peer is the client). */
  readonly trust: ProxyTrust | null;
  /**
   * The fast path (what the uWS front answers from memory before handing a request on);
   * undefined when the edge logs every request (`accessLog`), so the front hands everything on.
   */
  readonly fast: FastPathOptions | undefined;
  /** The viewers' throughput for `CMSD-Dynamic` ({@link EdgeOptions.cmsd}); listening starts it. */
  readonly throughput: ViewerThroughput | undefined;
}

/** Each edge's {@link EdgeBuild}, recorded by {@link buildEdge}. */
const builds = new WeakMap<FastifyInstance, EdgeBuild>();

/**
 * How `app` was built by {@link buildEdge}.
 * @throws Error for an app buildEdge did not make.
 */
export function edgeBuildOf(app: FastifyInstance): EdgeBuild {
  const build = builds.get(app);
  if (!build) throw new Error('not an edge made by buildEdge');
  return build;
}

/**
 * Makes the fast path (fast-path.ts) and, unless `external` (the uWS front answers it), puts it
 * in front of Fastify's router on the edge's own server: Node's `request` event first offers
 * each request to it, and hands what it leaves to Fastify's handler as before (same server: TLS,
 * timeouts, connection handling and `clientErrorHandler` unchanged). Not made with `accessLog`
 * (Fastify logs each request it routes). Once the app is closing, every request goes to Fastify
 * (which answers 503).
 */
function installFastPath(app: FastifyInstance, external: boolean, answers: Omit<FastPathOptions, 'closing'>, trust: ProxyTrust | null): FastPathOptions {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const options: FastPathOptions = { ...answers, closing: () => closing };
  if (external) return options;
  const fast = createFastObjectHandler(options, trust
    // request.ip as Fastify computes it (the same proxy-addr walk with trustProxy)
    ? (req: IncomingMessage) => clientAddress(req.socket.remoteAddress ?? '', headerText(req.headers['x-forwarded-for']), trust)
    : (req: IncomingMessage) => req.socket.remoteAddress ?? '');
  const [route] = app.server.listeners('request') as RequestListener[];
  if (!route) throw new Error('the edge\'s server has no request listener');
  app.server.removeAllListeners('request');
  app.server.on('request', (req: IncomingMessage, res: Parameters<RequestListener>[1]) => {
    if (!fast(req, res)) route(req, res);
  });
  return options;
}

/** A header's value as one string (repeated headers joined as Node joins them). */
function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The last address of an `X-Forwarded-For` value (the nearest hop's peer); '' when there is none. */
function lastForwardedFor(v: string | undefined): string {
  if (!v) return '';
  return v.slice(v.lastIndexOf(',') + 1).trim();
}

/**
 * Builds the HLS edge/origin (Fastify): serves playlists and segments from object storage.
 * - `GET|HEAD /live/:channelId/*`: the channel's current live session (`sessions/<sessionId>/*`).
 * - `GET|HEAD /sessions/:sessionId/*`: any session's objects by key (VOD playlists, MP4), under
 *   the policy of the session's channel (from the `stream_sessions` read model; an unknown
 *   session is 404).
 * - `GET|HEAD /live/:channelId/manifest.mpd`, `/sessions/:sessionId/vod.mpd`: MPEG-DASH MPDs
 *   rendered from those playlists under the same checks (dash.ts; encrypted channels: 409);
 *   a live segment still being written (listed by the low-latency MPD) is answered as a growing
 *   chunked body of its parts (`serveOpenSegment`, open-segment.ts). `GET /time`: the edge's
 *   clock for the MPDs' UTCTiming.
 * - `GET|HEAD /keys/:sessionId/:index.key`: the session's AES-128 content key (16 raw bytes,
 *   derived from `contentKeySecret`, `Cache-Control: private, no-store`); a valid playback token
 *   for the session's channel is always required.
 * Content-Type and Cache-Control come from storage (live playlists short, segments immutable);
 * ETag / Last-Modified with 304; single byte ranges (MP4 seeking); CORS `*` for browser players;
 * 404 `{ code, message }` for what does not exist; 400 for traversal attempts.
 * Immutable objects (segments, parts, init segments) are answered from an in-memory LRU
 * (`objectCacheBytes`, `createImmutableObjectCache`): storage is asked once per object, and again
 * at most every `objectCacheRevalidateMs` whether it still exists.
 *
 * Signed playback: the query parameter `token` (a playback token of `@live/auth`, issued by
 * `POST /api/streams/{id}/playback-token`) is verified on every playlist, segment, part and key
 * request. It is required when the channel's policy (cached `policyCacheMs`) is `followers` or
 * `allowlist` or encrypts its segments; a public unencrypted channel plays without one, but a
 * present and invalid token is refused there too. Refusals: 401 PLAYBACK_TOKEN_MISSING /
 * INVALID / EXPIRED, 403 PLAYBACK_TOKEN_WRONG_STREAM / WRONG_ADDRESS (the token's address binding
 * is checked against `request.ip`: behind a proxy or CDN that is the proxy's address unless it
 * validates tokens itself) / STALE (the token was issued under an older version of the channel's
 * policy, so a policy change invalidates earlier tokens within `policyCacheMs`), counted in
 * `edge_token_refusals_total{code}`.
 * A playlist requested with a token is rewritten ({@link rewritePlaylist}) so its child URIs
 * carry the token, and is answered `Cache-Control: private, no-store` without ETag or ranges.
 * With `steering`, a session's master playlist (`master.m3u8`, `vod.m3u8`) names the steering
 * server and lists the variants on every edge's Pathway (steering.ts, RFC 8216bis §4.4.6.6),
 * also without ETag.
 * Segments and parts keep their long immutable Cache-Control.
 *
 * Blocking playlist reloads (`_HLS_msn` / `_HLS_part`, RFC 8216bis §6.2.5.2) are parked only
 * for a playlist of the channel's current live session that exists or that its master playlist
 * names; every parked request on one playlist shares one storage poller (`blockingPollMs`), at
 * most `maxWatchedPlaylists` playlists are polled (else 503 BLOCKING_RELOADS_BUSY), and at most
 * `maxBlockingPerClient` requests per client address are parked (else 429
 * TOO_MANY_BLOCKING_RELOADS), both with `Retry-After: 1`. Anything else is answered at once (404).
 * `/metrics`: `edge_blocking_reloads_parked` (gauge), `edge_blocking_reloads_parked_total`,
 * `edge_blocking_reloads_refused_total{reason}`, `edge_blocking_watched_playlists` (gauge); a
 * refused client is logged (warn) once per `offenderLogWindowMs`.
 *
 * With `announcements` (the packager's core NATS `media.<sessionId>`, see feed.ts and
 * live-store.ts) the edge subscribes to each live session a viewer asks for; while a session is
 * fed, its parked blocking reloads are woken by the announcement of a new playlist instead of a
 * storage poll, and its live playlists and recent parts are answered from memory (no storage
 * request); anything not held (older parts, full segments, VOD, a session whose announcements
 * stopped) is read from storage as before. `/metrics`: `edge_announcements_total{kind}`,
 * `edge_live_store_hits_total{kind}`, `edge_live_store_bytes`, `edge_live_sessions`,
 * `edge_blocking_announced_playlists`.
 *
 * Playlists (plain and blocking) are answered through one path (`sendPlaylist`): `_HLS_skip=YES|v2`
 * gets the Playlist Delta Update of a live media playlist (RFC 8216bis §6.2.5.1; the full one
 * for ENDLIST, masters and playlists shorter than CAN-SKIP-UNTIL), alone or with `_HLS_msn`; the
 * body is br or gzip by `Accept-Encoding` (`Vary: Accept-Encoding`, no byte ranges), rendered and
 * compressed once per playlist version, variant, token and encoding (playlist-body.ts;
 * `edge_playlist_bodies_made{encoding}`). The steered master playlist is sent uncompressed.
 *
 * Fast path (fast-path.ts, not with `accessLog`): a GET or HEAD of a segment, part or init
 * segment under `/live/` or `/sessions/` that needs no lookup, no token verification and no
 * storage request (policy, live session and verified token cached, object held in memory) is
 * answered from Node's `request` event before Fastify routes it, with the same headers, ranges
 * and metrics (`edge_fast_path_answers_total` counts them); everything else is routed as below.
 * A new route is registered with Fastify as any other (`app.route` here or in its own module);
 * one that answers object paths under `/live/` or `/sessions/` from other storage keys than
 * `serveKey` does must be left out in `parseFastObjectRequest`.
 *
 * Errors are `{ code, message }` of {@link EDGE_ERRORS}, also for what Fastify (`frameworkErrors`,
 * its body parsers) and Node's HTTP parser (`clientErrorHandler`) refuse; 5xx are logged.
 *
 * CDN cache-key advice: a CDN in front of this edge must keep `token` in its cache key for
 * playlists (they differ per viewer and are `private` anyway) and for segments, parts and keys,
 * unless the CDN validates the same tokens itself (then it may drop `token` from the segment
 * cache key, serving one cached copy to every authorised viewer). Dropping it without validating
 * turns the first authorised request into a public copy for everyone who knows the URL.
 */
export async function buildEdge(opts: EdgeOptions): Promise<FastifyInstance> {
  const server = opts.server ?? 'node';
  const trust = opts.trustProxy && opts.trustProxy.length > 0 ? compileProxyTrust(opts.trustProxy) : null;
  const app = Fastify({
    logger: redactingLogger(opts.logger ?? false), disableRequestLogging: !opts.accessLog, routerOptions: { maxParamLength: 1024 },
    trustProxy: server === 'uws' ? trustBehindLocalFront(opts.trustProxy) : opts.trustProxy && opts.trustProxy.length > 0 ? [...opts.trustProxy] : false,
    ...(opts.https ? { https: opts.https } : {}),
    // Errors raised before routing (bad URL encoding, an over-long parameter): the catalogue's JSON.
    // (no route, so no onSend hook: the CORS header is set here)
    frameworkErrors: (err, _req, reply) => sendError(reply.header('access-control-allow-origin', '*'), edgeErrorCodeOf(err)),
    clientErrorHandler,
  });
  const throughput = opts.cmsd === false ? undefined : createViewerThroughput({ serverId: opts.steering?.pathwayId ?? 'edge', log: app.log });
  if (throughput) app.addHook('onClose', async () => throughput.close());
  // The viewer's TCP connection: Node's socket, or the address the uWS front appended to X-Forwarded-For.
  const tcpPeerOf = server === 'uws'
    ? (req: FastifyRequest) => lastForwardedFor(headerText(req.headers['x-forwarded-for']))
    : (req: FastifyRequest) => req.socket.remoteAddress ?? '';
  /** Adds `CMSD-Dynamic` to an object's answer when the viewer's throughput is known (throughput.ts). */
  const addCmsd = (req: FastifyRequest, reply: FastifyReply): void => {
    const value = throughput?.headerFor(tcpPeerOf(req), req.ip);
    if (value) reply.header(CMSD_DYNAMIC_HEADER, value);
  };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // The fast path counts in plain numbers, added to their series when /metrics is read (a labelled `inc` hashes its labels on every call).
  const fastCounts = { 200: 0, 206: 0, liveObjects: 0 };
  const requests = new Counter({
    name: 'edge_requests_total', help: 'Edge object requests by kind and status', labelNames: ['kind', 'status'], registers: [registry],
    collect() {
      for (const status of [200, 206] as const) {
        if (fastCounts[status] > 0) this.inc({ kind: 'object', status }, fastCounts[status]);
        fastCounts[status] = 0;
      }
    },
  });
  const tokenRefusals = new Counter({ name: 'edge_token_refusals_total', help: 'Playback requests refused for their playback token, by error code', labelNames: ['code'], registers: [registry] });
  const cacheMs = opts.liveLookupCacheMs ?? 1000;
  const policyMs = opts.policyCacheMs ?? 2000;
  const watcher = createPlaylistWatcher(opts.storage, {
    maxKeys: opts.maxWatchedPlaylists ?? DEFAULT_MAX_WATCHED_PLAYLISTS, ...(opts.blockingPollMs !== undefined ? { pollMs: opts.blockingPollMs } : {}),
  });
  // parked requests per client address (only the per-address cap: the watcher bounds the total work)
  const clients = new ConnectionCounter({ maxPerAddress: opts.maxBlockingPerClient ?? DEFAULT_MAX_BLOCKING_PER_CLIENT, maxTotal: Infinity });
  const offenders = new OffenderLog({ windowMs: opts.offenderLogWindowMs ?? 60_000 });
  // Fed by announcements: live playlists and recent parts in memory, parked reloads woken by them.
  const store = opts.announcements ? createLiveStore(opts.live) : null;
  const announcements = new Counter({ name: 'edge_announcements_total', help: 'Media announcements received, by kind (invalid: refused by the decoder)', labelNames: ['kind'], registers: [registry] });
  const liveHits = new Counter({
    name: 'edge_live_store_hits_total', help: 'Requests answered from the live store (announced playlists and parts), by kind', labelNames: ['kind'], registers: [registry],
    collect() {
      if (fastCounts.liveObjects > 0) this.inc({ kind: 'object' }, fastCounts.liveObjects);
      fastCounts.liveObjects = 0;
    },
  });
  const feed = store && opts.announcements ? createMediaFeed({
    source: opts.announcements, store, ...(opts.live?.maxSessions !== undefined ? { maxSessions: opts.live.maxSessions } : {}),
    ...(opts.live?.idleMs !== undefined ? { idleMs: opts.live.idleMs } : {}), ...(opts.live?.freshMs !== undefined ? { freshMs: opts.live.freshMs } : {}),
    onMessage: (a) => announcements.inc({ kind: a instanceof Error ? 'invalid' : a.kind }),
  }) : null;
  const announcedWatcher = store ? createAnnouncedPlaylistWatcher(store, { maxKeys: opts.maxWatchedPlaylists ?? DEFAULT_MAX_WATCHED_PLAYLISTS }) : null;
  app.addHook('onClose', async () => feed?.close());
  new Gauge({ name: 'edge_live_store_bytes', help: 'Bytes of announced playlists and parts held in memory', registers: [registry], collect() { this.set(store?.bytes() ?? 0); } });
  new Gauge({ name: 'edge_live_sessions', help: 'Live sessions whose media announcements the edge subscribes to', registers: [registry], collect() { this.set(feed?.sessions() ?? 0); } });
  new Gauge({ name: 'edge_blocking_reloads_parked', help: 'Blocking playlist reloads (RFC 8216bis 6.2.5.2) parked, waiting for their playlist to change', registers: [registry], collect() { this.set(watcher.waiting() + (announcedWatcher?.waiting() ?? 0)); } });
  new Gauge({ name: 'edge_blocking_watched_playlists', help: 'Distinct playlists polled for parked blocking reloads', registers: [registry], collect() { this.set(watcher.watchedKeys()); } });
  new Gauge({ name: 'edge_blocking_announced_playlists', help: 'Distinct playlists with parked blocking reloads woken by announcements (not polled)', registers: [registry], collect() { this.set(announcedWatcher?.watchedKeys() ?? 0); } });
  const blockingParks = new Counter({ name: 'edge_blocking_reloads_parked_total', help: 'Blocking playlist reloads that were parked (waited for a playlist change)', registers: [registry] });
  const hintedParts = new Counter({
    name: 'edge_hinted_part_requests_total', labelNames: ['outcome'], registers: [registry],
    help: 'Requests for parts not written yet (RFC 8216bis §6.2.6 preload hints): held until written then served (held), listed by the time the playlist was read (listed), answered 404 at once or after the wait (gone), 503 after three target durations (timeout)',
  });
  const openSegments = new Counter({
    name: 'edge_open_segment_requests_total', labelNames: ['outcome'], registers: [registry],
    help: 'Requests for a segment still being written (low-latency DASH), by how they ended: complete (every part sent), gone (404, or cut short), timeout (a part did not come), aborted (client left), encrypted (409)',
  });
  const blockingRefusals = new Counter({
    name: 'edge_blocking_reloads_refused_total', labelNames: ['reason'], registers: [registry],
    help: 'Blocking playlist reloads answered at once instead of parked: no_session / not_live / unknown_playlist (404), client_limit (429), watch_limit (503)',
  });
  /** Live sessions' master playlists: the keys of the renditions they name (null: no master yet). */
  const masterCache = new Map<string, { keys: Set<string> | null; at: number }>();
  /** Playlist bodies (delta, token, encoding) rendered once per playlist version, shared by every request (playlist-body.ts). */
  const bodies = createPlaylistBodyCache(opts.playlistBodies);
  new Gauge({
    name: 'edge_playlist_bodies_made', help: 'Playlist bodies rendered (identity) and compressed (gzip, br) since start, by encoding', labelNames: ['encoding'], registers: [registry],
    collect() { for (const [encoding, n] of Object.entries(bodies.made)) this.set({ encoding }, n); },
  });
  /** Reads of a playlist in flight, shared by every request reading it (parked requests woken together). */
  const playlistReads = new Map<string, Promise<StoredPlaylist | null>>();
  const objectCacheBytes = opts.objectCacheBytes ?? DEFAULT_EDGE_CACHE_BYTES;
  const objectCache = objectCacheBytes > 0
    ? createImmutableObjectCache({ storage: opts.storage, maxBytes: objectCacheBytes, ...(opts.objectCacheRevalidateMs !== undefined ? { revalidateMs: opts.objectCacheRevalidateMs } : {}) })
    : null;
  new Counter({
    name: 'edge_object_cache_lookups_total', labelNames: ['result'], registers: [registry],
    help: 'Object cache lookups of segments, parts and init segments: hit (from memory), revalidated (one storage stat, body from memory), miss (read from storage), uncacheable (served from storage), missing',
    collect() {
      if (!objectCache) return;
      this.reset();
      for (const [result, n] of Object.entries(objectCache.lookups)) this.inc({ result }, n);
    },
  });
  // Database lookups in two lanes: names known to exist at once, never-seen or missing ones through the cold lane (lookups.ts).
  const cold = createColdLane(opts.coldLookupConcurrency, opts.coldLookupQueue);
  new Gauge({ name: 'edge_cold_lookups_queued', help: 'Database lookups of names not known to exist waiting for a cold slot', registers: [registry], collect() { this.set(cold.queued); } });
  const coldRefusals = new Counter({ name: 'edge_cold_lookups_refused_total', help: 'Requests answered 503 LOOKUPS_BUSY: the cold lookups queue was full', registers: [registry] });
  const policyCache = createLookupCache<EdgePolicy>({
    cold, ttlMs: () => policyMs,
    load: async (channelId) => {
      const p = await channelPlaybackPolicy(opts.db, channelId);
      return p ? { channelId, tokenRequired: playbackTokenRequired(p), version: p.version } : null;
    },
  });
  // A session never changes channel: a known mapping is kept longer than an unknown one.
  const sessionCache = createLookupCache<string>({
    cold, ttlMs: (channelId) => (channelId ? 60_000 : policyMs), maxEntries: 50_000,
    load: (sessionId) => sessionChannelId(opts.db, sessionId),
  });
  const liveCache = createLookupCache<string>({
    cold, ttlMs: () => cacheMs, known: (channelId) => policyCache.known(channelId),
    load: async (channelId) => (await currentLiveSession(opts.db, channelId))?.sessionId ?? null,
  });
  const ring: PlaybackKeyRing | null = opts.playbackKeys && opts.playbackKeys.length > 0 ? playbackKeyRing(opts.playbackKeys) : null;
  /** `edge_requests_total` children by kind and status: `inc({ labels })` hashes the labels on every call. */
  const requestCounters = new Map<string, ReturnType<typeof requests.labels>>();
  const countRequest = (kind: string, status: number): void => {
    const k = `${kind} ${status}`;
    let c = requestCounters.get(k);
    if (!c) {
      c = requests.labels({ kind, status });
      requestCounters.set(k, c);
    }
    c.inc();
  };
  /** Tokens that verified, by token, channel, session and client address: their expiry (epoch seconds) and policy version. */
  const verifiedTokens = new Map<string, { exp: number; policyVersion: number }>();
  if (opts.contentKeySecret && opts.contentKeySecret.length < 16) throw new TypeError('contentKeySecret must be at least 16 bytes');
  if (opts.steering) checkEdgeSteering(opts.steering);

  /** The channel's policy as the edge needs it (null: no such channel). @throws LookupsBusyError (lookups.ts). */
  const policyOf = (channelId: string): Promise<EdgePolicy | null> => policyCache.get(channelId);
  /** The channel of a session (null: no such session). @throws LookupsBusyError. */
  const channelOfSession = (sessionId: string): Promise<string | null> => sessionCache.get(sessionId);

  function refuse(reply: FastifyReply, code: PlaybackTokenErrorCode): FastifyReply {
    tokenRefusals.inc({ code });
    return sendError(reply, code);
  }

  /**
   * Checks the request's token against the channel (and session) and the channel's policy
   * version (`policy`, null when unknown). Returns the verified token to propagate into
   * playlists, null when none is needed and none was given, or a refusal.
   */
  function authorise(req: FastifyRequest, channelId: string, sessionId: string | null, policy: EdgePolicy | null, required = policy?.tokenRequired ?? false): { token: string | null } | { refused: PlaybackTokenErrorCode } {
    const token = tokenOf(req);
    const memo = memoVerdict(token, req.ip, channelId, sessionId, policy, required);
    if (memo !== undefined) return memo;
    if (!ring || token === undefined) return { refused: 'PLAYBACK_TOKEN_INVALID' };
    try {
      const claims = verifyPlaybackToken(token, ring, { channelId, sessionId, clientAddress: req.ip, ...(policy ? { policyVersion: policy.version } : {}) });
      if (verifiedTokens.size >= 20_000) verifiedTokens.clear();
      verifiedTokens.set(tokenMemoKey(token, channelId, sessionId, req.ip), { exp: claims.exp, policyVersion: claims.policyVersion });
      return { token };
    } catch (err) {
      if (err instanceof PlaybackTokenError) return { refused: err.code };
      throw err;
    }
  }

  /** Key of {@link verifiedTokens}. */
  const tokenMemoKey = (token: string, channelId: string, sessionId: string | null, ip: string): string => `${token}\n${channelId}\n${sessionId ?? ''}\n${ip}`;

  /**
   * The verdict on `token` that needs no verification: no token (null; refused when
   * `required`), a token that verified before for this channel, session and client address and
   * has not expired (refused as stale under a newer policy version), or no ring to verify with.
   * Undefined: the token must be verified. Synchronous and cheap (the fast path's check).
   */
  function memoVerdict(token: string | undefined, ip: string, channelId: string, sessionId: string | null, policy: EdgePolicy | null, required: boolean): { token: string | null } | { refused: PlaybackTokenErrorCode } | undefined {
    if (token === undefined || token === '') return required ? { refused: 'PLAYBACK_TOKEN_MISSING' } : { token: null };
    if (!ring) return { refused: 'PLAYBACK_TOKEN_INVALID' };
    // A player sends the same token for every part and segment: remember what verified (with
    // the same ring, channel, session and address the answer can only change at expiry or with
    // a new policy version).
    const hit = verifiedTokens.get(tokenMemoKey(token, channelId, sessionId, ip));
    if (hit === undefined || hit.exp * 1000 <= Date.now()) return undefined;
    return policy && hit.policyVersion < policy.version ? { refused: 'PLAYBACK_TOKEN_STALE' } : { token };
  }

  /**
   * The object a request on the fast path (fast-path.ts) is answered with, when everything it
   * needs is in memory: the channel's (`/live/`) or session's (`/sessions/`) policy and live
   * session cached, the token accepted by {@link memoVerdict}, and the object held by the live
   * store or fresh in the object cache. Undefined otherwise: the routes below answer, with the
   * same checks, lookups and refusals, and fill these caches.
   */
  function resolveInMemory(r: FastObjectRequest, ip: string): MemoryObject | undefined {
    const slash = r.rest.indexOf('/');
    if (slash < 0) return undefined;
    const id = r.rest.slice(0, slash);
    const keyRest = safeKeyRest(r.rest.slice(slash + 1));
    if (!CHANNEL_ID.test(id) || !keyRest) return undefined;
    const now = Date.now();
    const channelId = r.route === 'live' ? id : sessionCache.peek(id, now);
    if (!channelId) return undefined;
    const policy = policyCache.peek(channelId, now);
    const sessionId = r.route === 'live' ? liveCache.peek(channelId, now) : id;
    if (!policy || !sessionId) return undefined;
    const verdict = memoVerdict(r.token, ip, channelId, sessionId, policy, policy.tokenRequired);
    if (!verdict || 'refused' in verdict) return undefined;
    const key = r.route === 'live' ? `${sessionKeyPrefix(sessionId)}/${keyRest}` : `sessions/${id}/${keyRest}`;
    const live = store?.object(key);
    if (live) {
      fastCounts.liveObjects++;
      if (r.route === 'live') feed?.touch(sessionId);
      return live;
    }
    const cached = objectCache?.peek(key);
    if (cached && r.route === 'live') feed?.touch(sessionId);
    return cached;
  }

  /** The channel's live session (null: offline or no such channel). @throws LookupsBusyError. */
  const liveSessionOf = (channelId: string): Promise<string | null> => liveCache.get(channelId);

  async function serveKey(req: FastifyRequest, reply: FastifyReply, key: string, token: string | null, session: SessionContext, holdHinted = true): Promise<FastifyReply> {
    const kind = key.endsWith('.m3u8') ? 'playlist' : 'object';
    let skip = false;
    if (kind === 'playlist') {
      const directives = parseBlockingReloadQuery((req.query ?? {}) as Record<string, unknown>);
      if (!directives.ok) {
        requests.inc({ kind, status: 400 });
        return sendError(reply, 'BAD_DELIVERY_DIRECTIVE', directives.reason);
      }
      if (directives.request.msn !== undefined) return serveBlockingReload(req, reply, key, directives.request, token, session);
      skip = directives.request.skip !== undefined;
    }
    // Announced parts are immutable: any copy held is good; announced playlists only while the session is fed.
    const live = store ? (kind === 'object' ? store.object(key) : feed!.isFed(session.sessionId) ? store.playlist(key) : undefined) : undefined;
    if (live) liveHits.inc({ kind });
    // Immutable objects (segments, parts) come from memory: no stat + open + read per request.
    let cached: CachedObject | null = live ?? null;
    let info: Awaited<ReturnType<ObjectStorage['stat']>>;
    if (live) {
      info = live.info;
    } else if (kind === 'object' && objectCache) {
      const hit = await objectCache.get(key);
      cached = hit.kind === 'hit' ? hit.object : null;
      info = hit.kind === 'hit' ? hit.object.info : hit.kind === 'uncacheable' ? hit.info : null;
    } else {
      info = await opts.storage.stat(key);
    }
    if (!info) {
      // The segment being written (low-latency DASH): a growing answer of its parts.
      if (holdHinted && kind === 'object' && OPEN_SEGMENT_NAME.test(key)) return serveOpenSegment(req, reply, key, token, session);
      // A part hinted by EXT-X-PRELOAD-HINT may be asked for before it is written: held, not 404.
      if (holdHinted && kind === 'object' && key.endsWith('.m4s')) return serveHintedPart(req, reply, key, token, session);
      requests.inc({ kind, status: 404 });
      return sendError(reply, 'NOT_FOUND');
    }
    if (kind === 'playlist' && opts.steering && MASTER_KEY.test(key)) return serveSteeredMaster(req, reply, key, info, token, session.sessionId);
    if (kind === 'playlist') {
      // Playlists are small and compressed: no ranges. With a token: a per-viewer body, no ETag, never in a shared cache.
      const body = cached ? cached.body : await opts.storage.read(key);
      if (!body) {
        requests.inc({ kind, status: 404 });
        return sendError(reply, 'NOT_FOUND');
      }
      return sendPlaylist(req, reply, info, body.toString('utf8'), token, skip, true);
    }
    const range = parseRange(req.headers.range, info.size);
    if (range === 'unsatisfiable') {
      requests.inc({ kind, status: 416 });
      return reply.status(416).header('content-range', `bytes */${info.size}`).header('cache-control', 'no-store')
        .send({ code: 'RANGE_NOT_SATISFIABLE', message: EDGE_ERRORS.RANGE_NOT_SATISFIABLE.message });
    }
    reply.header('content-type', info.contentType)
      .header('cache-control', info.cacheControl)
      .header('etag', info.etag)
      .header('last-modified', cached ? cached.lastModifiedHttp : info.lastModified.toUTCString())
      .header('accept-ranges', 'bytes');
    addCmsd(req, reply);
    if (isNotModified(req, info.etag, info.lastModified)) {
      requests.inc({ kind, status: 304 });
      return reply.status(304).send();
    }
    const status = range ? 206 : 200;
    if (range) reply.header('content-range', `bytes ${range.start}-${range.end}/${info.size}`);
    reply.header('content-length', String(range ? range.end - range.start + 1 : info.size));
    countRequest(kind, status);
    if (req.method === 'HEAD') return reply.status(status).send();
    if (cached) return reply.status(status).send(range ? cached.body.subarray(range.start, range.end + 1) : cached.body);
    const stream = await opts.storage.createReadStream(key, range ?? undefined);
    if (!stream) return sendError(reply, 'NOT_FOUND');
    return reply.status(status).send(stream);
  }

  /**
   * A session's master playlist with content steering (steering.ts): the viewer's token in its
   * child URIs when given, then this edge's Pathway, the other edges' copies of the variants
   * (resolved against this request's path on their origins) and the steering manifest named by
   * `streamId` (the session). No ETag or ranges: the body is not the stored object's.
   */
  async function serveSteeredMaster(req: FastifyRequest, reply: FastifyReply, key: string, info: NonNullable<Awaited<ReturnType<ObjectStorage['stat']>>>, token: string | null, streamId: string): Promise<FastifyReply> {
    const body = await opts.storage.read(key);
    if (!body) {
      requests.inc({ kind: 'playlist', status: 404 });
      return sendError(reply, 'NOT_FOUND');
    }
    const steering = opts.steering!;
    const stored = body.toString('utf8');
    const text = addContentSteering(token !== null ? rewritePlaylist(stored, token) : stored, {
      pathwayId: steering.pathwayId, pathways: steering.pathways, serverUri: steeringServerUri(steering.serverUrl, streamId), masterPath: req.url.split('?')[0]!,
    });
    requests.inc({ kind: 'playlist', status: 200 });
    reply.header('content-type', info.contentType).header('cache-control', token !== null ? TOKENISED_PLAYLIST_CACHE_CONTROL : info.cacheControl)
      .header('content-length', String(Buffer.byteLength(text)));
    return reply.status(200).send(req.method === 'HEAD' ? undefined : text);
  }

  /**
   * Reads a playlist (stat, then body); concurrent reads of one key share a single storage read.
   * `fromStore`: the live store's copy when it holds one (a session fed by announcements).
   */
  function readPlaylist(key: string, fromStore = false): Promise<StoredPlaylist | null> {
    const held = fromStore ? store?.playlist(key) : undefined;
    if (held) return Promise.resolve(held);
    let p = playlistReads.get(key);
    if (!p) {
      p = (async () => {
        const info = await opts.storage.stat(key);
        const body = info ? await opts.storage.read(key) : null;
        return info && body ? { info, text: body.toString('utf8') } : null;
      })().finally(() => playlistReads.delete(key));
      playlistReads.set(key, p);
    }
    return p;
  }

  /** Does the live session's master playlist name `key` (a rendition that may appear soon)? */
  async function isRenditionOf(sessionId: string, key: string): Promise<boolean> {
    let hit = masterCache.get(sessionId);
    if (!hit || Date.now() - hit.at >= MASTER_CACHE_MS) {
      const masterKey = masterPlaylistKey(sessionKeyPrefix(sessionId));
      const master = await readPlaylist(masterKey);
      hit = { keys: master ? masterPlaylistChildKeys(masterKey, master.text) : null, at: Date.now() };
      if (masterCache.size >= 10_000) masterCache.clear();
      masterCache.set(sessionId, hit);
    }
    return hit.keys?.has(key) ?? false;
  }

  /**
   * Answers a blocking reload at once instead of parking it: counts it by `reason`, and logs the
   * client once per `offenderLogWindowMs` (with how many refusals the window did not log).
   */
  function refuseBlocking(req: FastifyRequest, reply: FastifyReply, reason: BlockingRefusal, code: EdgeErrorCode): FastifyReply {
    blockingRefusals.inc({ reason });
    requests.inc({ kind: 'playlist', status: EDGE_ERRORS[code].status });
    const due = offenders.record(normalizeAddress(req.ip));
    if (due.log) req.log.warn({ client: req.ip, reason, refusedBefore: due.suppressed }, 'blocking playlist reload refused (logged once per client per window)');
    if (code === 'TOO_MANY_BLOCKING_RELOADS' || code === 'BLOCKING_RELOADS_BUSY') reply.header('retry-after', '1');
    return sendError(reply, code);
  }

  /**
   * Answers a playlist request with `text`, the playlist version `info` describes: its Playlist
   * Delta Update when `skip` (`_HLS_skip=YES|v2`, RFC 8216bis §6.2.5.1; the full playlist when no
   * delta applies: ENDLIST, a master, shorter than CAN-SKIP-UNTIL), rewritten with `token` when
   * given, in the encoding `Accept-Encoding` prefers (br, gzip, identity; `Vary: Accept-Encoding`).
   * The body comes from `bodies`: rendered and compressed once per version, variant, token and
   * encoding, however many requests ask. `conditional` (plain requests without a token): ETag
   * (the stored one for the full identity body, suffixed for the others) and Last-Modified,
   * answered 304 when they match; blocking reloads get neither (they ask for a newer version).
   */
  async function sendPlaylist(req: FastifyRequest, reply: FastifyReply, info: StoredPlaylist['info'], text: string, token: string | null, skip: boolean, conditional: boolean): Promise<FastifyReply> {
    const encoding = negotiatePlaylistEncoding(req.headers['accept-encoding']);
    const variant = skip ? 'delta' : 'full';
    const style = opts.playlistTokens ?? 'define';
    const body = await bodies.body({ key: info.key, etag: info.etag, variant, token: bodyTokenKey(text, token, style), encoding }, () => renderPlaylistBody(text, { skip, token, style }));
    reply.header('content-type', info.contentType).header('vary', 'accept-encoding')
      .header('cache-control', token !== null ? TOKENISED_PLAYLIST_CACHE_CONTROL : info.cacheControl)
      .header('content-length', String(body.length));
    if (encoding !== 'identity') reply.header('content-encoding', encoding);
    if (conditional && token === null) {
      const suffix = variant === 'full' && encoding === 'identity' ? '' : `-${variant}-${encoding}`;
      const etag = info.etag.endsWith('"') ? `${info.etag.slice(0, -1)}${suffix}"` : `${info.etag}${suffix}`;
      reply.header('etag', etag).header('last-modified', info.lastModified.toUTCString());
      if (isNotModified(req, etag, info.lastModified)) {
        countRequest('playlist', 304);
        return reply.status(304).send();
      }
    }
    countRequest('playlist', 200);
    return reply.status(200).send(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * A blocking playlist reload (RFC 8216bis §6.2.5.2): answers once the playlist holds media
   * sequence `_HLS_msn` (and part `_HLS_part`), 400 for a directive beyond the spec's limits,
   * 503 after three target durations. The answer is the playlist as stored (rewritten with the
   * token when one was given), never a 304: a blocking request asks for a newer version.
   *
   * Only what can change soon is waited for, and within bounds; everything else is answered at
   * once (counted in `edge_blocking_reloads_refused_total{reason}`; the routes answer an offline
   * channel or an unknown session before this, counted as `no_session`):
   * - a playlist of a session that is not live: 404 SESSION_NOT_LIVE (`not_live`);
   * - a playlist that does not exist and is not named by the live session's master playlist:
   *   404 NOT_FOUND (`unknown_playlist`), so made-up names never start a poller;
   * - a client with `maxBlockingPerClient` parked requests: 429 TOO_MANY_BLOCKING_RELOADS with
   *   `Retry-After` (`client_limit`);
   * - a new playlist while `maxWatchedPlaylists` are watched: 503 BLOCKING_RELOADS_BUSY with
   *   `Retry-After` (`watch_limit`).
   * A master playlist (no EXT-X-TARGETDURATION: the directives apply to media playlists only)
   * is answered as it is.
   */
  async function serveBlockingReload(req: FastifyRequest, reply: FastifyReply, key: string, request: BlockingReloadRequest, token: string | null, session: SessionContext): Promise<FastifyReply> {
    // Fed by announcements: read the live store and wait for the next announcement, not a poll.
    const fed = feed?.isFed(session.sessionId) ?? false;
    const first = await readPlaylist(key, fed);
    if (first) {
      if (!/^#EXT-X-TARGETDURATION:/m.test(first.text)) return sendPlaylist(req, reply, first.info, first.text, token, false, false);
      const d = decideBlockingReload(request, first.text);
      if (d.action === 'serve') return sendPlaylist(req, reply, first.info, first.text, token, request.skip !== undefined, false);
      if (d.action === 'reject') {
        requests.inc({ kind: 'playlist', status: 400 });
        return sendError(reply, 'BAD_DELIVERY_DIRECTIVE', d.reason);
      }
    }
    const parked = await parkOnPlaylist(req, reply, key, request, first, fed, session);
    if ('refused' in parked) return parked.refused;
    const { result, latest } = parked;
    if (result.status === 200 && latest) return sendPlaylist(req, reply, latest.info, result.text, token, request.skip !== undefined, false);
    const status = result.status === 200 ? 404 : result.status;
    requests.inc({ kind: 'playlist', status });
    if (status === 404) return sendError(reply, 'NOT_FOUND');
    if (result.status === 400) return sendError(reply, 'BAD_DELIVERY_DIRECTIVE', result.reason);
    return sendError(reply, 'PART_NOT_READY');
  }

  /**
   * Holds `req` until the media playlist at `key` satisfies `request` (`awaitBlockingReload`:
   * woken by the playlist watcher, or by announcements when the session is `fed`; three target
   * durations at most), within the edge's bounds: refused at once, with the reply sent (see
   * {@link serveBlockingReload}), when the session is not live, when `first` is null and the
   * live master does not name `key`, at the client's parked limit or the watched-playlist cap.
   * Otherwise resolves with the wait's result and the playlist version last read.
   */
  async function parkOnPlaylist(
    req: FastifyRequest, reply: FastifyReply, key: string, request: BlockingReloadRequest, first: StoredPlaylist | null, fed: boolean, session: SessionContext,
  ): Promise<{ refused: FastifyReply } | { result: Awaited<ReturnType<typeof awaitBlockingReload>>; latest: StoredPlaylist | null }> {
    if (!(await session.isLive())) return { refused: refuseBlocking(req, reply, 'not_live', 'SESSION_NOT_LIVE') };
    feed?.touch(session.sessionId);
    if (!first && !(await isRenditionOf(session.sessionId, key))) return { refused: refuseBlocking(req, reply, 'unknown_playlist', 'NOT_FOUND') };
    const held = holdOnPlaylist(req, reply, key, fed);
    if ('refused' in held) return held;
    const { watch } = held;
    blockingParks.inc();
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    req.raw.once('close', onClose);
    let latest = first;
    let pending: StoredPlaylist | null | undefined = first;
    try {
      const result = await awaitBlockingReload(request, {
        read: async () => {
          // The first read is the caller's: reuse it.
          if (pending === undefined) latest = await readPlaylist(key, fed);
          pending = undefined;
          return latest?.text ?? null;
        },
        changed: () => watch.changed(latest?.info.etag ?? null),
        signal: abort.signal,
      });
      return { result, latest };
    } finally {
      req.raw.off('close', onClose);
      held.release();
    }
  }

  /**
   * Takes the places a held request needs, within the blocking reloads' bounds: one of the
   * client's `maxBlockingPerClient` and a watch of the playlist at `key` (the announcements' when
   * `fed`, else the storage poll's; at most `maxWatchedPlaylists`). Refused with the reply sent
   * (429 TOO_MANY_BLOCKING_RELOADS, 503 BLOCKING_RELOADS_BUSY); else `release()` gives both back.
   */
  function holdOnPlaylist(req: FastifyRequest, reply: FastifyReply, key: string, fed: boolean): { refused: FastifyReply } | { watch: NonNullable<ReturnType<typeof watcher.watch>>; release: () => void } {
    const client = req.ip;
    if (clients.tryOpen(client)) return { refused: refuseBlocking(req, reply, 'client_limit', 'TOO_MANY_BLOCKING_RELOADS') };
    const watch = (fed ? announcedWatcher! : watcher).watch(key);
    if (!watch) {
      clients.release(client);
      return { refused: refuseBlocking(req, reply, 'watch_limit', 'BLOCKING_RELOADS_BUSY') };
    }
    return {
      watch,
      release: () => {
        watch.close();
        clients.release(client);
      },
    };
  }

  /**
   * A part that storage does not hold (yet), requested from a live session (RFC 8216bis §6.2.6:
   * a request for a preload-hinted resource is treated as a blocking request). Decided against
   * the rendition's media playlist (`decideHintedPartRequest`): the hinted part, or a later
   * one within the Advance Part Limit, is held like a blocking reload until the playlist lists
   * it (or a later part), then served as any object (a range of it included); 404 NOT_FOUND at
   * once for a part that can no longer appear, or when the wait ends without it; 503
   * PART_NOT_READY after three target durations; the blocking reloads' bounds apply (429, 503).
   * Counted in `edge_hinted_part_requests_total{outcome}`.
   */
  async function serveHintedPart(req: FastifyRequest, reply: FastifyReply, key: string, token: string | null, session: SessionContext): Promise<FastifyReply> {
    const { uri, playlistKey } = renditionObject(key);
    const fed = feed?.isFed(session.sessionId) ?? false;
    const first = await readPlaylist(playlistKey, fed);
    const decision = first ? decideHintedPartRequest(first.text, uri) : { action: 'gone' as const };
    const gone = (): FastifyReply => {
      hintedParts.inc({ outcome: 'gone' });
      requests.inc({ kind: 'object', status: 404 });
      return sendError(reply, 'NOT_FOUND');
    };
    if (decision.action === 'gone') return gone();
    if (decision.action === 'wait') {
      const parked = await parkOnPlaylist(req, reply, playlistKey, decision.request, first, fed, session);
      if ('refused' in parked) return parked.refused;
      if (parked.result.status !== 200) {
        hintedParts.inc({ outcome: 'timeout' });
        requests.inc({ kind: 'object', status: 503 });
        return sendError(reply, 'PART_NOT_READY');
      }
      if (!parked.latest || decideHintedPartRequest(parked.latest.text, uri).action !== 'listed') return gone();
    }
    hintedParts.inc({ outcome: decision.action === 'wait' ? 'held' : 'listed' });
    return serveKey(req, reply, key, token, session, false);
  }

  /** The bytes of an immutable object: the live store's copy, the object cache's, else storage's; null when missing. */
  async function readObjectBody(key: string): Promise<Buffer | null> {
    const live = store?.object(key);
    if (live) return live.body;
    if (objectCache) {
      const hit = await objectCache.get(key);
      if (hit.kind === 'hit') return hit.object.body;
    }
    return opts.storage.read(key);
  }

  /**
   * A segment that storage does not hold (yet), requested from a live session: low-latency DASH
   * lists the segment being written and players request it early (open-segment.ts). Decided
   * against the rendition's media playlist (`planOpenSegment`): the open segment (or the hinted
   * next one without a part yet) is answered 200 with a growing chunked body of its parts, ended
   * with its last part (HEAD: the headers only); a segment that became complete meanwhile is
   * served as stored; 404 NOT_FOUND for one that can no longer appear or a session that is not
   * live; 409 DASH_ENCRYPTED for an encrypted rendition (its parts are encrypted one by one).
   * Held like the blocking reloads, within their bounds (429 per client address, 503 watched
   * playlists), for the whole response. Counted in `edge_open_segment_requests_total{outcome}`.
   */
  async function serveOpenSegment(req: FastifyRequest, reply: FastifyReply, key: string, token: string | null, session: SessionContext): Promise<FastifyReply> {
    const { dir, uri, playlistKey } = renditionObject(key);
    const fed = feed?.isFed(session.sessionId) ?? false;
    const first = await readPlaylist(playlistKey, fed);
    const plan = first ? planOpenSegment(first.text, uri, 0) : { action: 'gone' as const };
    const answer = (outcome: OpenSegmentEnd | 'encrypted' | 'refused', code: EdgeErrorCode): FastifyReply => {
      openSegments.inc({ outcome });
      requests.inc({ kind: 'object', status: EDGE_ERRORS[code].status });
      return sendError(reply, code);
    };
    if (plan.action === 'encrypted') return answer('encrypted', 'DASH_ENCRYPTED');
    if (plan.action === 'gone' || !first || !(await session.isLive())) return answer('gone', 'NOT_FOUND');
    // complete by now (written between the stat and the playlist read): as stored
    if (plan.action === 'rest' || (plan.action === 'send' && plan.last)) return serveKey(req, reply, key, token, session, false);
    feed?.touch(session.sessionId);
    const held = holdOnPlaylist(req, reply, playlistKey, fed);
    if ('refused' in held) return held.refused;
    const { watch, release } = held;
    reply.header('content-type', contentTypeFor(key)).header('cache-control', CACHE_CONTROL.segment);
    addCmsd(req, reply);
    countRequest('object', 200);
    if (req.method === 'HEAD') {
      release();
      return reply.status(200).send();
    }
    const body = new PassThrough();
    const abort = new AbortController();
    reply.raw.once('close', () => abort.abort());
    body.once('close', () => abort.abort());
    const io = {
      readPlaylist: async () => {
        const p = await readPlaylist(playlistKey, fed);
        return p ? { text: p.text, etag: p.info.etag } : null;
      },
      changed: (etag: string | null) => watch.changed(etag),
      readObject: (name: string) => readObjectBody(`${dir}/${name}`),
    };
    pumpOpenSegment(io, uri, { text: first.text, etag: first.info.etag }, body, abort.signal).then((end) => {
      openSegments.inc({ outcome: end });
      // only a complete segment ends the chunked body cleanly; anything else cuts it short, so no cache keeps a partial segment
      if (end === 'complete') body.end();
      else body.destroy();
    }, (err: unknown) => {
      openSegments.inc({ outcome: 'gone' });
      req.log.warn({ err, key }, 'open segment answer failed');
      body.destroy();
    }).finally(release);
    return reply.status(200).send(body);
  }

  // callback style: no promise per response
  app.addHook('onSend', (_req, reply, payload, done) => {
    for (let i = 0; i < EDGE_CORS_HEADERS.length; i += 2) reply.header(EDGE_CORS_HEADERS[i]!, EDGE_CORS_HEADERS[i + 1]!);
    done(null, payload);
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.name === 'InvalidStorageKeyError') return sendError(reply, 'BAD_PATH');
    if (err instanceof LookupsBusyError) {
      coldRefusals.inc();
      return sendError(reply.header('retry-after', '1'), 'LOOKUPS_BUSY');
    }
    const code = edgeErrorCodeOf(err);
    if (code === 'INTERNAL') req.log.error({ err }, 'edge error');
    if (code === 'METHOD_NOT_ALLOWED') reply.header('allow', ALLOWED_METHODS);
    return sendError(reply, code);
  });
  const webFallback = opts.web ? await registerWebApp(app, opts.web) : undefined;
  app.setNotFoundHandler((req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') return sendError(reply.header('allow', ALLOWED_METHODS), 'METHOD_NOT_ALLOWED');
    if (webFallback?.(req, reply)) return reply;
    return sendError(reply, 'NOT_FOUND');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.route({
    method: ['GET', 'HEAD'],
    url: '/live/:channelId/*',
    handler: async (req, reply) => {
      const { channelId, '*': rest } = req.params as { channelId: string; '*': string };
      const keyRest = safeKeyRest(rest);
      if (!CHANNEL_ID.test(channelId) || !keyRest) return sendError(reply, 'BAD_PATH');
      // both lookups cached (the common case): no promises
      const now = Date.now();
      const policyHit = policyCache.peek(channelId, now);
      const liveHit = liveCache.peek(channelId, now);
      const [policy, sessionId] = policyHit !== undefined && liveHit !== undefined
        ? [policyHit, liveHit]
        : policyCache.known(channelId)
          ? await Promise.all([policyOf(channelId), liveSessionOf(channelId)])
          // A channel not known to exist: its live session is looked up only if it does (one cold lookup for a made-up name, not two).
          : await policyOf(channelId).then(async (p) => [p, p ? await liveSessionOf(channelId) : null] as const);
      const auth = authorise(req, channelId, sessionId, policy ?? null);
      if ('refused' in auth) return refuse(reply, auth.refused);
      if (!sessionId) return isBlockingReload(req) ? refuseBlocking(req, reply, 'no_session', 'CHANNEL_OFFLINE') : sendError(reply, 'CHANNEL_OFFLINE');
      feed?.touch(sessionId);
      return serveKey(req, reply, `${sessionKeyPrefix(sessionId)}/${keyRest}`, auth.token, { sessionId, isLive: async () => true });
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/sessions/*',
    handler: async (req, reply) => {
      const keyRest = safeKeyRest((req.params as { '*': string })['*']);
      if (!keyRest) return sendError(reply, 'BAD_PATH');
      const slash = keyRest.indexOf('/');
      const sessionId = slash < 0 ? keyRest : keyRest.slice(0, slash);
      const channelId = await channelOfSession(sessionId);
      if (!channelId) return isBlockingReload(req) ? refuseBlocking(req, reply, 'no_session', 'NOT_FOUND') : sendError(reply, 'NOT_FOUND');
      const policy = await policyOf(channelId);
      const auth = authorise(req, channelId, sessionId, policy ?? null);
      if ('refused' in auth) return refuse(reply, auth.refused);
      return serveKey(req, reply, `sessions/${keyRest}`, auth.token, { sessionId, isLive: async () => (await liveSessionOf(channelId)) === sessionId });
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/keys/:sessionId/:file',
    handler: async (req, reply) => {
      const { sessionId, file } = req.params as { sessionId: string; file: string };
      const m = /^(0|[1-9]\d{0,8})\.key$/.exec(file);
      if (!CHANNEL_ID.test(sessionId) || !m) return sendError(reply, 'BAD_PATH');
      const channelId = await channelOfSession(sessionId);
      if (!channelId) return sendError(reply, 'NOT_FOUND');
      const auth = authorise(req, channelId, sessionId, await policyOf(channelId), true);
      if ('refused' in auth) return refuse(reply, auth.refused);
      if (!opts.contentKeySecret) return sendError(reply, 'NOT_FOUND');
      const key = deriveContentKey(opts.contentKeySecret, sessionId, Number(m[1]));
      requests.inc({ kind: 'key', status: 200 });
      reply.header('content-type', 'application/octet-stream').header('cache-control', CONTENT_KEY_CACHE_CONTROL).header('content-length', '16');
      return reply.status(200).send(req.method === 'HEAD' ? undefined : key);
    },
  });
  // MPEG-DASH manifests rendered from the same playlists, under the same checks (dash.ts)
  registerDash(app, {
    storage: opts.storage, policyOf, liveSessionOf, channelOfSession, authorise, refuse, readPlaylist, sendError,
    tokenisedCacheControl: TOKENISED_PLAYLIST_CACHE_CONTROL,
    watch: (sessionId) => {
      feed?.touch(sessionId);
      return feed?.isFed(sessionId) ?? false;
    },
  });
  app.options('/*', async (_req, reply) => reply.status(204)
    .header('access-control-allow-methods', 'GET, HEAD, OPTIONS')
    .header('access-control-allow-headers', 'range, if-none-match, if-modified-since')
    .header('access-control-max-age', '86400').send());
  let fast: FastPathOptions | undefined;
  if (!opts.accessLog) {
    let fastAnswers = 0;
    new Counter({
      name: 'edge_fast_path_answers_total', registers: [registry], help: 'Object requests answered by the fast path (fast-path.ts: everything in memory, before routing); also counted in edge_requests_total',
      collect() {
        this.reset();
        this.inc(fastAnswers);
      },
    });
    fast = installFastPath(app, server === 'uws', {
      resolve: resolveInMemory,
      count: (status) => {
        fastAnswers++;
        fastCounts[status]++;
      },
      ...(throughput ? { cmsd: (peer: string, clientIp: string) => throughput.headerFor(peer, clientIp) } : {}),
    }, trust);
  }
  builds.set(app, { server, trust, fast, throughput });
  return app;
}
