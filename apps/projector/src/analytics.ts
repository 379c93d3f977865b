/**
 * The analytics projection: JetStream (EVENTS, TELEMETRY, CHAT) → ClickHouse tables, in
 * batches, acknowledged only once inserted.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { AckPolicy, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Messaging } from '@live/messaging';
import { ANALYTICS_SOURCES, createBatchInserter, type AnalyticsTable, type BatchInserter, type ClickHouseClient } from '@live/analytics';

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
  /** Unacknowledged messages per consumer (server-side flow control); default 20 000. */
  readonly maxAckPending?: number;
  /** Redelivery delays after a failed insert, ms, by delivery attempt; default 1 s, 2 s, 5 s, 10 s, 30 s (then 30 s). */
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

/** One row for one table, produced by mapping one message. */
type Insert = { readonly inserter: BatchInserter<object>; readonly row: object };

interface Source {
  readonly name: AnalyticsSource;
  readonly stream: string;
  readonly filterSubject: string;
  /**
   * Maps a message to its rows, all or nothing.
   * @throws when the message is malformed (it is then terminated and counted, never inserted).
   */
  rows(m: JsMsg): Insert[];
}

/**
 * Starts the analytics projection: three durable pull consumers with explicit ack, each
 * mapping messages to rows with the pure mappers of `@live/analytics` and inserting them
 * through one `createBatchInserter` per table (an insert at `batchRows` rows or `batchDelayMs`
 * after its first row, whichever comes first):
 * - EVENTS `evt.>` → `domain_events` (every event), plus `ingest_health` for
 *   `StreamIngestHealthReported`;
 * - TELEMETRY `tel.*` → `playback_beacons` (one row per `StoredBeacon`);
 * - CHAT `chat.*` → `chat_messages` (ChatMessageAccepted, text length only) and
 *   `chat_message_deletions` (ChatMessageDeleted tombstones).
 *
 * A message is acknowledged only after every row it produced was inserted. When an insert
 * fails, each message of that batch is nak'ed with the delay of its delivery attempt
 * (`retryDelaysMs`), so the server redelivers it; consumers have no delivery limit, so nothing
 * is dropped while ClickHouse is down. Idempotent: every table is a ReplacingMergeTree keyed by
 * the record's id (event id, beacon id, message id), so a redelivered or replayed message is
 * stored once (queries read with FINAL).
 *
 * A message that is not JSON, not a valid event / StoredBeacon / chat record, or whose rows
 * fail validation (`MalformedRecordError`, out-of-range times) is logged, counted in
 * `analytics_malformed_messages_total{source}` and terminated (never redelivered, never
 * inserted). Metrics (when `registry` is given): `analytics_projected_messages_total{source}`,
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
  const metrics = {
    projected: new Counter({ name: 'analytics_projected_messages_total', help: 'JetStream messages inserted into ClickHouse and acknowledged, by source stream', labelNames: ['source'], registers }),
    malformed: new Counter({ name: 'analytics_malformed_messages_total', help: 'JetStream messages skipped as malformed (never inserted), by source stream', labelNames: ['source'], registers }),
    redelivered: new Counter({ name: 'analytics_redelivered_messages_total', help: 'JetStream messages nak\'ed for redelivery after a failed insert, by source stream', labelNames: ['source'], registers }),
    insertFailures: new Counter({ name: 'analytics_insert_failures_total', help: 'Failed ClickHouse batch inserts, by table', labelNames: ['table'], registers }),
  };
  // Every series exists from the start (at 0), so that rate() and alerts see it before the first event.
  for (const source of ['events', 'telemetry', 'chat'] as const) {
    metrics.projected.inc({ source }, 0);
    metrics.malformed.inc({ source }, 0);
    metrics.redelivered.inc({ source }, 0);
  }
  const zero = (): Record<AnalyticsSource, number> => ({ events: 0, telemetry: 0, chat: 0 });
  const counts = { projected: zero(), malformed: zero(), redelivered: zero() };

  const inserters = new Map<string, BatchInserter<object>>();
  const inserter = (logical: AnalyticsTable): BatchInserter<object> => {
    const table = opts.tables?.[logical] ?? logical;
    let ins = inserters.get(table);
    if (!ins) {
      ins = createBatchInserter<object>({
        client, table, maxRows: opts.batchRows ?? 1000, maxDelayMs: opts.batchDelayMs ?? 1000,
        onError: (err, rows) => {
          metrics.insertFailures.inc({ table });
          log.warn({ err: (err as Error)?.message, table, rows: rows.length }, 'analytics insert failed; its messages will be redelivered');
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
    rows: (msg) => src.rowsOf(msg.seq, msg.json()).map((r) => ({ inserter: inserter(r.table), row: r.row })),
  }));

  const ackWaitMs = opts.ackWaitMs ?? 60_000;
  const maxAckPending = opts.maxAckPending ?? 20_000;
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  async function ensureConsumer(src: Source, durable: string): Promise<void> {
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: src.filterSubject,
      ack_wait: ackWaitMs * 1e6,
      max_deliver: -1,
      max_ack_pending: maxAckPending,
    };
    try {
      await m.jsm.consumers.info(src.stream, durable);
      await m.jsm.consumers.update(src.stream, durable, {
        ack_wait: config.ack_wait, max_deliver: config.max_deliver, filter_subject: config.filter_subject, max_ack_pending: config.max_ack_pending,
      });
    } catch {
      await m.jsm.consumers.add(src.stream, config);
    }
  }

  function handle(src: Source, msg: JsMsg): void {
    let inserts: Insert[];
    try {
      inserts = src.rows(msg);
    } catch (err) {
      counts.malformed[src.name]++;
      metrics.malformed.inc({ source: src.name });
      log.warn({ err: (err as Error)?.message, source: src.name, seq: msg.seq, subject: msg.subject }, 'malformed message skipped');
      // No reason argument: `+TERM <reason>` needs nats-server 2.10.4+; the reason is logged above.
      msg.term();
      return;
    }
    const p = Promise.all(inserts.map((i) => i.inserter.add(i.row))).then(
      () => {
        msg.ack();
        counts.projected[src.name]++;
        metrics.projected.inc({ source: src.name });
      },
      () => {
        const attempt = msg.info.deliveryCount;
        msg.nak(retryDelays[Math.min(attempt - 1, retryDelays.length - 1)] ?? 1000);
        counts.redelivered[src.name]++;
        metrics.redelivered.inc({ source: src.name });
      },
    ).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  const running: Array<{ src: Source; durable: string; close(): Promise<void>; done: Promise<void> }> = [];
  try {
    for (const src of sources) {
      const durable = `${prefix}-${src.name}`;
      await ensureConsumer(src, durable);
      const consumer = await m.js.consumers.get(src.stream, durable);
      const messages = await consumer.consume({ max_messages: Math.min(maxAckPending, Math.max(2 * (opts.batchRows ?? 1000), 1000)) });
      const done = (async () => {
        for await (const msg of messages) {
          if (stopping) { msg.nak(); continue; }
          handle(src, msg);
        }
      })().catch((err: Error) => log.error({ err: err.message, source: src.name }, 'analytics consumer loop ended with an error'));
      running.push({ src, durable, done, close: () => messages.close().then(() => undefined, () => undefined) });
    }
  } catch (err) {
    stopping = true;
    await Promise.all(running.map((r) => r.close()));
    throw err;
  }
  log.info({ durables: running.map((r) => r.durable) }, 'analytics projection running');

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        await Promise.all(running.map((r) => r.close()));
        await Promise.all(running.map((r) => r.done));
        // Insert what is buffered; a failed final insert naks its messages (redelivered next start).
        await Promise.allSettled([...inserters.values()].map((i) => i.close()));
        await Promise.allSettled([...inFlight]);
        log.info({ projected: counts.projected, malformed: counts.malformed }, 'analytics projection stopped');
      })();
      return stopped;
    },
    async lag() {
      const entries = await Promise.all(running.map(async (r) => {
        const info = await m.jsm.consumers.info(r.src.stream, r.durable);
        return [r.src.name, { stream: r.src.stream, durable: r.durable, pending: info.num_pending, ackPending: info.num_ack_pending }] as const;
      }));
      return Object.fromEntries(entries) as Record<AnalyticsSource, AnalyticsConsumerLag>;
    },
    stats: () => ({ projected: { ...counts.projected }, malformed: { ...counts.malformed }, redelivered: { ...counts.redelivered } }),
  };
}
