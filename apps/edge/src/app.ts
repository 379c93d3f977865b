import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Registry, Counter, collectDefaultMetrics } from 'prom-client';
import { currentLiveSession, type Db } from '@live/db';
import type { ObjectStorage } from '@live/storage';

/** Dependencies and settings of {@link buildEdge}. */
export interface EdgeOptions {
  readonly storage: ObjectStorage;
  readonly db: Db;
  /** Milliseconds a channel → live session lookup is cached (default 1000). */
  readonly liveLookupCacheMs?: number;
  readonly logger?: boolean | object;
}

/** The edge's error catalogue (`{ code, message }` bodies). */
export const EDGE_ERRORS = {
  NOT_FOUND: { status: 404, message: 'No such object.' },
  CHANNEL_OFFLINE: { status: 404, message: 'The channel is not live.' },
  BAD_PATH: { status: 400, message: 'Invalid path.' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'Range not satisfiable.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
} as const;

type EdgeErrorCode = keyof typeof EDGE_ERRORS;

/** One path segment of an object key: no `..`, no separators, a conservative character set. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const CHANNEL_ID = /^[A-Za-z0-9_-]{1,128}$/;

function sendError(reply: FastifyReply, code: EdgeErrorCode): FastifyReply {
  return reply.status(EDGE_ERRORS[code].status).header('cache-control', 'no-store').send({ code, message: EDGE_ERRORS[code].message });
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
 * Builds the HLS edge/origin (Fastify): serves playlists and segments from object storage.
 * - `GET|HEAD /live/:channelId/*`: the channel's current live session (`sessions/<sessionId>/*`).
 * - `GET|HEAD /sessions/*`: any session's objects by key (VOD playlists, MP4).
 * Content-Type and Cache-Control come from storage (live playlists short, segments immutable);
 * ETag / Last-Modified with 304; single byte ranges (MP4 seeking); CORS `*` for browser players;
 * 404 `{ code, message }` for what does not exist; 400 for traversal attempts.
 */
export async function buildEdge(opts: EdgeOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, routerOptions: { maxParamLength: 1024 } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'edge_requests_total', help: 'Edge object requests by kind and status', labelNames: ['kind', 'status'], registers: [registry] });
  const cacheMs = opts.liveLookupCacheMs ?? 1000;
  const liveCache = new Map<string, { sessionId: string | null; at: number }>();

  async function liveSessionOf(channelId: string): Promise<string | null> {
    const hit = liveCache.get(channelId);
    if (hit && Date.now() - hit.at < cacheMs) return hit.sessionId;
    const s = await currentLiveSession(opts.db, channelId);
    const sessionId = s?.sessionId ?? null;
    liveCache.set(channelId, { sessionId, at: Date.now() });
    if (liveCache.size > 10_000) liveCache.clear();
    return sessionId;
  }

  async function serveKey(req: FastifyRequest, reply: FastifyReply, key: string): Promise<FastifyReply> {
    const kind = key.endsWith('.m3u8') ? 'playlist' : 'object';
    const info = await opts.storage.stat(key);
    if (!info) {
      requests.inc({ kind, status: 404 });
      return sendError(reply, 'NOT_FOUND');
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
      .header('last-modified', info.lastModified.toUTCString())
      .header('accept-ranges', 'bytes');
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    if ((inm && inm === info.etag) || (!inm && ims && Math.floor(info.lastModified.getTime() / 1000) <= Math.floor(Date.parse(ims) / 1000))) {
      requests.inc({ kind, status: 304 });
      return reply.status(304).send();
    }
    const status = range ? 206 : 200;
    if (range) reply.header('content-range', `bytes ${range.start}-${range.end}/${info.size}`);
    reply.header('content-length', String(range ? range.end - range.start + 1 : info.size));
    requests.inc({ kind, status });
    if (req.method === 'HEAD') return reply.status(status).send();
    const stream = await opts.storage.createReadStream(key, range ?? undefined);
    if (!stream) return sendError(reply, 'NOT_FOUND');
    return reply.status(status).send(stream);
  }

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', 'content-length, content-range, etag');
    reply.header('timing-allow-origin', '*');
    return payload;
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (err.name === 'InvalidStorageKeyError') return sendError(reply, 'BAD_PATH');
    if ((err.statusCode ?? 500) < 500) return sendError(reply, err.statusCode === 404 ? 'NOT_FOUND' : 'BAD_PATH');
    req.log.error({ err }, 'edge error');
    return sendError(reply, 'INTERNAL');
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, 'NOT_FOUND'));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.route({
    method: ['GET', 'HEAD'],
    url: '/live/:channelId/*',
    handler: async (req, reply) => {
      const { channelId, '*': rest } = req.params as { channelId: string; '*': string };
      const keyRest = safeKeyRest(rest);
      if (!CHANNEL_ID.test(channelId) || !keyRest) return sendError(reply, 'BAD_PATH');
      const sessionId = await liveSessionOf(channelId);
      if (!sessionId) return sendError(reply, 'CHANNEL_OFFLINE');
      return serveKey(req, reply, `sessions/${sessionId}/${keyRest}`);
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/sessions/*',
    handler: async (req, reply) => {
      const keyRest = safeKeyRest((req.params as { '*': string })['*']);
      if (!keyRest) return sendError(reply, 'BAD_PATH');
      return serveKey(req, reply, `sessions/${keyRest}`);
    },
  });
  app.options('/*', async (_req, reply) => reply.status(204)
    .header('access-control-allow-methods', 'GET, HEAD, OPTIONS')
    .header('access-control-allow-headers', 'range, if-none-match, if-modified-since')
    .header('access-control-max-age', '86400').send());
  return app;
}
