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
 * Consumption: one ordered, ephemeral JetStream consumer per filter — `evt.channel.*` and
 * `evt.stream.*` — because nats-server 2.9 allows a single `filter_subject` per consumer. Each
 * starts right after the last event stored when the listener starts (deliver policy "new",
 * spelled as an explicit start sequence = last sequence + 1: the nats.js ordered consumer
 * recreates itself after a gap or a lost consumer at its cursor + 1, and with the literal
 * policy `new` that cursor is 0 until a first message arrives, which would replay the whole
 * log). When a consumer's message iterator ends (connection closed, consumer unrecoverable)
 * it is recreated, with backoff, from the sequence after the last event it saw, so events
 * appended while it was down are still acted on. Nothing is acknowledged: the consumers are
 * ordered (ack policy none) and the actions are idempotent (kicking a gone session is a no-op).
 * They are deliberately not the durable, shared consumers CONVENTIONS.md asks of projections:
 * every node needs its own copy of each control event, and a restarted node has no sessions
 * left to act on, so there is no position worth keeping across restarts.
 */
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS, EVENTS_STREAM, decodeEvent, type DomainEvent, type EventType } from '@live/events';
import type { Messaging } from '@live/messaging';
import type { RtmpServer, RtmpSessionInfo } from './rtmp/index.js';

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
export const CONTROL_EVENT_TYPES: ReadonlySet<EventType> = new Set<EventType>(['StreamKeyRevoked', 'StreamKeyRotated', 'StreamStopRequested']);

/** Kick reason (the PublishEnded `detail`) of a revoked key. */
export const KEY_REVOKED_REASON = 'stream key revoked';
/** Kick reason (the PublishEnded `detail`) of a rotated-away key. */
export const KEY_ROTATED_REASON = 'stream key rotated';

/**
 * Decides, without side effects, which local sessions one event concerns.
 * @param sessions the RTMP server's snapshot (`RtmpServer.sessions()`), whose `keyId` is the
 *   stream key id each publish was accepted with.
 * @returns no kicks (and no denied key) for an event the listener does not act on.
 */
export function planControl(event: DomainEvent, sessions: ReadonlyMap<string, RtmpSessionInfo>): ControlPlan {
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
  /** The node's RTMP server: its sessions are listed and kicked. */
  readonly rtmp: Pick<RtmpServer, 'sessions' | 'kick'>;
  readonly logger: Logger;
  /** `ingest_kicks_total`, incremented once per session kicked, labelled with its {@link KickKind}. */
  readonly kicks?: Pick<Counter<'reason'>, 'inc'>;
  /** How long a revoked / rotated key stays on the local deny list, ms. Default 600 000 (10 min). */
  readonly deniedKeyTtlMs?: number;
  /** Delays before recreating a consumer whose iterator ended, ms, by attempt. Default 500, 1000, 2000, 5000. */
  readonly retryDelaysMs?: readonly number[];
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

type OrderedConsumer = Awaited<ReturnType<Messaging['js']['consumers']['get']>>;
type ConsumerMessages = Awaited<ReturnType<OrderedConsumer['consume']>>;
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
  const { messaging, rtmp, logger } = opts;
  const ttlMs = opts.deniedKeyTtlMs ?? 600_000;
  const delays = opts.retryDelaysMs ?? [500, 1000, 2000, 5000];
  const denied = new Map<string, { reason: string; until: number }>();
  const stopper = new AbortController();

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
    const plan = planControl(event, rtmp.sessions());
    if (plan.deniedKey) deny(plan.deniedKey.keyId, plan.deniedKey.reason);
    logger.debug({ eventType: event.type, eventId: event.id, seq: m.seq, kicks: plan.kicks.length }, 'control event');
    for (const k of plan.kicks) {
      if (!rtmp.kick(k.sessionId, k.reason)) continue;
      opts.kicks?.inc({ reason: k.kind });
      logger.info({ sessionId: k.sessionId, streamId: k.channelId, reason: k.reason, eventType: event.type, eventId: event.id }, 'kicked session on control event');
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (stopper.signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        stopper.signal.removeEventListener('abort', done);
        resolve();
      }
      stopper.signal.addEventListener('abort', done, { once: true });
    });

  /** Creates the ordered consumer starting at `nextSeq` (clamped to the stream's end). */
  const open = async (filter: string, nextSeq: number | undefined): Promise<{ consumer: OrderedConsumer; messages: ConsumerMessages; startSeq: number }> => {
    const info = await messaging.jsm.streams.info(EVENTS_STREAM);
    const end = info.state.last_seq + 1;
    // A cursor past the end means the stream was purged or recreated: start at its end.
    const startSeq = nextSeq === undefined ? end : Math.min(nextSeq, end);
    const consumer = await messaging.js.consumers.get(EVENTS_STREAM, { filter_subjects: filter, opt_start_seq: startSeq });
    // Short pulls with 2 s idle heartbeats: a consumer lost on the server is noticed in seconds.
    const messages = await consumer.consume({ max_messages: 64, expires: 10_000, idle_heartbeat: 2_000 });
    void watch(messages, logger.child({ filter }));
    return { consumer, messages, startSeq };
  };

  /** Logs the consumer's notable status changes; a deleted consumer ends its iterator (recreated by the loop). */
  const watch = async (messages: ConsumerMessages, log: Logger): Promise<void> => {
    try {
      for await (const s of messages.status()) {
        if (s.type === 'consumer_deleted') {
          log.warn({ code: s.code, description: s.description }, 'control: consumer deleted on the server');
          await messages.close().catch(() => undefined);
          return;
        }
        if (s.type === 'heartbeats_missed') log.warn({ count: s.count }, 'control: consumer heartbeats missed');
        else if (s.type === 'ordered_consumer_recreated') log.info({ name: s.name }, 'control: consumer recreated by the client');
      }
    } catch {
      // The status iterator ends with the messages; nothing to do.
    }
  };

  interface Follower {
    done: Promise<void>;
    messages: ConsumerMessages | undefined;
    consumer: OrderedConsumer | undefined;
  }

  const follow = async (filter: string): Promise<Follower> => {
    const first = await open(filter, undefined);
    const f: Follower = { messages: first.messages, consumer: first.consumer, done: Promise.resolve() };
    let nextSeq = first.startSeq;
    let current: ConsumerMessages | undefined = first.messages;
    const log = logger.child({ filter });
    log.debug({ startSeq: nextSeq }, 'control: following');
    const run = async (): Promise<void> => {
      for (let attempt = 0; !stopper.signal.aborted; ) {
        if (current) {
          try {
            for await (const m of current) {
              nextSeq = m.seq + 1;
              attempt = 0;
              try {
                act(m);
              } catch (err) {
                log.error({ err, seq: m.seq }, 'control: handling an event failed');
              }
            }
            if (stopper.signal.aborted) return;
            log.warn({ nextSeq }, 'control: consumer ended; recreating it');
          } catch (err) {
            if (stopper.signal.aborted) return;
            log.warn({ err: (err as Error).message, nextSeq }, 'control: consumer failed; recreating it');
          }
          current = undefined;
          f.messages = undefined;
          const old = f.consumer;
          f.consumer = undefined;
          void old?.delete().catch(() => undefined);
        }
        await sleep(delays[Math.min(attempt, delays.length - 1)] ?? 1000);
        attempt++;
        if (stopper.signal.aborted) return;
        try {
          const next = await open(filter, nextSeq);
          if (stopper.signal.aborted) {
            await next.messages.close().catch(() => undefined);
            await next.consumer.delete().catch(() => undefined);
            return;
          }
          ({ messages: current, consumer: f.consumer } = next);
          f.messages = current;
          nextSeq = next.startSeq;
          log.info({ startSeq: nextSeq, attempt }, 'control: consumer recreated');
        } catch (err) {
          log.warn({ err: (err as Error).message, attempt }, 'control: could not recreate consumer; retrying');
        }
      }
    };
    f.done = run();
    return f;
  };

  const results = await Promise.allSettled([follow(ALL_CHANNEL_SUBJECTS), follow(ALL_STREAM_SUBJECTS)]);
  const followers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    stopper.abort();
    for (const f of followers) await f.messages?.close().catch(() => undefined);
    await Promise.all(followers.map((f) => f.done.catch(() => undefined)));
    await Promise.all(followers.map((f) => f.consumer?.delete().catch(() => undefined)));
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
