/**
 * Restream destinations (events/src/restream.ts): the channel owner (or an admin) lists, adds,
 * changes and removes the RTMP/RTMPS servers the broadcast is copied to while live. Keys are
 * sealed (AES-256-GCM) before they are appended and are never returned: answers carry only the
 * masked key (`********` and its last four characters). Each destination carries the state of its
 * latest push (`idle`, `live`, `reconnecting`, `stopped`), projected from the ingest node's
 * Restream* events.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { sealSecret } from '@live/auth';
import { restreamDestinationById, restreamDestinationsOf, type RestreamDestination } from '@live/db';
import {
  channelSubject, domainEvent, isValidRestreamKey, maskedStreamKeyFromLast4, MAX_RESTREAM_DESTINATIONS, restreamKeyLast4, validateRestreamUrl,
} from '@live/events';
import { ApiError, ErrorBody } from '../errors.js';
import { requireChannelManager, type ApiApp, type ApiContext } from '../context.js';
import { cleanText } from '../text.js';

const PRODUCER = 'api';
const tags = ['restreaming'];
const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** A destination as the API shows it (never its key). */
const RestreamDestinationView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  url: Type.String({ description: '`rtmp://` or `rtmps://` server URL, without the key.' }),
  maskedKey: Type.String({ description: 'The stream key masked: `********` and its last four characters.' }),
  enabled: Type.Boolean(),
  state: Type.Union([Type.Literal('idle'), Type.Literal('live'), Type.Literal('reconnecting'), Type.Literal('stopped')], {
    description: 'idle: never pushed; live: the broadcast is being copied to it; reconnecting: the push failed and is retried (see `attempt`, `reason`); stopped: the last push stopped (see `reason`).',
  }),
  sessionId: Nullable(Type.String()),
  attempt: Type.Integer({ description: 'Attempt of the latest push in its session (1-based; 0 before any).' }),
  reason: Nullable(Type.String()),
  stateAt: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
});

const Params = Type.Object({ channelId: Id });
const DestParams = Type.Object({ channelId: Id, destinationId: Id });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Url = Type.String({ minLength: 1, maxLength: 512, description: '`rtmp://host[:port]/app` or `rtmps://…`' });
const Key = Type.String({ minLength: 1, maxLength: 256, description: 'The stream key the destination gave you; stored encrypted, never shown again.' });

/** The API view of a read-model row. */
function view(r: RestreamDestination): Static<typeof RestreamDestinationView> {
  return {
    id: r.id, name: r.name, url: r.url, maskedKey: maskedStreamKeyFromLast4(r.key_last4), enabled: r.enabled, state: r.state,
    sessionId: r.state_session_id, attempt: r.state_attempt, reason: r.state_reason, stateAt: r.state_at ? r.state_at.toISOString() : null,
    createdAt: r.created_at.toISOString(),
  };
}

/** The checked URL. @throws ApiError INVALID_RESTREAM_DESTINATION. */
function checkedUrl(input: string): string {
  const v = validateRestreamUrl(input);
  if (v.ok) return v.url;
  throw new ApiError('INVALID_RESTREAM_DESTINATION', {
    'not-a-url': 'The URL is not an absolute URL with a host.',
    scheme: 'Only rtmp:// and rtmps:// destinations are supported.',
    credentials: 'Put no user name or password in the URL; the stream key goes in its own field.',
    query: 'The URL must not have a query or fragment; the stream key goes in its own field.',
    'too-long': 'The URL is longer than 512 characters.',
    key: 'The stream key is not valid.',
  }[v.problem]);
}

/** The key sealed for the event, with its last four characters. @throws ApiError INVALID_RESTREAM_DESTINATION, RESTREAM_NOT_CONFIGURED. */
function sealedKey(ctx: ApiContext, key: string): { keySealed: string; keyLast4: string } {
  if (!isValidRestreamKey(key)) throw new ApiError('INVALID_RESTREAM_DESTINATION', 'The stream key must be 1-256 printable characters without spaces or "/".');
  if (!ctx.config.restreamSealing) throw new ApiError('RESTREAM_NOT_CONFIGURED');
  return { keySealed: sealSecret(ctx.config.restreamSealing, key), keyLast4: restreamKeyLast4(key) };
}

async function destinationOf(ctx: ApiContext, channelId: string, destinationId: string): Promise<RestreamDestination> {
  const d = await restreamDestinationById(ctx.db, destinationId);
  if (!d || d.channel_id !== channelId) throw new ApiError('RESTREAM_DESTINATION_NOT_FOUND');
  return d;
}

/**
 * Registers:
 * - `GET /api/channels/:channelId/restream-destinations` → `{ items }`;
 * - `POST /api/channels/:channelId/restream-destinations` `{ name, url, key, enabled? }` → 201 the destination;
 * - `PATCH /api/channels/:channelId/restream-destinations/:destinationId` `{ name?, url?, key?, enabled? }` → the destination;
 * - `DELETE /api/channels/:channelId/restream-destinations/:destinationId` → 204.
 * All for the channel owner or an admin. Changes reach a live broadcast at once: the ingest node
 * starts, restarts or stops the destination's push.
 */
export async function restreamRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  app.get('/api/channels/:channelId/restream-destinations', {
    schema: { tags, params: Params, response: { 200: Type.Object({ items: Type.Array(RestreamDestinationView) }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await requireChannelManager(ctx, req, req.params.channelId);
    return { items: (await restreamDestinationsOf(ctx.db, req.params.channelId)).map(view) };
  });

  app.post('/api/channels/:channelId/restream-destinations', {
    schema: {
      tags, params: Params,
      body: Type.Object({ name: Name, url: Url, key: Key, enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      response: { 201: RestreamDestinationView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
    },
  }, async (req, reply) => {
    const { channelId } = req.params;
    await requireChannelManager(ctx, req, channelId);
    const name = cleanText(req.body.name, 'name', { min: 1, max: 64 });
    const url = checkedUrl(req.body.url);
    const key = sealedKey(ctx, req.body.key);
    if ((await restreamDestinationsOf(ctx.db, channelId)).length >= MAX_RESTREAM_DESTINATIONS) throw new ApiError('RESTREAM_DESTINATION_LIMIT');
    const destinationId = randomUUID();
    await ctx.commit([domainEvent(ctx.clock, 'RestreamDestinationAdded', channelSubject(channelId), {
      channelId, destinationId, name, url, ...key, enabled: req.body.enabled ?? true,
    }, { producer: PRODUCER })]);
    return reply.status(201).send(view(await destinationOf(ctx, channelId, destinationId)));
  });

  app.patch('/api/channels/:channelId/restream-destinations/:destinationId', {
    schema: {
      tags, params: DestParams,
      body: Type.Object({ name: Type.Optional(Name), url: Type.Optional(Url), key: Type.Optional(Key), enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      response: { 200: RestreamDestinationView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
    },
  }, async (req) => {
    const { channelId, destinationId } = req.params;
    await requireChannelManager(ctx, req, channelId);
    const d = await destinationOf(ctx, channelId, destinationId);
    const name = req.body.name !== undefined ? cleanText(req.body.name, 'name', { min: 1, max: 64 }) : d.name;
    const url = req.body.url !== undefined ? checkedUrl(req.body.url) : d.url;
    const key = req.body.key !== undefined ? sealedKey(ctx, req.body.key) : {};
    await ctx.commit([domainEvent(ctx.clock, 'RestreamDestinationUpdated', channelSubject(channelId), {
      channelId, destinationId, name, url, enabled: req.body.enabled ?? d.enabled, ...key,
    }, { producer: PRODUCER })]);
    return view(await destinationOf(ctx, channelId, destinationId));
  });

  app.delete('/api/channels/:channelId/restream-destinations/:destinationId', {
    schema: { tags, params: DestParams, response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req, reply) => {
    const { channelId, destinationId } = req.params;
    await requireChannelManager(ctx, req, channelId);
    await destinationOf(ctx, channelId, destinationId);
    await ctx.commit([domainEvent(ctx.clock, 'RestreamDestinationRemoved', channelSubject(channelId), { channelId, destinationId }, { producer: PRODUCER })]);
    return reply.status(204).send(null);
  });
}
