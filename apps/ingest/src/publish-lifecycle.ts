/**
 * The protocol-neutral publish lifecycle of an ingest node: the channel's lease, the session's
 * events (`StreamPublishStarted`, `StreamPublishInterrupted`, `StreamPublishResumed`,
 * `StreamPublishEnded`) and the reconnect window. A protocol server (RTMP today; SRT and WHIP
 * later) calls, per connection: {@link PublishLifecycle.claim} once the key is accepted,
 * {@link PublishLifecycle.started} once the media flows (its media sink is open),
 * {@link PublishLifecycle.ended} when a started publish ends, and
 * {@link PublishLifecycle.release} when any claimed publish ends (before `ended`).
 *
 * Sessions and connections: a connection has its own id (the relay path
 * `/relay/<connectionId>.flv`); a session is the broadcast. A new session takes the id of its
 * first connection; a connection that reconnects within the window continues the session of the
 * channel (same id, same workflow, same playlists). The rules are in `reconnect.ts`.
 *
 * Events of one session are appended in order, one after the other (health reports of a
 * connection before its interruption or end).
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ingestHandoverSubject, LEASE_TTL_SECONDS, publishLeaseSubject, streamEvent, systemClock, type EventEnvelope, type SourceMedia } from '@live/events';
import { appendEvent, type LeaseStore, type Messaging } from '@live/messaging';
import type { HealthReporter } from './health-reporter.js';
import {
  DEFAULT_HANDOVER_TIMEOUT_MS, decodeHandoverReply, decodeHandoverRequest, encodeHandover, endDecision, parseLeaseHolder, planClaim,
  publishLeaseHolder, type HandoverReply, type PublishEnd, type PublishLeaseInfo, type SessionCarry,
} from './reconnect.js';

/** Dependencies and settings of {@link createPublishLifecycle}. */
export interface PublishLifecycleOptions {
  readonly messaging: Messaging;
  readonly logger: Logger;
  readonly nodeId: string;
  /** Base URL transcoders reach this node's relay at; `<base>/relay/<connectionId>.flv`. */
  readonly relayBaseUrl: string;
  /** The reconnect window, ms; 0 = none (a dropped connection ends its session at once). */
  readonly reconnectWindowMs: number;
  /** How long to wait for a lease holder's handover answer, ms (default {@link DEFAULT_HANDOVER_TIMEOUT_MS}). */
  readonly handoverTimeoutMs?: number;
  /** The node's publish leases (created with an `onLost` that calls {@link PublishLifecycle.leaseLost}). */
  readonly leases: LeaseStore;
  readonly health: HealthReporter;
  /** Disconnects a connection (its lease was taken by another node). */
  readonly kick: (connectionId: string, reason: string) => boolean;
  /** The node's `/metrics` registry. */
  readonly registry?: Registry;
}

/** What {@link PublishLifecycle.started} needs of a connection whose media flows. */
export interface StartedPublish {
  readonly connectionId: string;
  readonly channelId: string;
  /** Application name, e.g. `live`. */
  readonly app: string;
  readonly media: SourceMedia;
  /** When the publish was accepted. */
  readonly startedAt: Date;
}

/** What {@link PublishLifecycle.ended} needs of a started publish that ended. */
export interface EndedPublish {
  readonly connectionId: string;
  readonly reason: PublishEnd;
  readonly detail?: string;
  readonly endedAt: Date;
  /** Bytes received on the connection. */
  readonly bytesReceived: number;
}

/** A session of this node waiting in its reconnect window (for the control listener). */
export interface WaitingSession {
  readonly sessionId: string;
  readonly channelId: string;
  readonly keyId: string | undefined;
}

/** See the module comment. */
export interface PublishLifecycle {
  /**
   * Claims the channel for a connection: continues the session waiting in this node's window,
   * or wins the channel's lease, or asks the lease's holder node to hand it over (or takes it
   * over when the holder does not answer). False: another publisher is live (ALREADY_LIVE).
   * @throws the nats.js error when JetStream does not answer.
   */
  claim(req: { channelId: string; connectionId: string; keyId?: string }): Promise<boolean>;
  /** The claimed publish of `connectionId` ended (any reason; before {@link ended} for a started one). Never throws. */
  release(req: { channelId: string; connectionId: string; reason: PublishEnd }): void;
  /**
   * Appends StreamPublishStarted (new session) or StreamPublishResumed (continued session) and
   * starts the connection's health reports. Resolves with the session id.
   * @throws when the event cannot be appended (the protocol then refuses the publish).
   */
  started(p: StartedPublish): Promise<string>;
  /** A started publish ended: interrupts its session (window) or ends it. Never throws (logged). */
  ended(p: EndedPublish): Promise<void>;
  /** The session a connection publishes (undefined before its claim and after its end). */
  sessionOf(connectionId: string): string | undefined;
  /** The connection publishing a session on this node, if any. */
  connectionOf(sessionId: string): string | undefined;
  /** Sessions of this node in their reconnect window. */
  waiting(): WaitingSession[];
  /** Ends a session waiting in its window now (a stop request, a revoked key), reason `kicked`. False when it is not waiting here. */
  stop(sessionId: string, detail: string): boolean;
  /** The lease store reports a lease of this node taken over by another: forget it, disconnect its publisher. */
  leaseLost(subject: string, holder: string): void;
  /**
   * Stops answering handover requests and waits for the events in flight. Sessions still in
   * their window are left to be taken over (their leases are not released: call before the
   * lease store's `close`), or ended by their workflow's bound.
   */
  close(): Promise<void>;
}

interface Slot {
  readonly channelId: string;
  sessionId: string;
  holder: string;
  connectionId: string | null;
  keyId: string | undefined;
  /** claimed: a connection claimed, media not flowing yet; live: started; waiting: in the window. */
  phase: 'claimed' | 'live' | 'waiting';
  /** The session's start (ms) once its StreamPublishStarted is appended (or carried over); null for a new one. */
  startedAt: number | null;
  startEventId: string;
  bytesBefore: number;
  /** How the next started() continues the session; null for a new session or after the resume. */
  resume: { previousNodeId: string; lease: 'local' | 'handover' | 'takeover' } | null;
  resumeBy: number;
  timer: NodeJS.Timeout | undefined;
  /** The session's events, appended one after the other. */
  chain: Promise<unknown>;
}

/**
 * Appends `event`, retrying the same envelope (JetStream stores it once) up to `attempts` times
 * with a doubling delay (400 ms … 5 s).
 * @throws the last append error.
 */
export async function appendWithRetry(messaging: Messaging, event: EventEnvelope, logger: Logger, attempts: number): Promise<void> {
  // The same envelope (same id = Nats-Msg-Id) is retried, so JetStream stores it once.
  for (let i = 1; ; i++) {
    try {
      await appendEvent(messaging.js, event);
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      logger.warn({ err: (err as Error).message, eventType: event.type, attempt: i }, 'append failed; retrying');
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** i)));
    }
  }
}

/**
 * Creates the lifecycle and subscribes this node's handover subject
 * (`ingest.handover.<nodeId>`). Metrics (with `registry`): `ingest_publish_resumes_total{lease}`
 * (local, handover, takeover), `ingest_publish_interruptions_total`,
 * `ingest_reconnect_windows_expired_total`, gauge `ingest_sessions_reconnecting`.
 */
export function createPublishLifecycle(opts: PublishLifecycleOptions): PublishLifecycle {
  const { messaging, logger, nodeId, leases, health } = opts;
  const windowMs = Math.max(0, opts.reconnectWindowMs);
  const producer = `ingest:${nodeId}`;
  const byChannel = new Map<string, Slot>();
  const byConnection = new Map<string, Slot>();
  /**
   * Channels whose session is being ended (StreamPublishEnded, then the lease released): a claim
   * waits for it, a handover request is answered `live`, so nobody resumes an ended session.
   */
  const ending = new Map<string, Promise<void>>();
  /** Claims in flight by connection: a release meanwhile is applied when the claim settles. */
  const claiming = new Map<string, { channelId: string; released: PublishEnd | null }>();
  const registers = opts.registry ? [opts.registry] : [];
  const resumes = new Counter({ name: 'ingest_publish_resumes_total', help: 'Sessions continued by a reconnect, by how the lease came (local: same node; handover: asked the holder; takeover: the holder did not answer)', labelNames: ['lease'], registers });
  const interruptions = new Counter({ name: 'ingest_publish_interruptions_total', help: 'Publisher connections that dropped without a clean stop and opened a reconnect window', registers });
  const expired = new Counter({ name: 'ingest_reconnect_windows_expired_total', help: 'Reconnect windows that closed without a reconnect (the session ended)', registers });
  new Gauge({ name: 'ingest_sessions_reconnecting', help: 'Sessions of this node waiting in their reconnect window', registers, collect() { this.set([...byChannel.values()].filter((s) => s.phase === 'waiting').length); } });

  const subjectOf = (s: Slot) => publishLeaseSubject(s.channelId);
  // The lease store's default renewal period (the node does not change it).
  const renewEveryMs = (LEASE_TTL_SECONDS * 1000) / 3;
  const leaseInfo = (s: Slot, extra: Partial<PublishLeaseInfo> = {}): PublishLeaseInfo =>
    ({ startedAt: s.startedAt ?? Date.now(), startEventId: s.startEventId, windowMs, renewEveryMs, ...extra });
  const freshInfo = (): PublishLeaseInfo => ({ startedAt: Date.now(), startEventId: '', windowMs, renewEveryMs });
  const enqueue = (s: Slot, step: () => Promise<unknown>): Promise<unknown> => {
    const next = s.chain.then(step);
    s.chain = next.catch(() => undefined);
    return next;
  };
  const append = (s: Slot, event: EventEnvelope, attempts = 8) => enqueue(s, () => appendWithRetry(messaging, event, logger, attempts));

  function forget(s: Slot): void {
    clearTimeout(s.timer);
    if (byChannel.get(s.channelId) === s) byChannel.delete(s.channelId);
    if (s.connectionId && byConnection.get(s.connectionId) === s) byConnection.delete(s.connectionId);
  }

  /** Forgets a slot and releases its lease once `before` (its last events) settled; see {@link ending}. */
  function releaseSlot(s: Slot, before: Promise<unknown> = Promise.resolve()): Promise<void> {
    forget(s);
    const done = before.catch(() => undefined).then(() => leases.releaseNow(subjectOf(s), s.holder));
    ending.set(s.channelId, done);
    void done.finally(() => { if (ending.get(s.channelId) === done) ending.delete(s.channelId); });
    return done;
  }

  /** Ends the session: StreamPublishEnded, then the lease is released. */
  function endSession(s: Slot, reason: PublishEnd, endedAt = Date.now()): Promise<void> {
    const event = streamEvent(systemClock, 'StreamPublishEnded', {
      channelId: s.channelId, sessionId: s.sessionId, reason, bytesReceived: s.bytesBefore,
      durationMs: s.startedAt === null ? 0 : Math.max(0, endedAt - s.startedAt),
    }, { producer, causationId: s.startEventId || null });
    const appended = append(s, event).then(
      () => undefined,
      (err: unknown) => logger.error({ err: (err as Error).message, sessionId: s.sessionId }, 'StreamPublishEnded could not be appended'),
    );
    return releaseSlot(s, appended);
  }

  /** Puts a session (back) into its window until `s.resumeBy`. */
  function wait(s: Slot): void {
    s.phase = 'waiting';
    s.connectionId = null;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      if (byChannel.get(s.channelId) !== s || s.phase !== 'waiting') return;
      expired.inc();
      logger.info({ sessionId: s.sessionId, streamId: s.channelId }, 'reconnect window closed; ending the session');
      void endSession(s, 'disconnected', s.resumeBy);
    }, Math.max(0, s.resumeBy - Date.now()));
    s.timer.unref();
  }

  function newSlot(channelId: string, connectionId: string, keyId: string | undefined, carry: SessionCarry | null, lease: 'handover' | 'takeover'): Slot {
    const s: Slot = {
      channelId, sessionId: carry?.sessionId ?? connectionId, holder: publishLeaseHolder(nodeId, carry?.sessionId ?? connectionId),
      connectionId, keyId, phase: 'claimed', startedAt: carry ? carry.startedAt : null, startEventId: carry?.startEventId ?? '',
      bytesBefore: carry?.bytesReceived ?? 0, resume: carry ? { previousNodeId: carry.previousNodeId, lease } : null,
      resumeBy: carry?.resumeBy ?? 0, timer: undefined, chain: Promise.resolve(),
    };
    byChannel.set(channelId, s);
    byConnection.set(connectionId, s);
    return s;
  }

  async function askHolder(holderNodeId: string, req: { channelId: string; sessionId: string }): Promise<HandoverReply | 'no-answer'> {
    try {
      const msg = await messaging.nc.request(ingestHandoverSubject(holderNodeId), encodeHandover({ ...req, requester: nodeId }), { timeout: opts.handoverTimeoutMs ?? DEFAULT_HANDOVER_TIMEOUT_MS });
      return decodeHandoverReply(msg.data);
    } catch (err) {
      logger.info({ holder: holderNodeId, streamId: req.channelId, reason: (err as Error).message }, 'lease holder did not answer; deeming it gone');
      return 'no-answer';
    }
  }

  /** The lease is someone else's: ask its holder, then refuse, continue or take over. */
  async function claimHeld(channelId: string, connectionId: string, keyId: string | undefined): Promise<boolean> {
    const subject = publishLeaseSubject(channelId);
    const lease = await leases.inspect(subject);
    if (!lease || lease.state !== 'held') {
      // Released (or expired) since our claim was refused: claim it again, once.
      if (!(await leases.acquire(subject, publishLeaseHolder(nodeId, connectionId), freshInfo()))) return false;
      newSlot(channelId, connectionId, keyId, null, 'takeover');
      return true;
    }
    const owner = parseLeaseHolder(lease.holder);
    // A holder named after this node is a previous run of it (restarted): it holds nothing now.
    const answer = !owner || owner.nodeId === nodeId ? 'no-answer' : await askHolder(owner.nodeId, { channelId, sessionId: owner.sessionId });
    const plan = planClaim(lease, answer, Date.now());
    if (plan.action === 'refuse') return false;
    const sessionId = plan.resume?.sessionId ?? connectionId;
    const info: PublishLeaseInfo = plan.resume
      ? { startedAt: plan.resume.startedAt, startEventId: plan.resume.startEventId, windowMs, renewEveryMs }
      : freshInfo();
    if (!(await leases.takeOver(subject, publishLeaseHolder(nodeId, sessionId), plan.expectedSeq, info))) return false;
    const how = answer === 'no-answer' || answer.status !== 'handed-over' ? 'takeover' : 'handover';
    logger.info({ streamId: channelId, sessionId, previousHolder: lease.holder, how, resumed: Boolean(plan.resume) }, 'publish lease taken over');
    const s = newSlot(channelId, connectionId, keyId, plan.resume, how);
    if (plan.orphan) {
      // Its holder is gone and nobody can continue it any more: end it on the holder's behalf.
      const o = plan.orphan;
      const ended = streamEvent(systemClock, 'StreamPublishEnded', {
        channelId, sessionId: o.sessionId, reason: 'disconnected', bytesReceived: 0, durationMs: Math.max(0, Date.now() - o.startedAt),
      }, { producer, causationId: o.startEventId || null });
      void append(s, ended).catch((err: unknown) => logger.error({ err: (err as Error).message, sessionId: o.sessionId }, 'orphaned session could not be ended'));
    }
    return true;
  }

  async function claim(channelId: string, connectionId: string, keyId: string | undefined): Promise<boolean> {
    await ending.get(channelId);
    const local = byChannel.get(channelId);
    if (local) {
      if (local.phase !== 'waiting') return false;
      clearTimeout(local.timer);
      local.phase = 'claimed';
      local.connectionId = connectionId;
      local.keyId = keyId ?? local.keyId;
      local.resume ??= { previousNodeId: nodeId, lease: 'local' };
      byConnection.set(connectionId, local);
      return true;
    }
    if ([...claiming].some(([id, c]) => id !== connectionId && c.channelId === channelId)) return false;
    const subject = publishLeaseSubject(channelId);
    if (await leases.acquire(subject, publishLeaseHolder(nodeId, connectionId), freshInfo())) {
      newSlot(channelId, connectionId, keyId, null, 'takeover');
      return true;
    }
    return claimHeld(channelId, connectionId, keyId);
  }

  /** A connection's claimed publish ended before it started. */
  function releaseUnstarted(s: Slot, reason: PublishEnd): void {
    byConnection.delete(s.connectionId!);
    if (s.startedAt === null) {
      void releaseSlot(s);
    } else if (reason === 'kicked' || reason === 'unpublished') {
      void endSession(s, reason);
    } else {
      // A reconnect that failed before its media flowed: the session waits on, same deadline.
      if (s.resumeBy <= Date.now()) s.resumeBy = Date.now() + windowMs;
      wait(s);
    }
  }

  const handover = messaging.nc.subscribe(ingestHandoverSubject(nodeId), {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let reply: HandoverReply;
        try {
          const req = decodeHandoverRequest(msg.data);
          const s = byChannel.get(req.channelId);
          if ((s && s.phase !== 'waiting') || ending.has(req.channelId)) reply = { status: 'live' };
          else if ([...claiming.values()].some((c) => c.channelId === req.channelId)) reply = { status: 'live' };
          else if (!s || s.sessionId !== req.sessionId) reply = { status: 'not-held' };
          else {
            forget(s); // synchronously: a local reconnect now starts a new claim, which will ask around
            await s.chain; // the interruption is stored before the next node resumes
            const seq = await leases.handOff(subjectOf(s), s.holder);
            reply = seq === null ? { status: 'not-held' } : {
              status: 'handed-over', seq,
              session: { sessionId: s.sessionId, startedAt: s.startedAt ?? Date.now(), startEventId: s.startEventId, bytesReceived: s.bytesBefore, resumeBy: s.resumeBy, previousNodeId: nodeId },
            };
            logger.info({ sessionId: s.sessionId, streamId: s.channelId, to: req.requester, handedOver: seq !== null }, 'session handed over to another node');
          }
        } catch (e) {
          logger.warn({ err: (e as Error).message }, 'bad handover request ignored');
          return;
        }
        msg.respond(encodeHandover(reply));
      })();
    },
  });

  return {
    async claim({ channelId, connectionId, keyId }) {
      const c = { channelId, released: null as PublishEnd | null };
      claiming.set(connectionId, c);
      let won: boolean;
      try {
        won = await claim(channelId, connectionId, keyId);
      } finally {
        claiming.delete(connectionId);
      }
      if (won && c.released !== null) {
        const s = byConnection.get(connectionId);
        if (s) releaseUnstarted(s, c.released);
        return false;
      }
      return won;
    },
    release({ connectionId, reason }) {
      const c = claiming.get(connectionId);
      if (c) {
        c.released = reason;
        return;
      }
      const s = byConnection.get(connectionId);
      if (!s || s.phase === 'live') return; // a started publish ends through ended()
      releaseUnstarted(s, reason);
    },
    async started(p) {
      const s = byConnection.get(p.connectionId);
      if (!s || s.connectionId !== p.connectionId) throw new Error('publish has no claim');
      const relayUrl = `${opts.relayBaseUrl.replace(/\/$/, '')}/relay/${p.connectionId}.flv`;
      let event: EventEnvelope;
      if (s.startedAt === null) {
        event = streamEvent(systemClock, 'StreamPublishStarted', {
          channelId: s.channelId, sessionId: s.sessionId, ingestNodeId: nodeId, relayUrl, app: p.app, source: p.media,
          reconnectWindowSeconds: windowMs / 1000,
        }, { producer });
      } else {
        const r = s.resume ?? { previousNodeId: nodeId, lease: 'local' as const };
        event = streamEvent(systemClock, 'StreamPublishResumed', {
          channelId: s.channelId, sessionId: s.sessionId, ingestNodeId: nodeId, relayUrl, app: p.app, source: p.media,
          previousIngestNodeId: r.previousNodeId, lease: r.lease,
        }, { producer, causationId: s.startEventId || null });
      }
      await append(s, event, 3);
      const wasResume = s.startedAt !== null;
      if (!wasResume) {
        s.startedAt = p.startedAt.getTime();
        s.startEventId = event.id;
      } else {
        resumes.inc({ lease: s.resume?.lease ?? 'local' });
      }
      s.resume = null;
      s.phase = 'live';
      health.start(p.connectionId, event.id, s.sessionId);
      void leases.update(subjectOf(s), s.holder, leaseInfo(s));
      logger.info({ sessionId: s.sessionId, connectionId: p.connectionId, streamId: s.channelId, resumed: wasResume }, wasResume ? 'publish resumed' : 'publish started');
      return s.sessionId;
    },
    async ended(p) {
      const s = byConnection.get(p.connectionId);
      if (!s || s.connectionId !== p.connectionId) {
        await health.stop(p.connectionId);
        return; // its lease was lost to another node: the session goes on there
      }
      byConnection.delete(p.connectionId);
      s.bytesBefore += p.bytesReceived;
      // Every health report of the connection is stored before what follows.
      void enqueue(s, () => health.stop(p.connectionId));
      if (endDecision(p.reason, windowMs) === 'end') {
        await endSession(s, p.reason, p.endedAt.getTime());
        return;
      }
      s.resumeBy = p.endedAt.getTime() + windowMs;
      wait(s);
      interruptions.inc();
      logger.info({ sessionId: s.sessionId, streamId: s.channelId, detail: p.detail, windowMs }, 'publisher dropped; waiting for it to reconnect');
      const event = streamEvent(systemClock, 'StreamPublishInterrupted', {
        channelId: s.channelId, sessionId: s.sessionId, ingestNodeId: nodeId, detail: (p.detail ?? p.reason).slice(0, 200),
        reconnectWindowSeconds: windowMs / 1000, bytesReceived: s.bytesBefore,
      }, { producer, causationId: s.startEventId || null });
      await append(s, event).catch((err: unknown) => logger.error({ err: (err as Error).message, sessionId: s.sessionId }, 'StreamPublishInterrupted could not be appended'));
      if (byChannel.get(s.channelId) === s && s.phase === 'waiting') await leases.update(subjectOf(s), s.holder, leaseInfo(s, { resumeBy: s.resumeBy, bytesReceived: s.bytesBefore }));
    },
    sessionOf: (connectionId) => byConnection.get(connectionId)?.sessionId,
    connectionOf(sessionId) {
      for (const s of byChannel.values()) if (s.sessionId === sessionId) return s.connectionId ?? undefined;
      return undefined;
    },
    waiting: () => [...byChannel.values()].filter((s) => s.phase === 'waiting').map((s) => ({ sessionId: s.sessionId, channelId: s.channelId, keyId: s.keyId })),
    stop(sessionId, detail) {
      const s = [...byChannel.values()].find((x) => x.sessionId === sessionId && x.phase === 'waiting');
      if (!s) return false;
      logger.info({ sessionId, streamId: s.channelId, detail }, 'session ended in its reconnect window');
      void endSession(s, 'kicked');
      return true;
    },
    leaseLost(subject, holder) {
      const s = [...byChannel.values()].find((x) => subjectOf(x) === subject && x.holder === holder);
      if (!s) return;
      forget(s);
      if (s.connectionId) opts.kick(s.connectionId, 'publish lease taken over by another ingest node');
    },
    async close() {
      handover.unsubscribe();
      const slots = [...byChannel.values()];
      await Promise.all([...slots.map((s) => s.chain), ...ending.values()]);
      for (const s of slots) {
        if (s.phase !== 'waiting') continue;
        forget(s);
        await leases.handOff(subjectOf(s), s.holder);
      }
    },
  };
}
