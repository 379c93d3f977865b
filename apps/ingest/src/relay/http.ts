/**
 * The internal HTTP-FLV relay endpoint: `GET /relay/<sessionId>.flv` streams a live publish as FLV
 * (chunked transfer encoding) to the transcoder; `GET /healthz` for probes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Relay } from './relay.js';

/** The relay endpoint's error catalogue. Bodies are JSON `{ code, message }`. */
export const RELAY_ERRORS = {
  UNAUTHORIZED: { status: 401, message: 'A valid relay token is required.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  RELAY_SESSION_NOT_FOUND: { status: 404, message: 'No such live session on this ingest node.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
} as const;

/** A relay endpoint error code. */
export type RelayErrorCode = keyof typeof RELAY_ERRORS;

/** Options of {@link createRelayServer}. */
export interface RelayServerOptions {
  relay: Relay;
  /**
   * Shared internal token; required as `Authorization: Bearer <token>` (RFC 6750 §2.1) and only
   * there: a `?token=` query parameter is not accepted, because URLs end up in command lines
   * (`ps`), proxies' and servers' access logs.
   */
  token: string;
  logger: Logger;
}

/** `/relay/<UUID>.flv`, nothing before or after (query aside). */
const RELAY_PATH = /^\/relay\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.flv$/;

function sendError(res: ServerResponse, code: RelayErrorCode, extraHeaders: Record<string, string> = {}): void {
  const { status, message } = RELAY_ERRORS[code];
  const body = JSON.stringify({ code, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extraHeaders });
  res.end(body);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Creates (does not start) the relay HTTP server. Routes:
 *
 * - `GET /healthz` → 200 `{"status":"ok","sessions":<n>}`.
 * - `GET /relay/<sessionId>.flv` → 401 `UNAUTHORIZED` (with `WWW-Authenticate: Bearer`)
 *   without a matching `Authorization: Bearer` token (compared in constant time on SHA-256
 *   digests with `crypto.timingSafeEqual`; a `?token=` query parameter counts for nothing); 404
 *   `RELAY_SESSION_NOT_FOUND` if the session is not live here; otherwise 200 `video/x-flv`,
 *   chunked, which ends (EOF) when the publish ends.
 * - Other paths → 404 `NOT_FOUND`; other methods on known paths → 405.
 *
 * Neither the token, the `Authorization` header nor the query string is ever logged.
 *
 * @throws TypeError if `token` is empty.
 */
export function createRelayServer(opts: RelayServerOptions): Server {
  if (!opts.token) throw new TypeError('relay token must not be empty');
  const expected = digest(opts.token);
  const tokenOk = (presented: string | undefined | null): boolean => !!presented && timingSafeEqual(digest(presented), expected);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;

    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'METHOD_NOT_ALLOWED', { allow: 'GET, HEAD' });
      const body = JSON.stringify({ status: 'ok', sessions: opts.relay.sessions().length });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const match = RELAY_PATH.exec(path);
    if (!match) return sendError(res, 'NOT_FOUND');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'METHOD_NOT_ALLOWED', { allow: 'GET, HEAD' });

    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!tokenOk(bearer)) {
      opts.logger.warn({ remoteAddress: req.socket.remoteAddress, reason: 'bad or missing relay token' }, 'relay request refused');
      return sendError(res, 'UNAUTHORIZED', { 'www-authenticate': 'Bearer' });
    }
    const sessionId = match[1]!;
    if (!opts.relay.has(sessionId)) return sendError(res, 'RELAY_SESSION_NOT_FOUND');
    if (req.method === 'HEAD') {
      // Liveness probe (a transcoder asks whether the source still publishes): no subscription.
      res.writeHead(200, { 'content-type': 'video/x-flv', 'cache-control': 'no-store' });
      res.end();
      return;
    }

    res.writeHead(200, { 'content-type': 'video/x-flv', 'cache-control': 'no-store' });
    res.socket?.setNoDelay(true);
    const sub = opts.relay.subscribe(sessionId, res);
    if (!sub) {
      res.end(); // the publish ended between has() and subscribe()
      return;
    }
    opts.logger.info({ sessionId, remoteAddress: req.socket.remoteAddress }, 'relay subscriber attached');
    res.once('close', () => {
      sub.unsubscribe();
      opts.logger.info({ sessionId, remoteAddress: req.socket.remoteAddress }, 'relay subscriber detached');
    });
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      opts.logger.error({ err }, 'relay request failed');
      if (!res.headersSent) {
        const body = JSON.stringify({ code: 'INTERNAL', message: 'Internal error.' });
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(body);
      } else {
        res.destroy();
      }
    }
  });
  return server;
}
