/**
 * `POST /api/beacons`: player quality-of-experience beacons into the TELEMETRY stream.
 * The shapes and limits are the contract of `@live/events` telemetry.ts.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Counter, type Registry } from 'prom-client';
import {
  beaconId, telemetrySubject, MAX_BEACON_AGE_MS, MAX_BEACON_BATCH_BYTES, MAX_BEACON_CLOCK_SKEW_MS, MAX_BEACONS_PER_BATCH,
  type Beacon, type BeaconBatch, type StoredBeacon,
} from '@live/events';
import { ApiError, ErrorBody } from '../errors.js';
import type { ApiApp, ApiContext } from '../context.js';

/** A broadcast session id (as in `/api/streams/{id}`). */
const SessionId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
/** RFC 9562 UUID text form (any version), lower or upper case. */
const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
/** A browser-kept random id: a UUID or another URL-safe token of 8–64 characters. */
const ViewerId = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' });
/** A rendition name such as `720p`; '' while the player does not know it yet. */
const RenditionName = Type.String({ maxLength: 64, pattern: '^[\\x20-\\x7e]*$' });
/** Media position, seconds (up to ~115 days of media). */
const Position = Type.Number({ minimum: 0, maximum: 1e7 });
/** A duration the page measured, ms (at most the age a beacon may have). */
const DurationMs = Type.Integer({ minimum: 0, maximum: MAX_BEACON_AGE_MS });

// `seq`: per playback session from 0; `at`: ms since the Unix epoch (client clock; range-checked
// against the server clock in the handler, so the schema only bounds it to sane integers).
const base = { seq: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }), at: Type.Integer({ minimum: 0, maximum: 8.64e15 }) };
const variant = <K extends Beacon['type'], P extends Record<string, TSchema>>(type: K, props: P) =>
  Type.Object({ type: Type.Literal(type), ...base, ...props }, { additionalProperties: false });

/**
 * TypeBox schema of one {@link Beacon}, every variant of the union in `@live/events`, with
 * unknown fields refused. Ranges: positions 0–1e7 s, durations 0–{@link MAX_BEACON_AGE_MS} ms,
 * bandwidth 0–10,000,000 kbit/s, live latency 0–1 h, names ≤ 64 printable ASCII, error codes ≤ 128.
 */
export const BeaconSchema = Type.Union([
  variant('session_start', { live: Type.Boolean(), autoplay: Type.Boolean() }),
  variant('first_frame', { ttffMs: DurationMs, rendition: RenditionName }),
  variant('rebuffer_start', { position: Position }),
  variant('rebuffer_end', { position: Position, durationMs: DurationMs }),
  variant('rendition_switch', {
    from: Type.Union([RenditionName, Type.Null()]), to: RenditionName,
    reason: Type.Union([Type.Literal('initial'), Type.Literal('abr'), Type.Literal('manual')]),
  }),
  variant('error', { fatal: Type.Boolean(), code: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x20-\\x7e]*$' }) }),
  variant('heartbeat', {
    position: Position,
    rendition: RenditionName,
    bandwidthKbps: Type.Number({ minimum: 0, maximum: 1e7 }),
    liveLatencyMs: Type.Union([Type.Integer({ minimum: 0, maximum: 3_600_000 }), Type.Null()]),
    droppedFrames: Type.Integer({ minimum: 0, maximum: 1e9 }),
    playingMs: DurationMs,
  }),
  variant('session_end', { playingMs: DurationMs }),
]);

/**
 * TypeBox schema of the `POST /api/beacons` body ({@link BeaconBatch}). `beacons` needs at
 * least one; the upper bound ({@link MAX_BEACONS_PER_BATCH}) is checked before validation so that
 * it answers BEACON_BATCH_TOO_LARGE rather than VALIDATION_FAILED.
 */
export const BeaconBatchSchema = Type.Object({
  playbackSessionId: Uuid,
  sessionId: SessionId,
  viewerId: ViewerId,
  beacons: Type.Array(BeaconSchema, { minItems: 1 }),
}, { additionalProperties: false });

// The schema and the contract must describe the same shape.
type SameAs<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _schemaMatchesContract: SameAs<Static<typeof BeaconSchema>, Beacon> = true;
void _schemaMatchesContract;

const checkBatch = TypeCompiler.Compile(BeaconBatchSchema);

/**
 * Strict validation of the body: unlike the app's Ajv (which coerces `"1"` to `1` for
 * querystrings' sake), a beacon of the wrong type is refused, never coerced. Errors carry
 * `validation`, so the app's error handler answers VALIDATION_FAILED.
 */
function strictBatchValidator(): (data: unknown) => { value: unknown } | { error: Error } {
  return (data) => {
    if (checkBatch.Check(data)) return { value: data };
    const first = checkBatch.Errors(data).First();
    const where = first?.path ? `body${first.path.replace(/\//g, '.')}` : 'body';
    return { error: Object.assign(new Error(`${where}: ${first?.message ?? 'does not match the schema'}`), { validation: [first] }) };
  };
}

/** Options of {@link beaconRoutes}. */
export interface BeaconRouteOptions {
  /** Registry of the API's `/metrics`. */
  readonly registry: Registry;
  /** Per-address limit of this route (default 60 batches per minute, stricter than the global limit). */
  readonly rateLimit?: { readonly max: number; readonly timeWindowMs: number };
  /** Sessions remembered as known (session id → channel id), to spare the read model (default 10,000). */
  readonly sessionCacheSize?: number;
}

/**
 * `POST /api/beacons` (anonymous allowed; a valid access token attributes the beacons to the
 * user): validates a {@link BeaconBatch} and appends one {@link StoredBeacon} per beacon to the
 * TELEMETRY stream on `telemetrySubject(channelId)` with `Nats-Msg-Id = beaconId(beacon)` (so a
 * batch posted twice is stored once, within the stream's 2-minute duplicate window and, by id,
 * in analytics), then answers 202 `{ accepted: n }`. A batch is accepted or refused as a whole:
 * - VALIDATION_FAILED (400): wrong types, unknown fields, values out of range, a `seq` twice;
 * - BEACON_TIME_IN_FUTURE / BEACON_TOO_OLD (400): an `at` more than
 *   {@link MAX_BEACON_CLOCK_SKEW_MS} ahead of the server clock or older than {@link MAX_BEACON_AGE_MS};
 * - BEACON_BATCH_TOO_LARGE (413): more than {@link MAX_BEACONS_PER_BATCH} beacons;
 *   PAYLOAD_TOO_LARGE (413): a body over {@link MAX_BEACON_BATCH_BYTES} bytes;
 * - BEACON_SESSION_UNKNOWN (422): `sessionId` is not in the `stream_sessions` read model;
 * - RATE_LIMITED (429): over the per-address limit; EVENT_LOG_UNAVAILABLE (503): JetStream did not
 *   acknowledge every beacon (retry: those already stored are deduplicated).
 * Every refusal is counted in `beacons_refused_total{code}`; accepted (non-duplicate) beacons in
 * `beacons_accepted_total{type}`, and the rebuffering and playing time they report in
 * `beacons_rebuffer_seconds_total` and `beacons_playing_seconds_total` (for alerting; analytics
 * count from ClickHouse).
 */
export async function beaconRoutes(app: ApiApp, ctx: ApiContext, opts: BeaconRouteOptions): Promise<void> {
  const refused = new Counter({ name: 'beacons_refused_total', help: 'POST /api/beacons batches refused, by error code', labelNames: ['code'], registers: [opts.registry] });
  const accepted = new Counter({ name: 'beacons_accepted_total', help: 'Beacons appended to TELEMETRY (duplicates not counted), by beacon type', labelNames: ['type'], registers: [opts.registry] });
  const rebufferSeconds = new Counter({ name: 'beacons_rebuffer_seconds_total', help: 'Stall time reported by accepted rebuffer_end beacons, seconds', registers: [opts.registry] });
  const playingSeconds = new Counter({ name: 'beacons_playing_seconds_total', help: 'Playing time reported by accepted heartbeat and session_end beacons, seconds', registers: [opts.registry] });
  const cacheSize = opts.sessionCacheSize ?? 10_000;
  /** session id → channel id of sessions known to exist (a session never changes channel). */
  const knownSessions = new Map<string, string>();

  async function channelOfSession(sessionId: string): Promise<string | null> {
    const hit = knownSessions.get(sessionId);
    if (hit !== undefined) return hit;
    const row = await ctx.db.selectFrom('stream_sessions').select('channel_id').where('session_id', '=', sessionId).executeTakeFirst();
    if (!row) return null; // not cached: the projector may still be catching up with a new session
    if (knownSessions.size >= cacheSize) knownSessions.delete(knownSessions.keys().next().value!);
    knownSessions.set(sessionId, row.channel_id);
    return row.channel_id;
  }

  app.post('/api/beacons', {
    bodyLimit: MAX_BEACON_BATCH_BYTES,
    validatorCompiler: strictBatchValidator,
    config: {
      rateLimit: {
        max: opts.rateLimit?.max ?? 60,
        timeWindow: opts.rateLimit?.timeWindowMs ?? 60_000,
      },
    },
    schema: {
      tags: ['telemetry'],
      summary: 'Append a batch of player QoE beacons',
      body: BeaconBatchSchema,
      response: {
        202: Type.Object({ accepted: Type.Integer() }),
        400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody,
      },
    },
    // Before validation, so that a huge batch is refused for its size, not for its first bad field.
    preValidation: async (req) => {
      const beacons = (req.body as { beacons?: unknown } | null | undefined)?.beacons;
      if (Array.isArray(beacons) && beacons.length > MAX_BEACONS_PER_BATCH) {
        throw new ApiError('BEACON_BATCH_TOO_LARGE', `At most ${MAX_BEACONS_PER_BATCH} beacons per batch; this one has ${beacons.length}.`);
      }
    },
    // Every refusal of this route, whatever raised it (schema, body limit, rate limit, handler).
    onSend: async (_req, reply, payload) => {
      if (reply.statusCode >= 400) refused.inc({ code: errorCode(payload) });
      return payload;
    },
  }, async (req, reply) => {
    const batch = req.body as BeaconBatch;
    const now = ctx.clock.now();
    const seqs = new Set<number>();
    for (const b of batch.beacons) {
      if (seqs.has(b.seq)) throw new ApiError('VALIDATION_FAILED', `seq ${b.seq} appears twice in the batch.`);
      seqs.add(b.seq);
      if (b.at > now + MAX_BEACON_CLOCK_SKEW_MS) {
        throw new ApiError('BEACON_TIME_IN_FUTURE', `Beacon seq ${b.seq} is ${b.at - now} ms ahead of the server clock (at most ${MAX_BEACON_CLOCK_SKEW_MS} ms allowed); nothing was accepted.`);
      }
      if (b.at < now - MAX_BEACON_AGE_MS) {
        throw new ApiError('BEACON_TOO_OLD', `Beacon seq ${b.seq} is ${now - b.at} ms old (at most ${MAX_BEACON_AGE_MS} ms allowed); nothing was accepted.`);
      }
    }
    const channelId = await channelOfSession(batch.sessionId);
    if (channelId === null) throw new ApiError('BEACON_SESSION_UNKNOWN', `No stream session ${batch.sessionId}; nothing was accepted.`);
    const m = ctx.messaging;
    if (!m) throw new ApiError('EVENT_LOG_UNAVAILABLE');
    const subject = telemetrySubject(channelId);
    const userId = req.user?.userId ?? null;
    const stored: StoredBeacon[] = batch.beacons.map((b) => ({
      ...b, playbackSessionId: batch.playbackSessionId, channelId, sessionId: batch.sessionId, viewerId: batch.viewerId, userId, receivedAt: now,
    }));
    let acks;
    try {
      // Published concurrently on one connection: the server receives (and stores) them in order.
      acks = await Promise.all(stored.map((s) => m.js.publish(subject, JSON.stringify(s), { msgID: beaconId(s) })));
    } catch (err) {
      req.log.warn({ err: (err as Error).message, sessionId: batch.sessionId, streamId: channelId }, 'beacons not appended');
      throw new ApiError('EVENT_LOG_UNAVAILABLE');
    }
    acks.forEach((ack, i) => {
      if (ack.duplicate) return;
      const s = stored[i]!;
      accepted.inc({ type: s.type });
      if (s.type === 'rebuffer_end') rebufferSeconds.inc(s.durationMs / 1000);
      else if (s.type === 'heartbeat' || s.type === 'session_end') playingSeconds.inc(s.playingMs / 1000);
    });
    return reply.status(202).send({ accepted: stored.length });
  });
}

/** The `code` of an error body (`{ code, message }`) as the error handler serialised it. */
function errorCode(payload: unknown): string {
  try {
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === 'string' ? code : 'UNKNOWN';
  } catch {
    return 'UNKNOWN';
  }
}
