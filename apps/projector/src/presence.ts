import type { Logger } from 'pino';
import {
  ALL_CHAT_PRESENCE_SUBJECTS, ALL_STREAM_SUBJECTS, PRESENCE_EXPIRY_MS, PRESENCE_INTERVAL_MS,
  channelSubject, decodeEvent, domainEvent, subjectToken, systemClock, type ChatPresenceReport, type EventClock,
} from '@live/events';
import { appendEvent, leaseHolderId, openLeaseBucket, runUnderLease, type LeaseBucket, type LeaseRun, type LeaseState, type Messaging } from '@live/messaging';
import { projectionLeaseKey } from './leases.js';

/** Appends in flight at once when many rooms changed in one interval. */
const APPEND_BATCH = 64;

/** A running presence aggregator. */
export interface PresenceAggregator {
  /** Stops the timer and the subscriptions and releases the lease (another process may then take over). Never throws. */
  stop(): Promise<void>;
  /** The state of its lease (`holder`: this aggregator appends the counts). */
  state(): LeaseState;
  /** The lease's holder as last seen, or null. */
  heldBy(): string | null;
}

/**
 * Parses a presence report body: `{ gatewayId, rooms: { <channelId>: <count> }, at }` with a
 * subject-safe gateway id and channel ids and non-negative integer counts.
 * @returns null for anything else (the report is then ignored).
 */
export function parsePresenceReport(body: unknown): ChatPresenceReport | null {
  if (typeof body !== 'object' || body === null) return null;
  const r = body as Record<string, unknown>;
  if (typeof r.gatewayId !== 'string' || typeof r.at !== 'number' || typeof r.rooms !== 'object' || r.rooms === null || Array.isArray(r.rooms)) return null;
  const rooms: Record<string, number> = {};
  try {
    subjectToken(r.gatewayId);
    for (const [channelId, n] of Object.entries(r.rooms as Record<string, unknown>)) {
      subjectToken(channelId);
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return null;
      rooms[channelId] = n;
    }
  } catch {
    return null;
  }
  return { gatewayId: r.gatewayId, rooms, at: r.at };
}

/**
 * Turns the chat gateways' presence reports into viewer counts in the log.
 *
 * Subscribes (core NATS) to `presence.chat.*` ({@link ALL_CHAT_PRESENCE_SUBJECTS}), keeps each
 * gateway's latest report and forgets a gateway not heard from for {@link PRESENCE_EXPIRY_MS}
 * (by this process's clock, not the report's `at`). Every {@link PRESENCE_INTERVAL_MS} it sums
 * the rooms over the gateways and, for every channel whose total differs from the last count it
 * appended (including a drop to 0), appends `ChannelViewersCounted { channelId, viewers }` on
 * `evt.channel.<channelId>` (no expected sequence; producer `projector`).
 *
 * Only the holder of the lease `projector.presence` in the KV bucket `leases` (`runUnderLease`)
 * appends, so of several projector processes one emits; the others keep their tallies and take
 * the lease over within seconds when the holder stops or dies. A new holder does not know what
 * the previous one appended, so it appends every non-zero total once.
 *
 * The read model resets a channel's viewers to 0 when a publish starts or ends; the aggregator
 * also listens (core NATS) to `evt.stream.*` and on StreamPublishStarted / StreamPublishEnded /
 * StreamFailed forgets the channel's last count, so the current total is appended again.
 *
 * @param deps.clock time (expiry, event timestamps) and ids; default the system clock.
 * @param deps.holder this process's name in the lease; default `projector:<host>:<pid>:<random>`.
 * @param deps.leaseBucket the open lease bucket; default `openLeaseBucket` (bucket `leases`; when
 *   it cannot be opened, the error is logged and no count is ever appended).
 * @throws the nats.js error when the subscriptions cannot be made (connection closed).
 */
export function startPresenceAggregator(deps: { messaging: Messaging; logger: Logger; clock?: EventClock; holder?: string; leaseBucket?: LeaseBucket }): PresenceAggregator {
  const { messaging: m } = deps;
  const clock = deps.clock ?? systemClock;
  const holder = deps.holder ?? leaseHolderId('projector');
  const log = deps.logger.child({ component: 'presence', holder });
  /** Latest report per gateway, with when this process received it (ms, `clock`). */
  const gateways = new Map<string, { rooms: Readonly<Record<string, number>>; heardAt: number }>();
  /** Last count appended per channel; a channel absent here was last counted 0 (or never). */
  const appended = new Map<string, number>();
  let holding = false;
  let ticking: Promise<void> | null = null;
  let stopped = false;

  const subs: Array<ReturnType<Messaging['nc']['subscribe']>> = [
    m.nc.subscribe(ALL_CHAT_PRESENCE_SUBJECTS, {
      callback: (err, msg) => {
        if (err) return;
        let body: unknown;
        try { body = msg.json(); } catch { return; }
        const report = parsePresenceReport(body);
        if (!report) {
          log.debug({ subject: msg.subject }, 'malformed presence report ignored');
          return;
        }
        gateways.set(report.gatewayId, { rooms: report.rooms, heardAt: clock.now() });
      },
    }),
    m.nc.subscribe(ALL_STREAM_SUBJECTS, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const e = decodeEvent(msg.json());
          if (e.type === 'StreamPublishStarted' || e.type === 'StreamPublishEnded' || e.type === 'StreamFailed') appended.delete(e.data.channelId);
        } catch {
          // not an event this aggregator cares about
        }
      },
    }),
  ];

  async function tick(): Promise<void> {
    const now = clock.now();
    for (const [id, g] of gateways) if (now - g.heardAt > PRESENCE_EXPIRY_MS) gateways.delete(id);
    if (!holding) return;
    const totals = new Map<string, number>();
    for (const g of gateways.values()) for (const [channelId, n] of Object.entries(g.rooms)) totals.set(channelId, (totals.get(channelId) ?? 0) + n);
    const changed: Array<[string, number]> = [];
    for (const [channelId, n] of totals) if ((appended.get(channelId) ?? 0) !== n) changed.push([channelId, n]);
    for (const channelId of appended.keys()) if (!totals.has(channelId)) changed.push([channelId, 0]);
    for (let i = 0; i < changed.length && !stopped && holding; i += APPEND_BATCH) {
      await Promise.all(changed.slice(i, i + APPEND_BATCH).map(async ([channelId, viewers]) => {
        const event = domainEvent(clock, 'ChannelViewersCounted', channelSubject(channelId), { channelId, viewers }, { producer: 'projector' });
        try {
          await appendEvent(m.js, event);
          if (viewers === 0) appended.delete(channelId);
          else appended.set(channelId, viewers);
        } catch (err) {
          // Left as it was: the next interval tries again.
          log.warn({ err: (err as Error).message, channelId }, 'viewer count append failed');
        }
      }));
    }
  }

  const timer = setInterval(() => {
    if (ticking || stopped) return; // a slow round (JetStream lagging) is not overlapped
    ticking = tick().catch((err: Error) => log.error({ err: err.message }, 'presence round failed')).finally(() => { ticking = null; });
  }, PRESENCE_INTERVAL_MS);

  // The lease: while held, rounds append (from an empty `appended`: every non-zero total once).
  const lease: Promise<LeaseRun | null> = (deps.leaseBucket ? Promise.resolve(deps.leaseBucket) : openLeaseBucket(m.js, m.jsm)).then(
    (bucket) => runUnderLease({
      kv: bucket.kv, key: projectionLeaseKey('presence'), holder, ttlMs: bucket.ttlMs, logger: log,
      async onAcquired() {
        appended.clear();
        holding = true;
        return { stop: async () => { holding = false; await ticking; } };
      },
    }),
    (err: Error) => {
      log.error({ err: err.message }, 'presence lease bucket cannot be opened: no viewer counts from this process');
      return null;
    },
  );
  let leaseRun: LeaseRun | null = null;
  void lease.then((l) => { leaseRun = l; });

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await (await lease)?.stop();
      clearInterval(timer);
      for (const s of subs) s.unsubscribe();
      await ticking;
    },
    state: () => (stopped ? 'stopped' : leaseRun?.state() ?? 'standby'),
    heldBy: () => leaseRun?.heldBy() ?? null,
  };
}
