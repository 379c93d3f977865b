/**
 * The edge's fast path for media objects it holds in memory (issue 17 item 4): a token-checked
 * GET or HEAD of a segment, part or init segment that the object cache or the live store holds,
 * for a channel (or session) whose policy and live session are cached and with a token that
 * already verified for this client, is answered straight from Node's `request` event, before
 * Fastify routes it: headers built once per cached object, the body written from memory. Every
 * other request — a playlist, a first token, a cold lookup, a refusal, a conditional or
 * unsatisfiable request, a miss, anything unusual in the URL — is handed to Fastify untouched,
 * where the routes of app.ts answer it as before (and fill the caches the fast path reads).
 *
 * The answer is the one the routes give (serveKey): the same status (200, 206 for a single
 * byte range, RFC 9110 §14), headers (Content-Type, Cache-Control, ETag, Last-Modified,
 * Accept-Ranges, Content-Length, Content-Range, the CORS headers of the edge's onSend hook) and
 * metrics; the server, so TLS, timeouts and connection handling, is Fastify's own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StorageObjectInfo } from '@live/storage';
import { CMSD_DYNAMIC_HEADER } from './cmsd.js';

/** A media object held in memory (object cache or live store). */
export interface MemoryObject {
  readonly info: StorageObjectInfo;
  readonly body: Buffer;
  /** `info.lastModified` as an HTTP date. */
  readonly lastModifiedHttp: string;
}

/** The routes the fast path knows: `/live/<channelId>/<rest>` and `/sessions/<sessionId>/<rest>`. */
export type FastRoute = 'live' | 'sessions';

/** A request the fast path may answer, as {@link parseFastObjectRequest} reads it. */
export interface FastObjectRequest {
  readonly route: FastRoute;
  /** The path after `/live/` or `/sessions/`, not decoded (it has no `%`). */
  readonly rest: string;
  /** The first `token` query parameter; undefined when there is none. */
  readonly token: string | undefined;
}

/** CORS headers of every edge answer (the onSend hook of app.ts), as `[name, value, …]`. */
export const EDGE_CORS_HEADERS: readonly string[] = [
  'access-control-allow-origin', '*',
  'access-control-expose-headers', 'content-length, content-range, etag, cmsd-dynamic',
  'timing-allow-origin', '*',
];

/**
 * Reads a request URL (`req.url`: path and query) for the fast path. Returns null — leave it to
 * the router — unless the path starts with `/live/` or `/sessions/`, names no playlist
 * (`.m3u8`, `.mpd`) and holds no `%` (the router decodes escapes), and the query holds no `%`
 * or `+` (the router's parser decodes them). The `token` parameter is the first one, as the
 * router's `tokenOf` takes it; other parameters are ignored, as they are for objects. Pure.
 */
export function parseFastObjectRequest(url: string): FastObjectRequest | null {
  const route: FastRoute | null = url.startsWith('/live/') ? 'live' : url.startsWith('/sessions/') ? 'sessions' : null;
  if (route === null) return null;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path.includes('%') || path.endsWith('.m3u8') || path.endsWith('.mpd')) return null;
  let token: string | undefined;
  if (q >= 0) {
    const query = url.slice(q + 1);
    if (query.includes('%') || query.includes('+')) return null;
    for (const param of query.split('&')) {
      if (token === undefined && param.startsWith('token=')) token = param.slice(6);
    }
  }
  return { route, rest: path.slice(route === 'live' ? 6 : 10), token };
}

/**
 * Parses a single-range `Range: bytes=a-b` header (RFC 9110 §14.2) against an object size.
 * @returns the inclusive byte range, `'unsatisfiable'`, or null when absent / not a single byte range (serve the whole object).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * The response headers of a media object (as `[name, value, …]` for `writeHead`): Content-Type,
 * Cache-Control, ETag, Last-Modified, Accept-Ranges and the CORS headers, then Content-Range of
 * `range`, then Content-Length of the object or the range unless `contentLength` is false (for
 * servers that write it themselves from the body, uWS). Pure.
 */
export function objectResponseHeaders(object: MemoryObject, range?: { start: number; end: number }, contentLength = true): string[] {
  const { info } = object;
  const headers = [
    'content-type', info.contentType, 'cache-control', info.cacheControl, 'etag', info.etag,
    'last-modified', object.lastModifiedHttp, 'accept-ranges', 'bytes', ...EDGE_CORS_HEADERS,
  ];
  if (range) headers.push('content-range', `bytes ${range.start}-${range.end}/${info.size}`);
  if (contentLength) headers.push('content-length', String(range ? range.end - range.start + 1 : info.size));
  return headers;
}

/** What the fast path needs from the edge (the same for Node's server and the uWS front). */
export interface FastPathOptions {
  /**
   * The object a request may be answered with at once, or undefined to leave it to the router:
   * the route's channel or session, policy and live session must be cached, the token (or its
   * absence) already accepted for `clientIp` (the memo of verified tokens; nothing is verified
   * here), and the object held in memory. Must not throw.
   */
  resolve(req: FastObjectRequest, clientIp: string): MemoryObject | undefined;
  /** Counts an answer (`edge_requests_total{kind="object",status}`). */
  count(status: 200 | 206): void;
  /**
   * The `CMSD-Dynamic` value for an answer on a TCP connection from `peer` to client `clientIp`
   * (throughput.ts), or undefined for none. Absent: never. Must not throw.
   */
  cmsd?(peer: string, clientIp: string): string | undefined;
  /** True once the server is closing: the router answers (503, as Fastify does). */
  closing(): boolean;
}

/** The request fields the fast path reads, whatever server received the request. */
export interface FastRequestView {
  readonly method: string;
  /** Path and query, as received (`req.url`). */
  readonly url: string;
  /** A request header by lower-case name; undefined when absent. */
  header(name: string): string | undefined;
  /** The client address as the router's `request.ip` gives it (honouring `trustProxy`). */
  clientIp(): string;
  /** The address of the TCP connection's peer (the viewer, or a proxy in front of the edge). */
  peer(): string;
}

/** How the fast path answers a request: from `object`, whole or one byte range. */
export interface FastAnswer {
  readonly status: 200 | 206;
  readonly object: MemoryObject;
  /** The single byte range of a 206 (inclusive). */
  readonly range: { start: number; end: number } | undefined;
  /** HEAD: headers only. */
  readonly head: boolean;
  /** The `CMSD-Dynamic` value to add ({@link FastPathOptions.cmsd}); undefined for none. */
  readonly cmsd: string | undefined;
}

/**
 * Decides whether the fast path answers a request, and with what; null leaves it, untouched, to
 * the router: anything but GET or HEAD, a closing server, a URL {@link parseFastObjectRequest}
 * refuses, a conditional request (`If-None-Match`, `If-Modified-Since`), a request with a body
 * (`Content-Length`, `Transfer-Encoding`), an object not held in memory for this client, an
 * unsatisfiable range. Counts the answer. Never throws.
 */
export function decideFastAnswer(opts: FastPathOptions, req: FastRequestView): FastAnswer | null {
  const method = req.method;
  if ((method !== 'GET' && method !== 'HEAD') || opts.closing()) return null;
  const parsed = parseFastObjectRequest(req.url);
  if (!parsed) return null;
  if (req.header('if-none-match') !== undefined || req.header('if-modified-since') !== undefined
    || req.header('content-length') !== undefined || req.header('transfer-encoding') !== undefined) return null;
  const clientIp = req.clientIp();
  const object = opts.resolve(parsed, clientIp);
  if (!object) return null;
  const range = parseRange(req.header('range'), object.info.size);
  if (range === 'unsatisfiable') return null;
  const status = range ? 206 : 200;
  opts.count(status);
  return { status, object, range: range ?? undefined, head: method === 'HEAD', cmsd: opts.cmsd?.(req.peer(), clientIp) };
}

/**
 * The response headers of a fast answer (`[name, value, …]`), the full-object list built once
 * per object held. `contentLength` false leaves Content-Length out, for servers that write it
 * themselves from the body (uWS).
 */
export function fastAnswerHeaders(contentLength: boolean): (answer: FastAnswer) => readonly string[] {
  const whole = new WeakMap<MemoryObject, string[]>();
  return ({ object, range }) => {
    if (range) return objectResponseHeaders(object, range, contentLength);
    let headers = whole.get(object);
    if (!headers) {
      headers = objectResponseHeaders(object, undefined, contentLength);
      whole.set(object, headers);
    }
    return headers;
  };
}

/** The body of a fast answer: the object, or the sub-buffer of its range. */
export function fastAnswerBody({ object, range }: FastAnswer): Buffer {
  return range ? object.body.subarray(range.start, range.end + 1) : object.body;
}

/**
 * Creates the fast path for Node's `request` event: a function that answers the request and
 * returns true, or returns false having touched nothing (the caller hands the request to the
 * router). `clientIp` gives the router's `request.ip` for a request.
 */
export function createFastObjectHandler(opts: FastPathOptions, clientIp: (req: IncomingMessage) => string): (req: IncomingMessage, res: ServerResponse) => boolean {
  const headersOf = fastAnswerHeaders(true);
  return (req, res) => {
    const h = req.headers;
    const answer = decideFastAnswer(opts, {
      method: req.method ?? '', url: req.url ?? '',
      header: (name) => {
        const v = h[name];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      clientIp: () => clientIp(req),
      peer: () => req.socket.remoteAddress ?? '',
    });
    if (!answer) return false;
    const headers = headersOf(answer) as string[];
    res.writeHead(answer.status, answer.cmsd ? [...headers, CMSD_DYNAMIC_HEADER, answer.cmsd] : headers);
    if (answer.head) res.end();
    else res.end(fastAnswerBody(answer));
    return true;
  };
}
