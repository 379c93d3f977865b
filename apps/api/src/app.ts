import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { listSessions, pingDb, type Db, type SessionListing } from '@live/db';
import { API_ERRORS, ApiError, type ApiErrorCode } from './errors.js';

/** Dependencies and settings of {@link buildApp}. */
export interface ApiOptions {
  readonly db: Db;
  /** Prefix for playback URLs (the edge's public base URL); '' gives same-origin paths like `/live/<channelId>/master.m3u8`. */
  readonly edgeBaseUrl?: string;
  /** Origins allowed by CORS (the web app). Default: any. */
  readonly corsOrigins?: string[] | true;
  readonly logger?: FastifyServerOptions['logger'];
}

const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

const Rendition = Type.Object({
  name: Type.String(), width: Type.Integer(), height: Type.Integer(), bandwidth: Type.Integer(), codecs: Type.String(), passthrough: Type.Boolean(),
});

/** One broadcast session as the API returns it. */
export const StreamItem = Type.Object({
  sessionId: Type.String(),
  channelId: Type.String(),
  channelName: Type.String(),
  title: Type.String(),
  status: Type.Union([Type.Literal('starting'), Type.Literal('live'), Type.Literal('ended'), Type.Literal('vod'), Type.Literal('failed')]),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  playbackUrl: Type.Union([Type.String(), Type.Null()]),
  vodUrl: Type.Union([Type.String(), Type.Null()]),
  vodMp4Url: Type.Union([Type.String(), Type.Null()]),
  durationSeconds: Type.Union([Type.Number(), Type.Null()]),
  renditions: Type.Array(Type.String()),
  renditionDetails: Type.Array(Rendition),
  failureReason: Type.Union([Type.String(), Type.Null()]),
});
/** Static type of {@link StreamItem}. */
export type StreamItem = Static<typeof StreamItem>;

function toItem(s: SessionListing, edge: string): StreamItem {
  const live = s.status === 'starting' || s.status === 'live';
  return {
    sessionId: s.sessionId,
    channelId: s.channelId,
    channelName: s.channelName,
    title: s.title,
    status: s.status,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    playbackUrl: live ? `${edge}/live/${s.channelId}/master.m3u8` : null,
    vodUrl: s.vodMasterPlaylistKey ? `${edge}/${s.vodMasterPlaylistKey}` : null,
    vodMp4Url: s.vodMp4Key ? `${edge}/${s.vodMp4Key}` : null,
    durationSeconds: s.durationSeconds,
    renditions: s.renditions.map((r) => r.name),
    renditionDetails: s.renditions.map((r) => ({ ...r })),
    failureReason: s.failureReason,
  };
}

/**
 * Builds the platform API (Fastify 5, TypeBox schemas on every route). `server.ts`/`main.ts`
 * only listens; tests use `app.inject()`.
 * Routes: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /api/streams`, `GET /api/streams/:sessionId`.
 * Errors are `{ code, message }` from {@link API_ERRORS}.
 */
export async function buildApp(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 64 * 1024 }).withTypeProvider<TypeBoxTypeProvider>();
  const edge = (opts.edgeBaseUrl ?? '').replace(/\/$/, '');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  await app.register(cors, { origin: opts.corsOrigins ?? true });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    if (err instanceof ApiError) return reply.status(err.statusCode).send({ code: err.code, message: err.message });
    if (err.validation) return reply.status(400).send({ code: 'VALIDATION_FAILED', message: err.message });
    const status = err.statusCode ?? 500;
    const byStatus: Partial<Record<number, ApiErrorCode>> = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE', 415: 'BAD_REQUEST', 429: 'RATE_LIMITED' };
    const code = byStatus[status] ?? 'INTERNAL';
    if (code === 'INTERNAL') req.log.error({ err }, 'unhandled error');
    return reply.status(API_ERRORS[code].status).send({ code, message: code === 'INTERNAL' ? API_ERRORS.INTERNAL.message : err.message });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ code: 'NOT_FOUND', message: API_ERRORS.NOT_FOUND.message }));

  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }), 503: ErrorBody } } }, async () => {
    try {
      await pingDb(opts.db);
    } catch {
      throw new ApiError('NOT_READY', 'database unavailable');
    }
    return { status: 'ok' as const };
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.get('/api/streams', {
    schema: {
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        channelId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(StreamItem) }), 400: ErrorBody },
    },
  }, async (req) => {
    const rows = await listSessions(opts.db, { limit: req.query.limit, ...(req.query.channelId ? { channelId: req.query.channelId } : {}) });
    return { items: rows.map((r) => toItem(r, edge)) };
  });

  app.get('/api/streams/:sessionId', {
    schema: {
      params: Type.Object({ sessionId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }) }),
      response: { 200: StreamItem, 404: ErrorBody, 400: ErrorBody },
    },
  }, async (req) => {
    const [listing] = await listSessions(opts.db, { limit: 1, sessionId: req.params.sessionId });
    if (!listing) throw new ApiError('SESSION_NOT_FOUND');
    return toItem(listing, edge);
  });

  return app;
}
