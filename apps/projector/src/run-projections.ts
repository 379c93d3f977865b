/**
 * Runs a projector process's projections, each under its lease (`runUnderLease`): of several
 * projector processes, exactly one runs each projection and the others stand by.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Db } from '@live/db';
import { migrateAnalytics } from '@live/analytics';
import { runUnderLease, type LeaseBucket, type Messaging } from '@live/messaging';
import { startProjector } from './projector.js';
import { startAnalyticsProjector } from './analytics.js';
import { startPresenceAggregator } from './presence.js';
import type { AnalyticsStore } from './analytics-store.js';
import { projectionLeaseKey, type LeaseReporter, type Projection } from './leases.js';
import { registerWebhookMetrics, startWebhookDispatcher, type WebhookDeliverySettings } from './webhooks.js';

/** What {@link startProjections} needs. */
export interface ProjectionsDeps {
  /** The projections to run (`PROJECTOR_PROJECTIONS`). */
  readonly projections: readonly Projection[];
  /** This process's lease holder id (`leaseHolderId('projector')`). */
  readonly holder: string;
  /** The open lease bucket (`openLeaseBucket`). */
  readonly bucket: LeaseBucket;
  readonly db: Db;
  readonly messaging: Messaging;
  /** Where analytics go; null: the analytics projection is not run (logged). */
  readonly analytics: AnalyticsStore | null;
  readonly logger: Logger;
  /** The `/metrics` registry (analytics and webhook counters). */
  readonly registry: Registry;
  /** How the `webhooks` projection sends (`WEBHOOK_*` settings). */
  readonly webhooks: WebhookDeliverySettings;
}

/** The running projections of a process. */
export interface RunningProjections {
  /** Each projection's lease, for `/healthz` and `/metrics`. */
  readonly leases: ReadonlyMap<Projection, LeaseReporter>;
  /** Stops every projection (each stops its work, then releases its lease). Never throws. */
  stop(): Promise<void>;
}

/**
 * Starts a lease per projection in `deps.projections`; each projection runs while its lease is
 * held:
 * - `readmodels`: `startProjector` (rewinding its durable to the offset after a holder died);
 * - `analytics`: on a ClickHouse server (`CLICKHOUSE_URL`, e.g. the chDB owner's HTTP endpoint)
 *   first `migrateAnalytics` (the holder owns the schema), then `startAnalyticsProjector`;
 *   with embedded chDB the store's owner has migrated it already;
 * - `presence`: the aggregator keeps tallying in every process and appends while it holds its
 *   lease (`startPresenceAggregator`);
 * - `webhooks`: `startWebhookDispatcher` (queues deliveries from EVENTS, sends them signed).
 */
export function startProjections(deps: ProjectionsDeps): RunningProjections {
  const { bucket, db, messaging, logger, holder } = deps;
  const leases = new Map<Projection, LeaseReporter & { stop(): Promise<void> }>();
  const lease = (p: Projection, onAcquired: () => Promise<{ stop(): Promise<void> }>) =>
    runUnderLease({ kv: bucket.kv, key: projectionLeaseKey(p), holder, ttlMs: bucket.ttlMs, logger, onAcquired });
  for (const p of deps.projections) {
    if (p === 'readmodels') {
      leases.set(p, lease(p, () => startProjector({ db, messaging, logger })));
    } else if (p === 'analytics') {
      const store = deps.analytics;
      if (!store) {
        logger.warn('analytics projection not run: no analytics store (set CLICKHOUSE_URL, CHDB_PATH or DATA_DIR)');
        continue;
      }
      leases.set(p, lease(p, async () => {
        if (store.mode === 'server') {
          const applied = await migrateAnalytics(store.client);
          logger.info({ applied }, 'analytics schema migrated');
        }
        return startAnalyticsProjector({ messaging, analytics: store.client, logger, registry: deps.registry });
      }));
    } else if (p === 'webhooks') {
      const metrics = registerWebhookMetrics(deps.registry);
      leases.set(p, lease(p, () => startWebhookDispatcher({ db, messaging, logger: logger.child({ projection: 'webhooks' }), holder, settings: deps.webhooks, metrics })));
    } else {
      leases.set(p, startPresenceAggregator({ messaging, logger, holder, leaseBucket: bucket }));
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    leases,
    stop: () => (stopped ??= Promise.all([...leases.values()].map((l) => l.stop().catch((err: Error) => logger.error({ err: err.message }, 'projection stop failed')))).then(() => undefined)),
  };
}
