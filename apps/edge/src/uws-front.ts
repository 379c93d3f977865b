/**
 * The edge's uWebSockets.js front (`EDGE_SERVER=uws`, issue 17 item 4): uWS owns the viewers'
 * port. A GET or HEAD of a segment, part or init segment that the edge holds in memory for this
 * viewer (the fast path of fast-path.ts: {@link decideFastAnswer}) is answered by uWS itself;
 * every other request — playlists (blocking reloads held for seconds), keys, MPDs, the growing
 * low-latency DASH segment, the web app, `/metrics`, refusals, first tokens, misses — is handed
 * to the edge's Fastify app listening on loopback, and its answer streamed back as it comes
 * (with its status, headers and body; chunked when it has no length), with backpressure both
 * ways.
 *
 * Why: one Node `http` server answering in-memory parts costs more CPU per request than one
 * nginx worker with `sendfile` (bench/edge.ts, the `node:http floor` row), whatever the edge
 * does; uWS's HTTP server costs less (BENCH.md).
 *
 * What the hand-over keeps: the method, the raw path and query, every request header but the
 * hop-by-hop ones (RFC 9110 §7.6.1: Connection and what it names, Keep-Alive, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Connection), and the viewer's TCP address appended to
 * `X-Forwarded-For`, which the app reads with {@link trustBehindLocalFront} so `request.ip` (and
 * so address-bound tokens, per-address caps and logs) is the one it would be without the front.
 * Request bodies are passed on up to `maxBodyBytes` (413 BODY_TOO_LARGE beyond); when the app
 * cannot be reached the viewer gets 500 INTERNAL (logged), and an answer cut short is cut short.
 *
 * What uWS does itself: HTTP/1.1 parsing (a malformed request is answered 400 and closed, a
 * header block over `UWS_HTTP_MAX_HEADERS_SIZE`, set here to Node's 16 KiB unless set, 431),
 * keep-alive, `Date`. It does not terminate TLS here: with TLS the edge runs `node`.
 */
import { Agent, request as httpRequest, STATUS_CODES, type IncomingMessage, type ClientRequest } from 'node:http';
import { clientAddress, nodeStyleAddress, type ProxyTrust } from '@live/runtime';
import type uWSModule from 'uWebSockets.js';
import { EDGE_ERRORS } from './app.js';
import { decideFastAnswer, fastAnswerBody, fastAnswerHeaders, type FastAnswer, type FastPathOptions, type FastRequestView, type MemoryObject } from './fast-path.js';
import { CMSD_DYNAMIC_HEADER } from './cmsd.js';

type HttpResponse = uWSModule.HttpResponse;

/** What {@link startUwsFront} needs. */
export interface UwsFrontOptions {
  /** Interface and TCP port to listen on (0: any free port). */
  readonly host: string;
  readonly port: number;
  /** The edge app's own listener on loopback, which answers everything the front does not. */
  readonly upstream: { readonly host: string; readonly port: number };
  /** The edge's fast path (`edgeBuildOf(app).fast`); undefined: every request is handed on. */
  readonly fast: FastPathOptions | undefined;
  /** `TRUST_PROXY` compiled, for the client address the fast path checks tokens against; null: the TCP peer. */
  readonly trust: ProxyTrust | null;
  /** Largest request body handed on, in bytes (default 1 MiB; the edge's routes take none). */
  readonly maxBodyBytes?: number;
  /** Where hand-over failures are logged (pino-style). */
  readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** A running front. */
export interface UwsFront {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting connections; open ones go on. Idempotent. */
  stopListening(): void;
  /** Closes every connection and the hand-over pool. Idempotent. */
  close(): void;
}

/** Request headers not handed on (hop-by-hop, RFC 9110 §7.6.1), plus Host's duplicates' handling is Node's. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Response headers uWS writes itself (Date, Content-Length or chunked framing) or that are hop-by-hop. */
const NOT_COPIED_BACK = new Set([...HOP_BY_HOP, 'date', 'content-length']);

/**
 * Sends `chunk`, the part of a `total`-byte body from the response's current write offset on,
 * with `tryEnd`: what the socket does not take now is sent from `chunk` as the socket drains,
 * not copied into uWS's backpressure buffer (as `end` and `write` would). `sent(complete)` is
 * called once all of `chunk` is out, at once or later, with whether the body is now complete;
 * once `gone()` (the viewer left) nothing more is sent.
 * @returns true when all of `chunk` went out at once.
 */
function tryEndChunk(res: HttpResponse, chunk: Buffer, total: number, on: { gone(): boolean; sent(complete: boolean): void }): boolean {
  const offset = res.getWriteOffset();
  const [ok, done] = res.tryEnd(chunk, total);
  if (ok || done) {
    on.sent(done);
    return true;
  }
  sendRestWhenWritable(res, chunk, offset, total, on);
  return false;
}

/**
 * After a `tryEnd` of `chunk` (which began at body offset `offset`) that the socket did not take
 * whole: sends the rest of `chunk` each time the socket drains, until it is out (`sent(complete)`)
 * or `gone()`.
 */
function sendRestWhenWritable(res: HttpResponse, chunk: Buffer, offset: number, total: number, on: { gone(): boolean; sent(complete: boolean): void }): void {
  res.onWritable((at) => {
    if (on.gone()) return true;
    const [more, complete] = res.tryEnd(chunk.subarray(at - offset), total);
    if (more || complete) on.sent(complete);
    return more || complete;
  });
}

/**
 * Sends a whole body from memory as a response's first body bytes: at once when the socket takes
 * it (the common case, with no closure made), otherwise the rest as the socket drains
 * ({@link sendRestWhenWritable}); a viewer who leaves stops it.
 */
function sendBody(res: HttpResponse, body: Buffer): void {
  const [ok, done] = res.tryEnd(body, body.length);
  if (ok || done) return;
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  sendRestWhenWritable(res, body, 0, body.length, { gone: () => aborted, sent: noop });
}

/**
 * The fast path's view of a uWS request ({@link FastRequestView}), one object per request with
 * its methods on the prototype: no closure is made per request (tsx's `keepNames` would also name
 * each one with `Object.defineProperty`). Valid only while the route handler runs (uWS' request is
 * stack-bound).
 */
class UwsRequestView implements FastRequestView {
  constructor(
    private readonly req: uWSModule.HttpRequest,
    readonly method: string,
    readonly url: string,
    private readonly peerAddress: string,
    private readonly trust: ProxyTrust | null | undefined,
  ) {}

  header(name: string): string | undefined {
    const v = this.req.getHeader(name);
    return v === '' ? undefined : v;
  }

  clientIp(): string {
    return this.trust ? clientAddress(this.peerAddress, this.header('x-forwarded-for'), this.trust) : this.peerAddress;
  }

  peer(): string {
    return this.peerAddress;
  }
}

/** Status lines of the fast answers, as the bytes uWS writes (no conversion per request). */
const STATUS_200 = Buffer.from('200 OK');
const STATUS_206 = Buffer.from('206 Partial Content');
const CMSD_HEADER_NAME = Buffer.from(CMSD_DYNAMIC_HEADER);

/**
 * The headers of a fast answer as bytes (`[name, value, …]`, Content-Length left to uWS),
 * encoded as UTF-8 (what uWS writes for a string): once per object held for whole-object
 * answers (uWS would otherwise measure and copy every header string on every answer), per
 * answer for a byte range.
 */
function fastAnswerHeaderBytes(): (answer: FastAnswer) => readonly Buffer[] {
  const strings = fastAnswerHeaders(false);
  const whole = new WeakMap<MemoryObject, Buffer[]>();
  const encode = (answer: FastAnswer): Buffer[] => strings(answer).map((v) => Buffer.from(v));
  return (answer) => {
    if (answer.range) return encode(answer);
    let headers = whole.get(answer.object);
    if (!headers) {
      headers = encode(answer);
      whole.set(answer.object, headers);
    }
    return headers;
  };
}

/** A handed-on request's response, as the viewer's side sees it. */
interface ResponseState {
  /** The uWS response may no longer be touched: the viewer went away, or it was answered or cut. */
  settled: boolean;
  /** The app's status and headers went out (an error now cuts the connection instead of answering INTERNAL). */
  responded: boolean;
}

const noop = (): void => {};

/** Answers with the edge's error catalogue (`{ code, message }`, CORS `*`) and closes the connection. */
function sendFrontError(res: HttpResponse, code: 'BAD_REQUEST' | 'BODY_TOO_LARGE' | 'INTERNAL'): void {
  const { status, message } = EDGE_ERRORS[code];
  res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json; charset=utf-8').writeHeader('access-control-allow-origin', '*')
    .end(JSON.stringify({ code, message }), true);
}

/** `200 OK`-style status line text for uWS's `writeStatus`. */
function statusLine(code: number, message?: string): string {
  return `${code} ${message || STATUS_CODES[code] || 'Unknown'}`;
}

/**
 * Starts the front and listens.
 * @throws Error when it cannot listen on `host:port`.
 */
export async function startUwsFront(opts: UwsFrontOptions): Promise<UwsFront> {
  // read once by uWS when it loads: Node's default header limit instead of uWS's 4 KiB
  process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= '16384';
  const uWS = (await import('uWebSockets.js')).default;
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
  const headersOf = fastAnswerHeaderBytes();
  const handOn = createHandOn(opts, agent);
  const fast = opts.fast;
  const app = uWS.App().any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const query = req.getQuery();
    const url = query ? `${req.getUrl()}?${query}` : req.getUrl();
    const peer = nodeStyleAddress(Buffer.from(res.getRemoteAddressAsText()).toString());
    if (fast) {
      const answer = decideFastAnswer(fast, new UwsRequestView(req, method, url, peer, opts.trust));
      if (answer) {
        res.writeStatus(answer.status === 200 ? STATUS_200 : STATUS_206);
        const h = headersOf(answer);
        for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
        if (answer.cmsd) res.writeHeader(CMSD_HEADER_NAME, answer.cmsd);
        // (uWS does not count endWithoutBody as an answer unless an abort handler is attached)
        if (answer.head) res.onAborted(noop).endWithoutBody(answer.range ? answer.range.end - answer.range.start + 1 : answer.object.info.size);
        else sendBody(res, fastAnswerBody(answer));
        return;
      }
    }
    const headers: [string, string][] = [];
    req.forEach((k, v) => { headers.push([k, v]); });
    handOn(res, method, url, headers, peer);
  });
  const listenSocket = await new Promise<uWSModule.us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (token) => (token ? resolve(token) : reject(new Error(`edge: cannot listen on ${opts.host}:${opts.port}`))));
  });
  let listening = true;
  let closed = false;
  const stopListening = (): void => {
    if (!listening) return;
    listening = false;
    uWS.us_listen_socket_close(listenSocket);
  };
  return {
    port: uWS.us_socket_local_port(listenSocket),
    stopListening,
    close() {
      stopListening();
      if (closed) return;
      closed = true;
      app.close();
      agent.destroy();
    },
  };
}

/**
 * The hand-over of one request to the app: returns the function the route handler calls with
 * what it read from the (stack-bound) uWS request.
 */
function createHandOn(opts: UwsFrontOptions, agent: Agent) {
  const maxBody = opts.maxBodyBytes ?? 1024 * 1024;
  return (res: HttpResponse, method: string, url: string, headers: readonly [string, string][], peer: string): void => {
    const out: Record<string, string> = {};
    const dropped = new Set(HOP_BY_HOP);
    let declaredLength: number | undefined;
    let hasBody = false;
    for (const [k, v] of headers) {
      if (k === 'connection') for (const name of v.split(',')) dropped.add(name.trim().toLowerCase());
      if (k === 'content-length') declaredLength = Number(v);
      if (k === 'content-length' || k === 'transfer-encoding') hasBody = true;
    }
    for (const [k, v] of headers) {
      if (dropped.has(k)) continue;
      out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
    }
    out['x-forwarded-for'] = out['x-forwarded-for'] ? `${out['x-forwarded-for']}, ${peer}` : peer;
    if (declaredLength !== undefined && !(declaredLength <= maxBody)) {
      sendFrontError(res, 'BODY_TOO_LARGE');
      return;
    }
    const state: ResponseState = { settled: false, responded: false };
    let upstream: ClientRequest;
    try {
      upstream = httpRequest({ host: opts.upstream.host, port: opts.upstream.port, method, path: url, headers: out, agent });
    } catch {
      // a method or header value Node will not send (uWS is more lenient): the viewer's request is malformed
      sendFrontError(res, 'BAD_REQUEST');
      return;
    }
    res.onAborted(() => {
      state.settled = true;
      upstream.destroy();
    });
    upstream.on('response', (up) => streamBack(res, method, up, state, opts.log));
    upstream.on('error', (err) => {
      if (state.settled) return;
      if (state.responded) {
        // the answer is under way: cut the connection so the viewer sees it incomplete
        state.settled = true;
        res.close();
        return;
      }
      opts.log.error({ err, method, url: url.split('?')[0] }, 'edge front: the app did not answer');
      state.settled = true;
      res.cork(() => sendFrontError(res, 'INTERNAL'));
    });
    if (!hasBody) {
      upstream.end();
      return;
    }
    passBody(res, upstream, maxBody, state);
  };
}

/** Hands the request body on as it arrives; past `maxBody` bytes the viewer gets 413 and the app nothing more. */
function passBody(res: HttpResponse, upstream: ClientRequest, maxBody: number, state: ResponseState): void {
  let received = 0;
  res.onData((chunk, isLast) => {
    if (state.settled) return;
    received += chunk.byteLength;
    if (received > maxBody) {
      state.settled = true;
      upstream.destroy();
      res.cork(() => sendFrontError(res, 'BODY_TOO_LARGE'));
      return;
    }
    // uWS reuses the chunk's memory once this returns: copy it
    upstream.write(Buffer.from(new Uint8Array(chunk).slice()));
    if (isLast) upstream.end();
  });
}

/**
 * Streams the app's answer back: status and headers (less those uWS writes itself), then the
 * body — with `tryEnd` against its Content-Length, or chunked when it has none — pausing the app's
 * response while the viewer's socket is full.
 */
function streamBack(res: HttpResponse, method: string, up: IncomingMessage, state: ResponseState, log: UwsFrontOptions['log']): void {
  if (state.settled) {
    up.destroy();
    return;
  }
  state.responded = true;
  const code = up.statusCode ?? 502;
  const length = up.headers['content-length'] !== undefined ? Number(up.headers['content-length']) : undefined;
  const noBody = method === 'HEAD' || code === 204 || code === 304;
  res.cork(() => {
    res.writeStatus(statusLine(code, up.statusMessage));
    const raw = up.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (!NOT_COPIED_BACK.has(raw[i]!.toLowerCase())) res.writeHeader(raw[i]!, raw[i + 1]!);
    }
    if (noBody) res.endWithoutBody(code === 204 || code === 304 ? undefined : length);
  });
  if (noBody) {
    state.settled = true; // answered: nothing more to send
    up.resume();
    return;
  }
  up.on('data', (chunk: Buffer) => {
    if (state.settled) return;
    if (length === undefined) {
      let ok = true;
      res.cork(() => { ok = res.write(chunk); });
      if (!ok) {
        up.pause();
        res.onWritable(() => {
          up.resume();
          return true;
        });
      }
      return;
    }
    let now = true;
    res.cork(() => {
      now = tryEndChunk(res, chunk, length, {
        gone: () => state.settled,
        sent: (complete) => {
          // complete: answered, the response may not be touched again; else the socket took it all: read on
          if (complete) state.settled = true;
          else up.resume();
        },
      });
    });
    if (!now) up.pause();
  });
  up.on('end', () => {
    if (state.settled) return;
    state.settled = true;
    if (length === undefined || length === 0) res.cork(() => res.end());
    else {
      // the app said more than it sent
      log.warn({ length }, 'edge front: the app\'s answer ended short');
      res.close();
    }
  });
  up.on('error', () => {
    if (state.settled) return;
    state.settled = true;
    res.close();
  });
}
