/**
 * The ingest node's WHIP endpoint (RFC 9725), a public HTTP listener of its own (the node's
 * internal relay/metrics listener stays private):
 *
 * - `POST /whip/<channel>` (`<channel>`: the channel's id or slug), `Authorization: Bearer <stream
 *   key>`, `Content-Type: application/sdp` with the offer → `201 Created`, `Location:
 *   /whip/<channel>/<id>`, the SDP answer (every ICE candidate in it: no trickle);
 * - `DELETE /whip/<channel>/<id>` → `200`, the publish ends `unpublished`;
 * - `OPTIONS` → `204` with CORS headers (browser publishers; RFC 9725 §4.1);
 * - `PATCH` (trickle ICE, ICE restarts) → `405`: the answer already carries every candidate.
 *
 * With `whep`, the same listener serves WHEP playback (`POST /whep/<channel>`, `DELETE
 * /whep/<channel>/<id>`; `whep/endpoint.ts`).
 *
 * Refusals carry `{ code, message }` JSON (`request.ts`): 400 SDP_MALFORMED, 406
 * SDP_UNSUPPORTED_CODEC, 401 MISSING_TOKEN / UNKNOWN_STREAM_KEY, 403 key disabled, expired,
 * address not allowed or CHANNEL_MISMATCH, 409 ALREADY_LIVE, 413, 415, 429/503 over the session
 * caps. Each closes only its own request; the key rules, events, metrics and one publisher per
 * channel are the publish gate's, as for RTMP.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Db } from '@live/db';
import type { PublishGate } from '../publish-gate.js';
import { createSessionAdmission } from '../admission.js';
import { createPublishSessions } from '../publish-session.js';
import { uuidv7 } from '../rtmp/index.js';
import { checkWhipOffer } from './offer.js';
import type { WhipIceOptions } from './peer.js';
import { bearerToken, isSdpContentType, parseWhipPath, whipError } from './request.js';
import { DEFAULT_WHIP_LIMITS, type WhipLimits } from './limits.js';
import { openWhipResource, type WhipResource } from './resource.js';
import type { WhepEndpoint } from '../whep/endpoint.js';

/** Options of {@link startWhipServer}. */
export interface WhipServerOptions {
  readonly gate: PublishGate;
  readonly db: Db;
  readonly logger: Logger;
  /** The node's `/metrics` registry. */
  readonly registry: Registry;
  readonly port: number;
  readonly host: string;
  readonly ice?: WhipIceOptions;
  readonly limits?: Partial<WhipLimits>;
  /** The WHEP endpoint served on this listener too (`/whep/…`, see `whep/endpoint.ts`). */
  readonly whep?: WhepEndpoint;
}

/** A running WHIP endpoint. */
export interface WhipServer {
  readonly address: AddressInfo;
  /** WHIP sessions set up or live. */
  count(): number;
  /** Ends every session (`disconnected`) and closes the listener. */
  close(): Promise<void>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-expose-headers': 'location',
};

/**
 * Starts the WHIP listener on `host:port` and registers its sessions with the gate (kicks).
 * Metrics: `ingest_whip_sessions` (gauge), `ingest_whip_sessions_ended_total{reason}`
 * (unpublished, disconnected, timeout, kicked, error).
 * @throws when the port cannot be bound.
 */
export async function startWhipServer(o: WhipServerOptions): Promise<WhipServer> {
  const limits = { ...DEFAULT_WHIP_LIMITS, ...o.limits };
  const sessions = createPublishSessions(o.gate);
  const resources = new Map<string, WhipResource>();
  const ended = new Counter({ name: 'ingest_whip_sessions_ended_total', help: 'WHIP sessions ended after their 201, by reason (unpublished: DELETE; disconnected; timeout: no media; kicked; error)', labelNames: ['reason'], registers: [o.registry] });
  new Gauge({ name: 'ingest_whip_sessions', help: 'WHIP sessions set up or live on this node', registers: [o.registry], collect() { this.set(sessions.count()); } });
  const admission = createSessionAdmission({ maxSessions: limits.maxSessions, maxPerAddress: limits.maxSessionsPerAddress }, () => [...resources.values()].map((r) => r.remoteAddress));

  const send = (res: http.ServerResponse, status: number, headers: Record<string, string>, body = '') => {
    res.writeHead(status, { ...CORS, ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
  };
  const refuse = (res: http.ServerResponse, code: string, message: string, headers: Record<string, string> = {}) => {
    const e = whipError(code, message);
    send(res, e.status, { 'content-type': 'application/json', ...headers }, e.body);
  };

  const post = async (req: http.IncomingMessage, res: http.ServerResponse, channel: string) => {
    if (!isSdpContentType(req.headers['content-type'])) return refuse(res, 'UNSUPPORTED_MEDIA_TYPE', 'The offer must be sent as application/sdp.');
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) return refuse(res, 'MISSING_TOKEN', 'Send the stream key as "Authorization: Bearer <stream key>".', { 'www-authenticate': 'Bearer' });
    const offer = await readBody(req, limits.maxOfferBytes);
    if (offer === undefined) return refuse(res, 'PAYLOAD_TOO_LARGE', `The offer is larger than ${limits.maxOfferBytes} bytes.`);
    const check = checkWhipOffer(offer);
    if (!check.ok) return refuse(res, check.code, check.message);
    const remoteAddress = peerAddress(req);
    const slot = sessions.count() >= limits.maxSessions ? 'node' : admission.reserve(remoteAddress);
    if (slot === 'node') return refuse(res, 'TOO_MANY_SESSIONS', 'This node takes no more WHIP sessions; try again later.');
    if (slot === 'address') return refuse(res, 'TOO_MANY_SESSIONS_FROM_ADDRESS', 'Too many WHIP sessions from this address.');
    const id = uuidv7();
    const logger = o.logger.child({ connectionId: id });
    const answer = await openWhipResource({
      id, sessions, db: o.db, channel, streamKey: token, offer, remoteAddress, ice: o.ice ?? {}, timings: limits, logger,
      onEnded: (r, reason, detail) => {
        resources.delete(r.id);
        ended.inc({ reason: detail?.startsWith('timed out') ? 'timeout' : reason });
        logger.info({ reason, detail }, 'WHIP session ended');
      },
    }).finally(() => slot.release());
    if (answer.resource) {
      resources.set(answer.resource.id, answer.resource);
      if (res.destroyed) return answer.resource.end('disconnected', 'publisher left before the answer');
      return send(res, 201, { 'content-type': 'application/sdp', location: `/whip/${channel}/${answer.resource.id}` }, answer.body);
    }
    send(res, answer.status, { 'content-type': answer.contentType }, answer.body);
  };

  const handleWhep = async (req: http.IncomingMessage, res: http.ServerResponse, whep: WhepEndpoint) => {
    const route = parseWhipPath(new URL(req.url ?? '/', 'http://x').pathname, 'whep');
    if (!route) return refuse(res, 'NOT_FOUND', 'Not a WHEP endpoint: POST to /whep/<channel>.');
    if (req.method === 'OPTIONS') return send(res, 204, {});
    if (route.kind === 'resource') {
      if (req.method !== 'DELETE') return refuse(res, 'METHOD_NOT_ALLOWED', 'A WHEP session takes DELETE (no trickle ICE: the answer carries every candidate).', { allow: 'DELETE, OPTIONS' });
      return whep.remove(route.channel, route.resourceId) ? send(res, 200, {}) : refuse(res, 'NOT_FOUND', 'No such WHEP session.');
    }
    if (req.method !== 'POST') return refuse(res, 'METHOD_NOT_ALLOWED', 'The WHEP endpoint takes POST.', { allow: 'POST, OPTIONS' });
    if (!isSdpContentType(req.headers['content-type'])) return refuse(res, 'UNSUPPORTED_MEDIA_TYPE', 'The offer must be sent as application/sdp.');
    const sdp = await readBody(req, limits.maxOfferBytes);
    if (sdp === undefined) return refuse(res, 'PAYLOAD_TOO_LARGE', `The offer is larger than ${limits.maxOfferBytes} bytes.`);
    const remoteAddress = peerAddress(req);
    const reply = await whep.offer({ channel: route.channel, authorization: req.headers.authorization, remoteAddress, sdp });
    if (res.destroyed && reply.status === 201) return whep.remove(route.channel, reply.headers.location!.split('/').pop()!);
    send(res, reply.status, reply.headers, reply.body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (o.whep && (req.url ?? '').startsWith('/whep/')) return handleWhep(req, res, o.whep);
    const route = parseWhipPath(new URL(req.url ?? '/', 'http://x').pathname);
    if (!route) return refuse(res, 'NOT_FOUND', 'Not a WHIP endpoint: POST to /whip/<channel>.');
    if (req.method === 'OPTIONS') return send(res, 204, {});
    if (route.kind === 'endpoint') {
      if (req.method === 'POST') return post(req, res, route.channel);
      return refuse(res, 'METHOD_NOT_ALLOWED', 'The WHIP endpoint takes POST.', { allow: 'POST, OPTIONS' });
    }
    const r = resources.get(route.resourceId);
    if (!r || r.channel !== route.channel) return refuse(res, 'NOT_FOUND', 'No such WHIP session.');
    if (req.method === 'DELETE') {
      r.end('unpublished');
      return send(res, 200, {});
    }
    return refuse(res, 'METHOD_NOT_ALLOWED', 'A WHIP session takes DELETE (no trickle ICE: the answer carries every candidate).', { allow: 'DELETE, OPTIONS' });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.logger.error({ err }, 'WHIP request failed');
      if (!res.headersSent) refuse(res, 'INTERNAL', 'Internal error.');
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    count: () => sessions.count(),
    async close() {
      for (const r of [...resources.values()]) r.end('disconnected', 'node shutdown');
      o.whep?.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The client's address as the socket gives it, an IPv4-mapped IPv6 address as plain IPv4 (what key CIDRs, token bindings and the per-address caps compare). */
function peerAddress(req: http.IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/** The request body as UTF-8, or undefined past `max` bytes (the rest is not read). */
function readBody(req: http.IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
