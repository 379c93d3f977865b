import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { MAX_WEBHOOK_ENDPOINTS, WEBHOOK_EVENT_TYPE_NAMES } from '@live/events';
import {
  createWebhookEndpoint, deleteWebhookEndpoint, enableWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, redeliverWebhook, setWebhookSecret,
  updateWebhookEndpoint, webhookDeliveryLog, type WebhookEndpointView,
} from '@live/db';
import { newWebhookSecret } from '@live/auth';
import { ApiError, ErrorBody } from '../errors.js';
import { requireChannelManager, requireRole, requireUser, type ApiApp, type ApiContext } from '../context.js';

const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const EventTypes = Type.Array(Type.Union(WEBHOOK_EVENT_TYPE_NAMES.map((t) => Type.Literal(t))), {
  minItems: 1, maxItems: WEBHOOK_EVENT_TYPE_NAMES.length, uniqueItems: true,
  description: `Webhook types to receive: ${WEBHOOK_EVENT_TYPE_NAMES.join(', ')}.`,
});
const UrlField = Type.String({ minLength: 1, maxLength: 2048, description: 'Where deliveries are POSTed: an absolute http:// or https:// URL, without user or password.' });
const Description = Type.String({ maxLength: 200 });

/** A webhook endpoint as the API shows it (never its secret). */
export const WebhookEndpointBody = Type.Object({
  id: Type.String(),
  scope: Type.Union([Type.Literal('channel'), Type.Literal('platform')]),
  channelId: Nullable(Type.String()),
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Nullable(Type.String({ description: 'Why deliveries stopped (the retry schedule ran out: the last error).' })),
  disabledAt: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Type.String(),
});

/** Answer to creating an endpoint and to rotating its secret: the only times the secret is shown. */
export const WebhookWithSecret = Type.Object({
  endpoint: WebhookEndpointBody,
  secret: Type.String({ description: 'The signing secret (`whsec_…`). Shown this once; store it. Deliveries carry `Live-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.' }),
});

/** One delivery of an endpoint's log with its attempts. */
export const WebhookDeliveryBody = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered')]),
  createdAt: Type.String({ format: 'date-time' }),
  nextAttemptAt: Nullable(Type.String({ format: 'date-time' })),
  deliveredAt: Nullable(Type.String({ format: 'date-time' })),
  redeliveryOf: Nullable(Type.String()),
  payload: Type.String({ description: 'The JSON body sent.' }),
  attempts: Type.Array(Type.Object({
    at: Type.String({ format: 'date-time' }),
    statusCode: Type.Union([Type.Integer(), Type.Null()]),
    error: Nullable(Type.String()),
    durationMs: Type.Integer(),
    ok: Type.Boolean(),
  })),
});

const CreateBody = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('channel'), Type.Literal('platform')], { description: '`channel` (default: needs channelId; owner or admin) or `platform` (every channel; admins).' })),
  channelId: Type.Optional(IdParam),
  url: UrlField,
  description: Type.Optional(Description),
  eventTypes: EventTypes,
}, { additionalProperties: false });

const PatchBody = Type.Object({
  url: Type.Optional(UrlField),
  description: Type.Optional(Description),
  eventTypes: Type.Optional(EventTypes),
}, { additionalProperties: false });

/**
 * The URL deliveries go to, normalised, when it is an absolute http(s) URL without credentials.
 * (Other schemes (`file:`, `ftp:`, `gopher:` …) are refused; addresses are not: see the README
 * on SSRF.)
 * @throws ApiError WEBHOOK_URL_INVALID.
 */
export function checkWebhookUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ApiError('WEBHOOK_URL_INVALID', 'url: not an absolute URL.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ApiError('WEBHOOK_URL_INVALID', `url: the scheme must be http or https, not ${u.protocol.replace(/:$/, '')}.`);
  if (u.username || u.password) throw new ApiError('WEBHOOK_URL_INVALID', 'url: must not carry a user or password.');
  u.hash = '';
  return u.toString();
}

/**
 * Webhook routes (README "Webhooks"). Channel endpoints are managed by the channel's owner (or an
 * admin), platform endpoints by admins; anyone else gets NOT_CHANNEL_OWNER / FORBIDDEN, and an
 * unknown id WEBHOOK_NOT_FOUND:
 * - `POST /api/webhooks` `{ scope?, channelId?, url, description?, eventTypes }` → 201 `{ endpoint, secret }`
 *   (the secret shown once; at most {@link MAX_WEBHOOK_ENDPOINTS} per channel and for the
 *   platform: WEBHOOK_LIMIT; a URL that is not http(s): WEBHOOK_URL_INVALID);
 * - `GET /api/webhooks?channelId=` (a channel's, or without it the caller's channels' and, for
 *   admins, the platform's), `GET|PATCH|DELETE /api/webhooks/{id}`;
 * - `POST /api/webhooks/{id}/rotate-secret` → `{ endpoint, secret }` (the old secret stops at once);
 * - `POST /api/webhooks/{id}/enable`: a disabled endpoint is enabled, its queue retried at once;
 * - `GET /api/webhooks/{id}/deliveries?limit=&before=`: the delivery log, newest first, with
 *   every attempt (time, status code, error, duration);
 * - `POST /api/webhooks/{id}/deliveries/{deliveryId}/redeliver` → 202 `{ deliveryId }`: the same
 *   payload queued again at the end of the endpoint's queue.
 * Endpoints and deliveries are operational state in PostgreSQL (not events): a secret must
 * never enter the log.
 */
export async function webhookRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const tags = ['webhooks'];
  const IdParams = Type.Object({ id: IdParam });

  /** The endpoint when the caller may manage it. */
  async function managed(req: FastifyRequest, id: string): Promise<WebhookEndpointView> {
    requireUser(req);
    const ep = await getWebhookEndpoint(ctx.db, id);
    if (!ep) throw new ApiError('WEBHOOK_NOT_FOUND');
    if (ep.scope === 'platform') requireRole(req, 'admin');
    else await requireChannelManager(ctx, req, ep.channelId!);
    const { secret: _secret, ...view } = ep;
    return view;
  }

  app.post('/api/webhooks', {
    schema: { tags, body: CreateBody, response: { 201: WebhookWithSecret, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody } },
  }, async (req, reply) => {
    const b = req.body;
    const scope = b.scope ?? 'channel';
    let user;
    if (scope === 'platform') {
      user = requireRole(req, 'admin');
      if (b.channelId !== undefined) throw new ApiError('VALIDATION_FAILED', 'channelId: a platform endpoint receives every channel\'s events; leave channelId out.');
    } else {
      requireUser(req);
      if (b.channelId === undefined) throw new ApiError('VALIDATION_FAILED', 'channelId: required for a channel endpoint.');
      user = await requireChannelManager(ctx, req, b.channelId);
    }
    const url = checkWebhookUrl(b.url);
    const secret = newWebhookSecret();
    const endpoint = await createWebhookEndpoint(ctx.db, {
      scope, channelId: scope === 'channel' ? b.channelId! : null, createdBy: user.userId, url, description: b.description ?? '', eventTypes: b.eventTypes,
      secret, createdAtMs: ctx.clock.now(),
    }, MAX_WEBHOOK_ENDPOINTS);
    if (!endpoint) throw new ApiError('WEBHOOK_LIMIT');
    void reply.code(201).header('cache-control', 'no-store');
    return { endpoint, secret };
  });

  app.get('/api/webhooks', {
    schema: {
      tags,
      querystring: Type.Object({ channelId: Type.Optional(IdParam) }, { additionalProperties: false }),
      response: { 200: Type.Object({ endpoints: Type.Array(WebhookEndpointBody) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const u = requireUser(req);
    if (req.query.channelId !== undefined) {
      await requireChannelManager(ctx, req, req.query.channelId);
      return { endpoints: await listWebhookEndpoints(ctx.db, { channelId: req.query.channelId }) };
    }
    return { endpoints: await listWebhookEndpoints(ctx.db, { ownerUserId: u.userId, admin: u.roles.includes('admin') }) };
  });

  app.get('/api/webhooks/:id', {
    schema: { tags, params: IdParams, response: { 200: WebhookEndpointBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => managed(req, req.params.id));

  app.patch('/api/webhooks/:id', {
    schema: { tags, params: IdParams, body: PatchBody, response: { 200: WebhookEndpointBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await managed(req, req.params.id);
    const url = req.body.url !== undefined ? checkWebhookUrl(req.body.url) : undefined;
    const ep = await updateWebhookEndpoint(ctx.db, req.params.id, { ...req.body, ...(url !== undefined ? { url } : {}) });
    if (!ep) throw new ApiError('WEBHOOK_NOT_FOUND');
    return ep;
  });

  app.delete('/api/webhooks/:id', {
    schema: { tags, params: IdParams, response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req, reply) => {
    await managed(req, req.params.id);
    if (!(await deleteWebhookEndpoint(ctx.db, req.params.id))) throw new ApiError('WEBHOOK_NOT_FOUND');
    return reply.code(204).send(null);
  });

  app.post('/api/webhooks/:id/rotate-secret', {
    schema: { tags, params: IdParams, body: Type.Object({}, { additionalProperties: false }), response: { 200: WebhookWithSecret, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req, reply) => {
    const endpoint = await managed(req, req.params.id);
    const secret = newWebhookSecret();
    if (!(await setWebhookSecret(ctx.db, endpoint.id, secret))) throw new ApiError('WEBHOOK_NOT_FOUND');
    void reply.header('cache-control', 'no-store');
    return { endpoint, secret };
  });

  app.post('/api/webhooks/:id/enable', {
    schema: { tags, params: IdParams, body: Type.Object({}, { additionalProperties: false }), response: { 200: WebhookEndpointBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await managed(req, req.params.id);
    const ep = await enableWebhookEndpoint(ctx.db, req.params.id);
    if (!ep) throw new ApiError('WEBHOOK_NOT_FOUND');
    return ep;
  });

  app.get('/api/webhooks/:id/deliveries', {
    schema: {
      tags,
      params: IdParams,
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
        before: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'The `nextBefore` of the previous page.' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ deliveries: Type.Array(WebhookDeliveryBody), nextBefore: Nullable(Type.String()) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    await managed(req, req.params.id);
    return webhookDeliveryLog(ctx.db, req.params.id, { limit: req.query.limit, ...(req.query.before !== undefined ? { before: req.query.before } : {}) });
  });

  app.post('/api/webhooks/:id/deliveries/:deliveryId/redeliver', {
    schema: {
      tags,
      params: Type.Object({ id: IdParam, deliveryId: IdParam }),
      body: Type.Object({}, { additionalProperties: false }),
      response: { 202: Type.Object({ deliveryId: Type.String() }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req, reply) => {
    await managed(req, req.params.id);
    const deliveryId = await redeliverWebhook(ctx.db, req.params.id, req.params.deliveryId);
    if (!deliveryId) throw new ApiError('WEBHOOK_DELIVERY_NOT_FOUND');
    void reply.code(202);
    return { deliveryId };
  });
}

/** Static type of {@link WebhookEndpointBody}. */
export type WebhookEndpointBody = Static<typeof WebhookEndpointBody>;
