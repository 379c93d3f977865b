/**
 * The analytics projection: JetStream (EVENTS, TELEMETRY, CHAT) → ClickHouse tables, in
 * batches, acknowledged only once inserted.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { AckPolicy, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Messaging } from '@live/messaging';
import { ANALYTICS_SOURCES, createBatchInserter, type AnalyticsRow, type AnalyticsTable, type BatchInserter, type ClickHouseClient } from '@live/analytics';

/** Default prefix of the three durable consumer names: `analytics-events`, `analytics-telemetry`, `analytics-chat`. */
export const ANALYTICS_DURABLE_PREFIX = 'analytics';

/** The source streams of the projection, as named in metrics, stats and lag. */
export type AnalyticsSource = (typeof ANALYTICS_SOURCES)[number]['name'];
export type { AnalyticsTable };

/** Options of {@link startAnalyticsProjector}. */
export interface AnalyticsProjectorOptions {
  /** Connected JetStream (the streams must exist: `ensureEventStreams`). Not closed by `stop()`. */
  readonly messaging: Messaging;
  /** Where rows go: a ClickHouse server or the embedded chDB client, migrated (`migrateAnalytics`). Not closed by `stop()`. */
  readonly analytics: ClickHouseClient;
  readonly logger: Logger;
  /**
   * Prefix of the durable consumer names (`<prefix>-events`, `-telemetry`, `-chat`); default
   * {@link ANALYTICS_DURABLE_PREFIX}. A new prefix replays the whole retained history (which
   * changes no count: the tables are idempotent).
   */
  readonly durablePrefix?: string;
  /** Registry the metrics are registered in (e.g. the app's `/metrics` one); default: none. */
  readonly registry?: Registry;
  /** Rows per insert (and the buffered count that triggers one); default 1000. */
  readonly batchRows?: number;
  /** Longest a row waits before its (partial) batch is inserted, ms; default 1000. */
  readonly batchDelayMs?: number;
  /** Unacknowledged messages per consumer (server-side flow control); default 60 000 (room for a batch being inserted while the next one gathers). */
  readonly maxAckPending?: number;
  /** Delays before a consumer rewinds after a failed insert, ms, by failures in a row; default 1 s, 2 s, 5 s, 10 s, 30 s (then 30 s). */
  readonly retryDelaysMs?: readonly number[];
  /** Server-side ack deadline, ms; default 60 000 (far above one batch's insert time). */
  readonly ackWaitMs?: number;
  /**
   * Table to write instead of a migrated one, e.g. `{ playback_beacons: 'playback_beacons_rebuild' }`
   * to rebuild a projection into a fresh table (created `AS` the original) before swapping it in
   * with `EXCHANGE TABLES`. Names are used as given (trusted operator input, not user input).
   */
  readonly tables?: Partial<Record<AnalyticsTable, string>>;
}

/** Per-source counts since start, for tests and logs (the same figures as the metrics). */
export interface AnalyticsProjectorStats {
  /** Messages whose rows were inserted and which were then acknowledged. */
  readonly projected: Readonly<Record<AnalyticsSource, number>>;
  /** Messages skipped (terminated, never inserted) because they could not be decoded or mapped. */
  readonly malformed: Readonly<Record<AnalyticsSource, number>>;
  /** Messages negatively acknowledged (redelivered later) because their batch's insert failed. */
  readonly redelivered: Readonly<Record<AnalyticsSource, number>>;
}

/** Backlog of one consumer, from the JetStream server. */
export interface AnalyticsConsumerLag {
  readonly stream: string;
  readonly durable: string;
  /** Messages not yet delivered to the consumer. */
  readonly pending: number;
  /** Messages delivered and not yet acknowledged (being batched or inserted). */
  readonly ackPending: number;
}

/** A running analytics projection. */
export interface AnalyticsProjector {
  /**
   * Stops fetching, inserts what is buffered, acknowledges (or naks) every message in flight,
   * and resolves. Idempotent. Messages fetched but not yet handled are redelivered later.
   */
  stop(): Promise<void>;
  /**
   * The backlog of each of the three consumers (JetStream consumer info); the projection is
   * caught up when every `pending` and `ackPending` is 0.
   * @throws the nats.js error when JetStream does not answer.
   */
  lag(): Promise<Record<AnalyticsSource, AnalyticsConsumerLag>>;
  /** Counts since start. */
  stats(): AnalyticsProjectorStats;
}

interface Source {
  readonly name: AnalyticsSource;
  readonly stream: string;
  readonly filterSubject: string;
  /**
   * Maps a message to its rows, all or nothing.
   * @throws when the message is malformed (it is then skipped and counted, never inserted).
   */
  rows(m: JsMsg): AnalyticsRow[];
}

/** JetStream acknowledgement bodies (NATS docs "JetStream model deep dive: acknowledgement models"; nats.js `AckKind`). */
const ACK = new TextEncoder().encode('+ACK');
const NAK = new TextEncoder().encode('-NAK');

/**
 * The reply subject of a delivery (`$JS.ACK.<stream>.<consumer>.…`), where its acknowledgement
 * goes: nats.js's `JsMsgImpl` exposes it as `reply` (not on the `JsMsg` interface).
 * @throws TypeError when the message has none (a client version without it).
 */
function replyOf(msg: JsMsg): string {
  const reply = (msg as JsMsg & { readonly reply?: unknown }).reply;
  if (typeof reply !== 'string' || reply.length === 0) throw new TypeError('a JetStream message without its reply subject');
  return reply;
}

/**
 * One message delivered to a consumer run, until the run's acknowledgement passes it.
 * `waiting` counts its rows not yet inserted.
 */
interface Tracked {
  /** Stream sequence (a run's messages arrive in increasing order). */
  readonly seq: number;
  /**
   * The delivery's reply subject, where its ack goes. Only this is kept, not the message: a
   * kept message would keep its payload and the client's read buffer alive until the ack.
   */
  readonly reply: string;
  waiting: number;
  /** Inserted (every row), or skipped as malformed. */
  done: boolean;
}

/**
 * The messages of one consumer run in delivery order, and its acknowledgement floor
 * (AckPolicy.All: acknowledging a message acknowledges every earlier one; NATS docs
 * "Consumers: AckPolicy"). Only the longest prefix of done messages is acknowledged, with one
 * ack for its last message. A run only ever sees first deliveries in stream order (a
 * redelivery ends the run, see `startAnalyticsProjector`), so each ack's delivery sequence is
 * above the previous one's, as nats-server requires of an AckAll (`processAckMsg` ignores an
 * ack whose delivery sequence is not above the consumer's acknowledged floor).
 */
class AckTracker {
  /** @param respond publishes a JetStream acknowledgement body (`+ACK`, `-NAK`) to a delivery's reply subject. */
  constructor(private readonly respond: (reply: string, body: Uint8Array) => void) {}

  /** Messages not yet acknowledged, by increasing `seq`, from `head`. */
  private items: Tracked[] = [];
  private head = 0;
  /** Stream sequence of the last message of the run, 0 before the first. */
  lastSeq = 0;

  /** Adds a first delivery; returns undefined for a message that is not after the last one (a redelivery). */
  track(msg: JsMsg): Tracked | undefined {
    const seq = msg.seq;
    if (seq <= this.lastSeq) return undefined;
    this.lastSeq = seq;
    if (this.head === this.items.length) { this.items = []; this.head = 0; }
    const t: Tracked = { seq, reply: replyOf(msg), waiting: 0, done: false };
    this.items.push(t);
    return t;
  }

  /** Acknowledges the longest done prefix with one AckAll, and drops it from memory. */
  advance(): void {
    let end = this.head;
    while (end < this.items.length && this.items[end]!.done) end++;
    if (end === this.head) return;
    this.respond(this.items[end - 1]!.reply, ACK);
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Stream sequence the next run must start from: the first message not done, else the one after the last. */
  resumeSeq(): number {
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i]!.done) return this.items[i]!.seq;
    return this.lastSeq + 1;
  }

  /** Messages delivered and not yet done. */
  undone(): Tracked[] {
    return this.items.slice(this.head).filter((t) => !t.done);
  }

  /** Hands every message not done back to the server for redelivery now (rather than after the ack wait). */
  nakUndone(): void {
    for (const t of this.undone()) this.respond(t.reply, NAK);
  }
}

/**
 * Starts the analytics projection: three durable pull consumers with AckPolicy.All, each
 * mapping messages to rows with the pure mappers of `@live/analytics` and inserting them
 * through one `createBatchInserter` per table (an insert at `batchRows` rows or `batchDelayMs`
 * after its first row, whichever comes first):
 * - EVENTS `evt.>` → `domain_events` (every event), plus `ingest_health` for
 *   `StreamIngestHealthReported`;
 * - TELEMETRY `tel.*` → `playback_beacons` (one row per `StoredBeacon`);
 * - CHAT `chat.*` → `chat_messages` (ChatMessageAccepted, text length only) and
 *   `chat_message_deletions` (ChatMessageDeleted tombstones).
 *
 * A message is acknowledged only after every row it produced, and every row of the messages
 * before it, was inserted: one AckAll per completed prefix (per insert, not per message, which
 * is what lets a replay run at 100k messages/s). When an insert fails, the consumer rewinds:
 * once its inserts settled, the done prefix is acknowledged and the durable is recreated from
 * the first message not inserted, after the delay of the number of failures in a row
 * (`retryDelaysMs`); nothing is dropped while ClickHouse is down. One process per durable
 * (the chDB owner in the embedded stack). Idempotent: every table is a ReplacingMergeTree keyed
 * by the record's id (event id, beacon id, message id), so a message inserted again after a
 * rewind, or replayed, is stored once (queries read with FINAL). A durable made by an earlier
 * version with explicit acks is recreated from the message after its acknowledgement floor.
 *
 * A message that is not JSON, not a valid event / StoredBeacon / chat record, or whose rows
 * fail validation (`MalformedRecordError`, out-of-range times) is logged, counted in
 * `analytics_malformed_messages_total{source}` and skipped for good (acknowledged with its
 * prefix, never inserted). Metrics (when `registry` is given): `analytics_projected_messages_total{source}`,
 * `analytics_malformed_messages_total{source}`, `analytics_redelivered_messages_total{source}`,
 * `analytics_insert_failures_total{table}`.
 *
 * @throws JetStreamApiError when a stream does not exist or a consumer cannot be created.
 */
export async function startAnalyticsProjector(opts: AnalyticsProjectorOptions): Promise<AnalyticsProjector> {
  const { messaging: m, analytics: client } = opts;
  const log = opts.logger.child({ component: 'analytics-projector' });
  const prefix = opts.durablePrefix ?? ANALYTICS_DURABLE_PREFIX;
  const retryDelays = opts.retryDelaysMs ?? [1000, 2000, 5000, 10_000, 30_000];
  const registers = opts.registry ? [opts.registry] : [];
  /** A counter of `registry`, registered once: a process that wins the projection's lease again reuses it. */
  const counter = (c: { name: string; help: string; labelNames: string[] }): Counter =>
    (opts.registry?.getSingleMetric(c.name) as Counter | undefined) ?? new Counter({ ...c, registers });
  const metrics = {
    projected: counter({ name: 'analytics_projected_messages_total', help: 'JetStream messages inserted into ClickHouse and acknowledged, by source stream', labelNames: ['source'] }),
    malformed: counter({ name: 'analytics_malformed_messages_total', help: 'JetStream messages skipped as malformed (never inserted), by source stream', labelNames: ['source'] }),
    redelivered: counter({ name: 'analytics_redelivered_messages_total', help: 'JetStream messages delivered again after a failed insert (a consumer rewind), by source stream', labelNames: ['source'] }),
    insertFailures: counter({ name: 'analytics_insert_failures_total', help: 'Failed ClickHouse batch inserts, by table', labelNames: ['table'] }),
  };
  // Every series exists from the start (at 0), so that rate() and alerts see it before the first event.
  for (const source of ['events', 'telemetry', 'chat'] as const) {
    metrics.projected.inc({ source }, 0);
    metrics.malformed.inc({ source }, 0);
    metrics.redelivered.inc({ source }, 0);
  }
  const zero = (): Record<AnalyticsSource, number> => ({ events: 0, telemetry: 0, chat: 0 });
  const counts = { projected: zero(), malformed: zero(), redelivered: zero() };

  const decoder = new TextDecoder();
  const inserters = new Map<string, BatchInserter<object>>();
  const inserter = (logical: AnalyticsTable): BatchInserter<object> => {
    const table = opts.tables?.[logical] ?? logical;
    let ins = inserters.get(table);
    if (!ins) {
      ins = createBatchInserter<object>({
        client, table, maxRows: opts.batchRows ?? 1000, maxDelayMs: opts.batchDelayMs ?? 1000,
        onError: (err, rowCount) => {
          metrics.insertFailures.inc({ table });
          log.warn({ err: (err as Error)?.message, table, rows: rowCount }, 'analytics insert failed; its messages will be redelivered');
        },
      });
      inserters.set(table, ins);
    }
    return ins;
  };
  const sources: Source[] = ANALYTICS_SOURCES.map((src) => ({
    name: src.name,
    stream: src.stream,
    filterSubject: src.filter,
    rows: (msg) => src.rowsOf(msg.seq, JSON.parse(decoder.decode(msg.data))),
  }));

  const ackWaitMs = opts.ackWaitMs ?? 60_000;
  const maxAckPending = opts.maxAckPending ?? 60_000;
  let stopping = false;

  /**
   * Creates the durable consumer (AckPolicy.All), or updates its settings. With `startSeq`, or
   * when the durable was made by an earlier version with another ack policy (which cannot be
   * updated), deletes it and creates it again starting at `startSeq` (for an earlier version's
   * durable: the message after its acknowledgement floor), so that nothing acknowledged is
   * projected again and nothing unacknowledged is skipped.
   */
  async function ensureConsumer(src: Source, durable: string, startSeq?: number): Promise<void> {
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.All,
      filter_subject: src.filterSubject,
      ack_wait: ackWaitMs * 1e6,
      max_deliver: -1,
      max_ack_pending: maxAckPending,
    };
    let info: Awaited<ReturnType<typeof m.jsm.consumers.info>> | undefined;
    try {
      info = await m.jsm.consumers.info(src.stream, durable);
    } catch {
      info = undefined;
    }
    // Deliveries not acknowledged at start (the process that consumed it died, e.g. the previous
    // holder of the projection's lease) would come back only after their ack wait: rewind now.
    if (info && startSeq === undefined && info.config.ack_policy === AckPolicy.All && info.num_ack_pending === 0) {
      await m.jsm.consumers.update(src.stream, durable, {
        ack_wait: config.ack_wait, max_deliver: config.max_deliver, filter_subject: config.filter_subject, max_ack_pending: config.max_ack_pending,
      });
      return;
    }
    if (info) {
      const from = startSeq ?? info.ack_floor.stream_seq + 1;
      await m.jsm.consumers.delete(src.stream, durable);
      await m.jsm.consumers.add(src.stream, from > 1 ? { ...config, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : config);
      if (startSeq === undefined) log.info({ durable, fromSeq: from, ackPending: info.num_ack_pending }, 'analytics consumer recreated from its acknowledgement floor');
      return;
    }
    await m.jsm.consumers.add(src.stream, startSeq !== undefined && startSeq > 1 ? { ...config, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : config);
  }

  /**
   * One pass of a consumer: from its creation (or a rewind) until it is stopped or rewinds.
   * `closed` is set once its last insert settled and the consumer is about to be recreated:
   * from then on nothing acknowledges its messages (an ack would reach the recreated consumer).
   */
  interface Run {
    readonly tracker: AckTracker;
    readonly messages: Awaited<ReturnType<Awaited<ReturnType<typeof m.js.consumers.get>>['consume']>>;
    readonly inFlight: Set<Promise<void>>;
    /** Why the run must end (an insert failed, a message was redelivered), or undefined. */
    failure?: 'insert' | 'redelivery';
    progressed: boolean;
    closed: boolean;
  }
  interface Runner {
    readonly src: Source;
    readonly durable: string;
    run: Run;
    /** Settles when a rewind in progress is over (the consumer exists again). */
    rewinding: Promise<void>;
    loop: Promise<void>;
  }

  // Enough messages in flight to keep the inserts of a backlog full (the pull requests are re-issued at half).
  const maxMessages = Math.min(maxAckPending, Math.max(10 * (opts.batchRows ?? 1000), 10_000));
  let wakeStop: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => { wakeStop = resolve; });

  async function openRun(src: Source, durable: string): Promise<Run> {
    const consumer = await m.js.consumers.get(src.stream, durable);
    const messages = await consumer.consume({ max_messages: maxMessages });
    return { tracker: new AckTracker((reply, body) => m.nc.publish(reply, body)), messages, inFlight: new Set(), progressed: false, closed: false };
  }

  /** The messages waiting on one insert promise (rows added one after another share one). */
  let lastGroup: { promise: Promise<void>; entries: Tracked[]; run: Run } | undefined;

  function settleGroup(src: Source, run: Run, promise: Promise<void>, entries: Tracked[]): void {
    const p = promise.then(
      () => {
        if (run.closed) return;
        let projected = 0;
        for (const t of entries) if (!t.done && --t.waiting === 0) { t.done = true; projected++; }
        counts.projected[src.name] += projected;
        metrics.projected.inc({ source: src.name }, projected);
        run.progressed = true;
        if (run.failure === undefined) run.tracker.advance();
      },
      () => {
        if (run.failure !== undefined) return;
        run.failure = 'insert';
        // Ends the run: its loop rewinds the consumer to the first message not inserted.
        void run.messages.close().catch(() => undefined);
      },
    ).finally(() => run.inFlight.delete(p));
    run.inFlight.add(p);
  }

  function handle(src: Source, run: Run, msg: JsMsg): void {
    const t = run.tracker.track(msg);
    if (t === undefined) {
      // Redelivered (its ack wait ran out): rewind, so that every delivery of the run stays in order.
      run.failure ??= 'redelivery';
      void run.messages.close().catch(() => undefined);
      return;
    }
    let inserts: ReturnType<Source['rows']>;
    try {
      inserts = src.rows(msg);
    } catch (err) {
      counts.malformed[src.name]++;
      metrics.malformed.inc({ source: src.name });
      log.warn({ err: (err as Error)?.message, source: src.name, seq: msg.seq, subject: msg.subject }, 'malformed message skipped');
      // Skipped for good: done without rows, acknowledged with the prefix it completes.
      t.done = true;
      run.tracker.advance();
      return;
    }
    t.waiting = inserts.length;
    if (inserts.length === 0) { t.done = true; run.tracker.advance(); return; }
    for (const { table, row } of inserts) {
      const promise = inserter(table).add(row);
      if (lastGroup && lastGroup.promise === promise && lastGroup.run === run) {
        lastGroup.entries.push(t);
      } else {
        lastGroup = { promise, entries: [t], run };
        settleGroup(src, run, promise, lastGroup.entries);
      }
    }
  }

  /**
   * Consumes one source until stopped. When an insert fails (or a message comes back after its
   * ack wait), the run ends: once its inserts settled, the done prefix is acknowledged and the
   * durable is recreated from the first message not inserted, after the retry delay of the
   * number of failures in a row (`retryDelaysMs`). Messages after it that were inserted are
   * delivered again and inserted again, which changes no count (the tables are idempotent).
   */
  async function consumeLoop(r: Runner): Promise<void> {
    let failures = 0;
    for (;;) {
      const run = r.run;
      for await (const msg of run.messages) {
        if (stopping || run.failure !== undefined) break;
        handle(r.src, run, msg);
      }
      if (stopping) return;
      let endRewind!: () => void;
      r.rewinding = new Promise<void>((resolve) => { endRewind = resolve; });
      try {
        await run.messages.close().catch(() => undefined);
        await Promise.allSettled([...run.inFlight]);
        // Still in order: acknowledge what is done before the consumer is recreated.
        run.tracker.advance();
        run.closed = true;
        const from = run.tracker.resumeSeq();
        const undone = run.tracker.undone().length;
        counts.redelivered[r.src.name] += undone;
        metrics.redelivered.inc({ source: r.src.name }, undone);
        failures = run.progressed ? 1 : failures + 1;
        const delay = run.failure === 'insert' ? retryDelays[Math.min(failures - 1, retryDelays.length - 1)] ?? 1000 : 0;
        log.warn({ source: r.src.name, reason: run.failure ?? 'consumer ended', fromSeq: from, undone, retryInMs: delay }, 'analytics consumer rewinds to the first message not inserted');
        for (let attempt = 0; ; attempt++) {
          const wait = attempt === 0 ? delay : retryDelays[Math.min(attempt - 1, retryDelays.length - 1)] ?? 1000;
          await Promise.race([new Promise((resolve) => setTimeout(resolve, wait)), stopSignal]);
          if (stopping) return;
          if (m.nc.isClosed()) {
            // The connection was closed under the projection (the process is shutting down): nothing can be consumed any more.
            log.error({ source: r.src.name }, 'analytics consumer stopped: the NATS connection is closed');
            return;
          }
          try {
            await ensureConsumer(r.src, r.durable, from);
            r.run = await openRun(r.src, r.durable);
            break;
          } catch (err) {
            log.warn({ err: (err as Error)?.message, source: r.src.name }, 'analytics consumer could not be recreated; retrying');
          }
        }
      } finally {
        endRewind();
      }
    }
  }

  const runners: Runner[] = [];
  try {
    for (const src of sources) {
      const durable = `${prefix}-${src.name}`;
      await ensureConsumer(src, durable);
      const runner: Runner = { src, durable, run: await openRun(src, durable), rewinding: Promise.resolve(), loop: Promise.resolve() };
      runner.loop = consumeLoop(runner).catch((err: Error) => log.error({ err: err.message, source: src.name }, 'analytics consumer loop ended with an error'));
      runners.push(runner);
    }
  } catch (err) {
    stopping = true;
    wakeStop();
    await Promise.all(runners.map((r) => r.run.messages.close().catch(() => undefined)));
    throw err;
  }
  log.info({ durables: runners.map((r) => r.durable) }, 'analytics projection running');

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        wakeStop();
        await Promise.all(runners.map((r) => r.run.messages.close().catch(() => undefined)));
        await Promise.all(runners.map((r) => r.loop));
        // Insert what is buffered, then acknowledge what is done.
        await Promise.allSettled([...inserters.values()].map((i) => i.close()));
        await Promise.allSettled(runners.flatMap((r) => [...r.run.inFlight]));
        for (const r of runners) {
          if (r.run.closed) continue;
          r.run.tracker.advance();
          // What was not inserted is handed back at once (rather than after the ack wait).
          r.run.tracker.nakUndone();
        }
        log.info({ projected: counts.projected, malformed: counts.malformed }, 'analytics projection stopped');
      })();
      return stopped;
    },
    async lag() {
      const entries = await Promise.all(runners.map(async (r) => {
        await r.rewinding;
        const info = await m.jsm.consumers.info(r.src.stream, r.durable);
        return [r.src.name, { stream: r.src.stream, durable: r.durable, pending: info.num_pending, ackPending: info.num_ack_pending }] as const;
      }));
      return Object.fromEntries(entries) as Record<AnalyticsSource, AnalyticsConsumerLag>;
    },
    stats: () => ({ projected: { ...counts.projected }, malformed: { ...counts.malformed }, redelivered: { ...counts.redelivered } }),
  };
}
