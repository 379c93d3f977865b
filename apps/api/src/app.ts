import type { SecureContextOptions } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { systemClock, type EventClock } from '@live/events';
import { ASYNCAPI_DOCUMENT } from '@live/events/asyncapi';
import { pingDb, type Db } from '@live/db';
import type { Messaging } from '@live/messaging';
import { API_ERRORS, ApiError, ErrorBody, fastifyErrorCode, type ApiErrorCode } from './errors.js';
import { createApiContext, DEFAULT_API_CONFIG, type ApiConfig } from './context.js';
import { createAuthenticator, redactAccessToken } from './auth/plugin.js';
import { userRoutes } from './routes/users.js';
import { discoveryRoutes } from './routes/discovery.js';
import { channelRoutes } from './routes/channels.js';
import { streamRoutes } from './routes/streams.js';
import { notificationRoutes } from './routes/notifications.js';
import { chatRoutes } from './routes/chat.js';
import { chatSendRoutes } from './routes/chat-send.js';
import { beaconRoutes } from './routes/beacons.js';
import { analyticsRoutes, type AnalyticsClient } from './routes/analytics.js';
import { playbackRoutes } from './routes/playback.js';
import { restreamRoutes } from './routes/restream.js';
import { recordingRoutes } from './routes/recordings.js';
import { webhookRoutes } from './routes/webhooks.js';

/** Dependencies and settings of {@link buildApp}. */
export interface ApiOptions {
  readonly db: Db;
  /** JetStream connection for commands (and live notifications); null = read-only API. */
  readonly messaging?: Messaging | null;
  /** Settings; everything but `jwtKeys` has a default ({@link DEFAULT_API_CONFIG}). */
  readonly config: Partial<ApiConfig> & Pick<ApiConfig, 'jwtKeys'>;
  /** Origins allowed by CORS (the web app). Default: any. */
  readonly corsOrigins?: string[] | true;
  readonly logger?: FastifyServerOptions['logger'];
  /** Time and randomness of new events (default: the system clock). */
  readonly clock?: EventClock;
  /** Global per-address request limit (default 600 per minute). */
  readonly rateLimit?: { max: number; timeWindowMs: number };
  /** Per-address limit of `POST /api/beacons` (default 60 batches per minute). */
  readonly beaconRateLimit?: { max: number; timeWindowMs: number };
  /**
   * ClickHouse client of the analytics routes (`createAnalyticsClient` of `@live/analytics`;
   * `CLICKHOUSE_URL` in `main.ts`). Without it those routes answer 503 ANALYTICS_UNAVAILABLE.
   * Not closed by the app: the caller owns it.
   */
  readonly analytics?: AnalyticsClient;
  /**
   * TLS credentials (`tls.SecureContextOptions`, e.g. `watchTlsFiles(…).current()` of
   * `@live/runtime`): the app is served over HTTPS; renewals are applied to `app.server` with
   * `applyTlsReloads`. Absent: plain HTTP (TLS terminated by a reverse proxy, or loopback).
   */
  readonly https?: SecureContextOptions;
  /**
   * Reverse proxies whose `X-Forwarded-For` is believed (`TRUST_PROXY`: addresses, CIDRs,
   * `loopback`…; Fastify's `trustProxy`, proxy-addr semantics), so that `request.ip` — rate
   * limits, sign-in throttling, address-bound playback tokens — is the client's address.
   * Default: none (the TCP peer is the client).
   */
  readonly trustProxy?: readonly string[];
  /**
   * Send `Strict-Transport-Security` (RFC 6797): only when the API is reached over HTTPS (its
   * own TLS or a TLS-terminating proxy). Default false.
   */
  readonly hsts?: boolean;
}

/**
 * Content-Security-Policy of every API response (W3C CSP Level 3): JSON needs nothing, and the
 * OpenAPI UI at `/docs` loads its scripts, styles and images from this origin (its inline
 * initializer is served as a file by @fastify/swagger-ui). No framing by other sites.
 */
export const API_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
} as const;

/**
 * Longest route parameter (one path segment, as sent) the router matches; Fastify's default is
 * 100. Above the longest id any schema accepts (128 characters, `subjectToken`'s limit), so that
 * every id a schema accepts is routed and a longer one is refused by its schema
 * (VALIDATION_FAILED); past this length the router refuses it (URI_TOO_LONG).
 */
export const MAX_PARAM_LENGTH = 512;

/**
 * Error codes counted in `api_auth_failures_total{code}`: a caller failed to authenticate
 * (wrong password, bad or expired token, refused refresh token, throttled sign-in).
 */
export const AUTH_FAILURE_CODES: ReadonlySet<ApiErrorCode> = new Set<ApiErrorCode>([
  'INVALID_CREDENTIALS', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'REFRESH_TOKEN_INVALID', 'REFRESH_TOKEN_REUSED', 'LOGIN_THROTTLED',
]);

// Fastify logs every request's URL before any hook runs; the notification stream's EventSource
// carries its access token in the query, so the request serializer redacts it.
function redactingLogger(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const base = typeof logger === 'object' ? logger : {};
  return {
    ...base,
    serializers: {
      ...(typeof logger === 'object' ? logger.serializers : {}),
      req: (req: { method: string; url: string; ip?: string; hostname?: string }) => ({ method: req.method, url: redactAccessToken(req.url), hostname: req.hostname, remoteAddress: req.ip }),
    },
  };
}

/**
 * Builds the platform API (Fastify 5, TypeBox schemas on every route, OpenAPI at `/docs`).
 * `main.ts` only listens; tests use `app.inject()`.
 * Cross-cutting: security headers (helmet), CORS for the web app, a per-address rate limit,
 * the auth hook (`Authorization: Bearer <access token>` → `req.user`), and one error handler
 * that answers every failure as `{ code, message }` from {@link API_ERRORS} (never a stack trace).
 * Routes: `/healthz`, `/readyz`, `/metrics`, accounts (`/api/users/*`, `/api/auth/*`), channels,
 * stream keys, follows (`/api/channels/*`), streams (`/api/streams/*`), discovery
 * (`/api/streams/search`, `/api/categories`), notifications (`/api/notifications*`) and chat
 * (history, moderation queue, room settings, banned terms, restrictions, audit log: routes/chat.ts),
 * player beacons (`POST /api/beacons`: routes/beacons.ts) and analytics
 * (`/api/streams/{id}/analytics`, `/api/analytics/overview`: routes/analytics.ts), signed playback
 * (`PUT /api/channels/{id}/playback-policy`, `POST /api/streams/{id}/playback-token`: routes/playback.ts),
 * webhooks (`/api/webhooks`: routes/webhooks.ts).
 * Metrics of its own on `/metrics`: `api_auth_failures_total{code}` ({@link AUTH_FAILURE_CODES})
 * and the beacon counters of routes/beacons.ts.
 */
export async function buildApp(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: redactingLogger(opts.logger), bodyLimit: 64 * 1024,
    trustProxy: opts.trustProxy && opts.trustProxy.length > 0 ? [...opts.trustProxy] : false,
    ...(opts.https ? { https: opts.https } : {}),
    // Unknown properties are refused (VALIDATION_FAILED), not silently dropped: a client that
    // misspells a field learns it. Query strings are still coerced (`limit=20` → 20).
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // The router's own errors (a path that does not percent-decode, a parameter over
    // MAX_PARAM_LENGTH) are answered before any hook or route, from the catalogue.
    frameworkErrors: (err, _req, reply) => {
      const code = fastifyErrorCode(err.code) ?? 'BAD_REQUEST';
      void (reply as FastifyReply).status(API_ERRORS[code].status).send({ code, message: API_ERRORS[code].message });
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  const config: ApiConfig = { ...DEFAULT_API_CONFIG, ...opts.config };
  if (config.jwtKeys.length === 0) throw new Error('ApiConfig.jwtKeys needs at least one key');
  if (!Number.isInteger(config.playbackTokenTtlSeconds) || config.playbackTokenTtlSeconds < 10 || config.playbackTokenTtlSeconds > 86_400) {
    throw new Error('ApiConfig.playbackTokenTtlSeconds must be an integer from 10 to 86400');
  }
  const ctx = createApiContext({ db: opts.db, messaging: opts.messaging ?? null, config, clock: opts.clock ?? systemClock });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const authFailures = new Counter({ name: 'api_auth_failures_total', help: 'Failed authentications (sign-in, access token, refresh token), by error code', labelNames: ['code'], registers: [registry] });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    if (err instanceof ApiError) {
      if (AUTH_FAILURE_CODES.has(err.code)) authFailures.inc({ code: err.code });
      if (err.retryAfterSeconds !== undefined) void reply.header('retry-after', String(err.retryAfterSeconds));
      return reply.status(err.statusCode).send({ code: err.code, message: err.message });
    }
    if (err.validation) return reply.status(400).send({ code: 'VALIDATION_FAILED', message: err.message });
    // Fastify's own errors (body parser: FST_ERR_CTP_*) get the catalogue's code and message.
    const fastifyCode = fastifyErrorCode(err.code);
    let code: ApiErrorCode;
    if (fastifyCode) code = fastifyCode;
    else if (err instanceof SyntaxError) code = 'BAD_JSON'; // secure-json-parse: __proto__ / constructor.prototype keys
    else {
      const status = err.statusCode ?? 500;
      const byStatus: Partial<Record<number, ApiErrorCode>> = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE', 414: 'URI_TOO_LONG', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED' };
      code = byStatus[status] ?? 'INTERNAL';
    }
    if (code === 'INTERNAL') req.log.error({ err }, 'unhandled error');
    const message = fastifyCode || code === 'INTERNAL' || code === 'BAD_JSON' || code === 'UNSUPPORTED_MEDIA_TYPE' ? API_ERRORS[code].message : err.message;
    return reply.status(API_ERRORS[code].status).send({ code, message });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ code: 'NOT_FOUND', message: API_ERRORS.NOT_FOUND.message }));

  await app.register(helmet, {
    // The API serves JSON (and the OpenAPI UI at /docs, which needs its own inline assets).
    // JSON needs no policy; the UI at /docs loads its own scripts and styles from this origin.
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    hsts: opts.hsts ? { maxAge: 31_536_000, includeSubDomains: false } : false,
  });
  // Credentials travel as `Authorization: Bearer`, never as cookies, so CORS does not allow
  // credentialed requests: a reflected origin then grants nothing a page could not do anyway.
  await app.register(cors, { origin: opts.corsOrigins ?? true, credentials: false, methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] });
  await app.register(rateLimit, {
    max: opts.rateLimit?.max ?? 600,
    timeWindow: opts.rateLimit?.timeWindowMs ?? 60_000,
    allowList: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics',
    errorResponseBuilder: (_req, c) => new ApiError('RATE_LIMITED', `Too many requests; retry in ${Math.ceil(c.ttl / 1000)} s.`, { retryAfterSeconds: Math.ceil(c.ttl / 1000) }),
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Live platform API', version: '0.1.0', description: 'Accounts, channels, stream keys, streams, discovery, follows, notifications, chat moderation, signed playback, player telemetry, analytics and webhooks. Errors are `{ code, message }`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // The published event API beside the OpenAPI document (/docs/json): what integrators read from JetStream.
  app.get('/docs/asyncapi.json', { schema: { hide: true } }, async (_req, reply) => reply.header('cache-control', 'public, max-age=300').send(ASYNCAPI_DOCUMENT));

  // A command without a body (`POST …/rotate`, `POST /api/notifications/read`) is validated as `{}`.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && req.method !== 'GET' && req.method !== 'HEAD') req.body = {};
  });
  app.decorateRequest('user', null);
  app.addHook('onRequest', createAuthenticator(ctx));

  app.get('/healthz', { schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }), 503: ErrorBody } } }, async () => {
    try {
      await pingDb(opts.db);
    } catch {
      throw new ApiError('NOT_READY', 'database unavailable');
    }
    if (opts.messaging && opts.messaging.nc.isClosed()) throw new ApiError('NOT_READY', 'NATS connection closed');
    return { status: 'ok' as const };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  await userRoutes(app, ctx);
  await discoveryRoutes(app, ctx);
  await channelRoutes(app, ctx);
  await restreamRoutes(app, ctx);
  await streamRoutes(app, ctx);
  await playbackRoutes(app, ctx);
  await notificationRoutes(app, ctx);
  await chatRoutes(app, ctx);
  await chatSendRoutes(app, ctx);
  await beaconRoutes(app, ctx, { registry, ...(opts.beaconRateLimit ? { rateLimit: opts.beaconRateLimit } : {}) });
  await analyticsRoutes(app, ctx, opts.analytics);
  await webhookRoutes(app, ctx);
  await recordingRoutes(app, ctx);
  return app;
}
