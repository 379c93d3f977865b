/**
 * The projector's projections and their leases: which projections exist, the KV lease key of
 * each (one active process per projection, `runUnderLease` in `@live/messaging`), and how a
 * process reports its leases in `/healthz` and `/metrics`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { LeaseState } from '@live/messaging';

/** The projections a projector process can run. */
export const PROJECTIONS = ['readmodels', 'analytics', 'presence', 'webhooks'] as const;

/**
 * One of {@link PROJECTIONS}: `readmodels` (EVENTS → PostgreSQL), `analytics` (→ ClickHouse),
 * `presence` (chat presence → viewer counts), `webhooks` (EVENTS → signed HTTP deliveries, webhooks.ts).
 */
export type Projection = (typeof PROJECTIONS)[number];

/** The lease key of a projection in the `leases` bucket: `projector.<projection>`. */
export function projectionLeaseKey(p: Projection): string {
  return `projector.${p}`;
}

/**
 * The projections `PROJECTOR_PROJECTIONS` names: its items, deduplicated in {@link PROJECTIONS}
 * order; `none` alone names none (a process that only owns and serves the chDB store).
 * @throws TypeError naming `PROJECTOR_PROJECTIONS` for an unknown item, or `none` with others.
 */
export function parseProjections(items: readonly string[]): Projection[] {
  const wanted = new Set(items.map((i) => i.trim().toLowerCase()).filter(Boolean));
  if (wanted.has('none')) {
    if (wanted.size > 1) throw new TypeError('PROJECTOR_PROJECTIONS: `none` cannot be combined with projections');
    return [];
  }
  for (const w of wanted) {
    if (!(PROJECTIONS as readonly string[]).includes(w)) throw new TypeError(`PROJECTOR_PROJECTIONS: unknown projection ${JSON.stringify(w)} (known: ${PROJECTIONS.join(', ')}, none)`);
  }
  return PROJECTIONS.filter((p) => wanted.has(p));
}

/** What a process knows of one projection's lease. */
export interface ProjectionLeaseStatus {
  /** `holder`: this process runs it; `standby`: it waits; `stopped`: shutting down. */
  readonly state: LeaseState;
  /** The holder as last seen, or null when unknown. */
  readonly heldBy: string | null;
}

/** Something that reports a lease: `runUnderLease`'s handle, or the presence aggregator. */
export interface LeaseReporter {
  state(): LeaseState;
  heldBy(): string | null;
}

/**
 * The `/healthz` body: `{ status: 'ok', holder, projections: { <projection>: { state, heldBy } } }`,
 * one entry per projection this process runs (none for a chDB owner without projections).
 */
export function healthBody(holder: string, leases: ReadonlyMap<Projection, LeaseReporter>): string {
  const projections: Record<string, ProjectionLeaseStatus> = {};
  for (const [p, l] of leases) projections[p] = { state: l.state(), heldBy: l.heldBy() };
  return JSON.stringify({ status: 'ok', holder, projections });
}

/**
 * Registers `projector_lease_held{projection}` in `registry`: 1 while this process holds the
 * projection's lease (runs it), 0 while it stands by; one series per projection it runs.
 */
export function registerLeaseGauge(registry: Registry, leases: ReadonlyMap<Projection, LeaseReporter>): void {
  new Gauge({
    name: 'projector_lease_held',
    help: 'Whether this projector process holds the projection\'s lease and runs it (1) or stands by (0)',
    labelNames: ['projection'],
    registers: [registry],
    collect() {
      for (const [p, l] of leases) this.set({ projection: p }, l.state() === 'holder' ? 1 : 0);
    },
  });
}
