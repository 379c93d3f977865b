/**
 * The ingest node's control listener: it follows the event log for decisions taken elsewhere
 * (the API, an admin) that concern publishers connected to THIS node, and acts on them within
 * a second or two:
 *
 * - `StreamKeyRevoked { keyId }` → every local session that published with `keyId` is kicked
 *   with reason `stream key revoked`;
 * - `StreamKeyRotated { oldKeyId }` → every local session that published with `oldKeyId` is
 *   kicked with reason `stream key rotated`;
 * - `StreamStopRequested { channelId, sessionId, actorUserId }` → that session, when it is on
 *   this node and publishes `channelId`, is kicked with reason `stopped by <actorUserId>` (or
 *   `stopped by operator` when the actor is null).
 *
 * A kicked session ends through the RTMP server's ordinary path: the publisher gets an error
 * `onStatus` (NetStream.Publish.Denied) and is disconnected, and a started publish ends with a
 * StreamPublishEnded of reason `kicked`.
 *
 * The two key events also put the key on a short-lived local deny list (see
 * {@link ControlListener.deniedKey}) that the node consults after `checkStreamKey`: the
 * `stream_keys` read model is updated by the projector asynchronously, and an encoder that
 * reconnects at once (OBS does) must not slip back in through that lag.
 *
 * Consumption: one follower per filter — `evt.channel.*` and `evt.stream.*`, because
 * nats-server 2.9 allows a single `filter_subject` per consumer — from `@live/messaging`
 * `followSubject`: an ordered, ephemeral consumer starting right after the last event stored
 * when the listener starts, recreated with backoff from the sequence after the last event it
 * saw when its iterator ends, so events appended while it was down are still acted on. Nothing
 * is acknowledged (ack policy none) and the actions are idempotent (kicking a gone session is a
 * no-op).
 * They are deliberately not the durable, shared consumers docs/architecture.md ("Event conventions") asks of projections:
 * every node needs its own copy of each control event, and a restarted node has no sessions
 * left to act on, so there is no position worth keeping across restarts.
 */
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS, EVENTS_STREAM, decodeEvent, type DomainEvent, type EventOf, type EventType } from '@live/events';
import { followSubject, type Messaging } from '@live/messaging';
import type { PublishConnectionInfo, PublishServer } from './publish-gate.js';

/** Label value of `ingest_kicks_total{reason}` for each kind of control kick. */
export type KickKind = 'key_revoked' | 'key_rotated' | 'stop_requested';

/** One session to disconnect, as decided by {@link planControl}. */
export interface ControlKick {
  readonly sessionId: string;
  /** The channel the session publishes (its `streamId` in logs), when known. */
  readonly channelId: string | undefined;
  readonly kind: KickKind;
  /** Human-readable reason: the kick `detail`, logged and sent nowhere secret. */
  readonly reason: string;
}

/** What the node must do for one control event. */
export interface ControlPlan {
  /** A key that must not be accepted again by this node, with the reason to show. */
  readonly deniedKey?: { readonly keyId: string; readonly reason: string };
  readonly kicks: readonly ControlKick[];
}

/** Event types the listener acts on; every other event on the two filters is ignored. */
export const CONTROL_EVENT_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'StreamKeyRevoked', 'StreamKeyRotated', 'StreamStopRequested', 'RestreamDestinationAdded', 'RestreamDestinationUpdated', 'RestreamDestinationRemoved',
]);

/** Kick reason (the PublishEnded `detail`) of a revoked key. */
export const KEY_REVOKED_REASON = 'stream key revoked';
/** Kick reason (the PublishEnded `detail`) of a rotated-away key. */
export const KEY_ROTATED_REASON = 'stream key rotated';

/**
 * Decides, without side effects, which local sessions one event concerns.
 * @param sessions the node's publishers by session id (`PublishGate.sessions()`), whose `keyId` is the
 *   stream key id each publish was accepted with.
 * @returns no kicks (and no denied key) for an event the listener does not act on.
 */
export function planControl(event: DomainEvent, sessions: ReadonlyMap<string, PublishConnectionInfo>): ControlPlan {
  const byKey = (keyId: string, kind: KickKind, reason: string): ControlPlan => ({
    deniedKey: { keyId, reason },
    kicks: [...sessions.values()].filter((s) => s.keyId === keyId).map((s) => ({ sessionId: s.sessionId, channelId: s.channelId, kind, reason })),
  });
  switch (event.type) {
    case 'StreamKeyRevoked':
      return byKey(event.data.keyId, 'key_revoked', KEY_REVOKED_REASON);
    case 'StreamKeyRotated':
      return byKey(event.data.oldKeyId, 'key_rotated', KEY_ROTATED_REASON);
    case 'StreamStopRequested': {
      const s = sessions.get(event.data.sessionId);
      if (!s || s.channelId !== event.data.channelId) return { kicks: [] };
      return { kicks: [{ sessionId: s.sessionId, channelId: s.channelId, kind: 'stop_requested', reason: `stopped by ${event.data.actorUserId ?? 'operator'}` }] };
    }
    default:
      return { kicks: [] };
  }
}

/** Dependencies and settings of {@link startControlListener}. */
export interface ControlListenerOptions {
  /** NATS connection with JetStream; the EVENTS stream must exist (`ensureEventStreams`). */
  readonly messaging: Messaging;
  /**
   * The node's publishers of every protocol, by broadcast session id (`PublishGate`): listed and
   * kicked.
   */
  readonly publishers: PublishServer;
  readonly logger: Logger;
  /** `ingest_kicks_total`, incremented once per session kicked, labelled with its {@link KickKind}. */
  readonly kicks?: Pick<Counter<'reason'>, 'inc'>;
  /** How long a revoked / rotated key stays on the local deny list, ms. Default 600 000 (10 min). */
  readonly deniedKeyTtlMs?: number;
  /** Delays before recreating a consumer whose iterator ended, ms, by attempt. Default 500, 1000, 2000, 5000. */
  readonly retryDelaysMs?: readonly number[];
  /** Hears a channel's restream destinations change (restream.ts starts or stops their pushes). */
  readonly onRestreamDestination?: (event: EventOf<'RestreamDestinationAdded' | 'RestreamDestinationUpdated' | 'RestreamDestinationRemoved'>) => void;
}

/** A running control listener. */
export interface ControlListener {
  /**
   * The reason (`stream key revoked` / `stream key rotated`) when `keyId` was revoked or rotated
   * away less than `deniedKeyTtlMs` ago according to an event this listener saw; else undefined.
   */
  deniedKey(keyId: string): string | undefined;
  /** Stops both consumers (and deletes them on the server); no kick happens after it resolves. Never throws. */
  close(): Promise<void>;
}

type StoredMessage = { seq: number; subject: string; json<T>(): T };

const MAX_DENIED_KEYS = 10_000;

/**
 * Starts following `evt.channel.*` and `evt.stream.*` from now on and kicking local sessions as
 * described in this module's comment. Logs at info for every kick (`sessionId`, `streamId`,
 * `reason`, `eventType`, `eventId`), at warn when a consumer has to be recreated.
 * @throws the nats.js / JetStream error when a consumer cannot be created at start (e.g. no
 *   EVENTS stream, JetStream unavailable). Later failures are retried, never thrown.
 */
export async function startControlListener(opts: ControlListenerOptions): Promise<ControlListener> {
  const { messaging, publishers, logger } = opts;
  const ttlMs = opts.deniedKeyTtlMs ?? 600_000;
  const delays = opts.retryDelaysMs ?? [500, 1000, 2000, 5000];
  const denied = new Map<string, { reason: string; until: number }>();

  const deny = (keyId: string, reason: string): void => {
    denied.delete(keyId);
    denied.set(keyId, { reason, until: Date.now() + ttlMs });
    // Map iteration is insertion order: drop the oldest entries beyond the bound.
    for (const k of denied.keys()) {
      if (denied.size <= MAX_DENIED_KEYS) break;
      denied.delete(k);
    }
  };

  const act = (m: StoredMessage): void => {
    let raw: { type?: unknown };
    try {
      raw = m.json<{ type?: unknown }>();
    } catch {
      logger.warn({ seq: m.seq, subject: m.subject }, 'control: message is not JSON; ignored');
      return;
    }
    if (typeof raw?.type !== 'string' || !CONTROL_EVENT_TYPES.has(raw.type as EventType)) return;
    let event: DomainEvent;
    try {
      event = decodeEvent(raw);
    } catch (err) {
      logger.warn({ err: (err as Error).message, seq: m.seq, subject: m.subject }, 'control: undecodable event ignored');
      return;
    }
    if (event.type === 'RestreamDestinationAdded' || event.type === 'RestreamDestinationUpdated' || event.type === 'RestreamDestinationRemoved') {
      opts.onRestreamDestination?.(event);
      return;
    }
    const plan = planControl(event, publishers.sessions());
    if (plan.deniedKey) deny(plan.deniedKey.keyId, plan.deniedKey.reason);
    logger.debug({ eventType: event.type, eventId: event.id, seq: m.seq, kicks: plan.kicks.length }, 'control event');
    for (const k of plan.kicks) {
      if (!publishers.kick(k.sessionId, k.reason)) continue;
      opts.kicks?.inc({ reason: k.kind });
      logger.info({ sessionId: k.sessionId, streamId: k.channelId, reason: k.reason, eventType: event.type, eventId: event.id }, 'kicked session on control event');
    }
  };

  const results = await Promise.allSettled([ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS].map((filter) =>
    followSubject(messaging, { stream: EVENTS_STREAM, filter, from: 'end', logger, retryDelaysMs: delays, onMessage: act })));
  const followers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(followers.map((f) => f.close()));
  };
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  logger.info({ filters: [ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS] }, 'control listener following key and stop events');

  let closing: Promise<void> | undefined;
  return {
    deniedKey(keyId) {
      const d = denied.get(keyId);
      if (!d) return undefined;
      if (d.until <= Date.now()) {
        denied.delete(keyId);
        return undefined;
      }
      return d.reason;
    },
    close() {
      closing ??= stop();
      return closing;
    },
  };
}
