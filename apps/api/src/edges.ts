/**
 * Health of the edges the steering manifest names (steering.ts): every `intervalMs` the API
 * asks each edge's `GET /healthz` with a short timeout, as a load balancer's active health
 * check does (HAProxy's `inter`, `fall`, `rise`). An edge is down after `fall` failed checks
 * in a row (a refused connection, a timeout, a non-2xx answer) and up again after `rise`
 * good ones, so a flapping edge does not pull players back and forth.
 */
import type { EdgePathway } from '@live/runtime';

/** How many checks in a row change an edge's state. */
export interface HealthRules {
  /** Failed checks in a row that take an up edge down (default 1). */
  readonly fall: number;
  /** Good checks in a row that bring a down edge back (default 2). */
  readonly rise: number;
}

/** Default {@link HealthRules}: down at the first failure (a dead edge leaves at once), up after two good checks. */
export const DEFAULT_HEALTH_RULES: HealthRules = { fall: 1, rise: 2 };

/** One edge's health: its state and how many checks in a row have disagreed with it. */
export interface EdgeHealth {
  readonly up: boolean;
  readonly streak: number;
}

/** The health after one check (`ok`: the check passed), under `rules`. Pure. */
export function nextEdgeHealth(h: EdgeHealth, ok: boolean, rules: HealthRules = DEFAULT_HEALTH_RULES): EdgeHealth {
  if (ok === h.up) return h.streak === 0 ? h : { up: h.up, streak: 0 };
  const streak = h.streak + 1;
  return streak >= (h.up ? rules.fall : rules.rise) ? { up: !h.up, streak: 0 } : { up: h.up, streak };
}

/** Options of {@link startEdgeMonitor}. */
export interface EdgeMonitorOptions {
  readonly pathways: readonly EdgePathway[];
  /** Milliseconds from the start of one round of checks to the next (default 1000). */
  readonly intervalMs?: number;
  /** Milliseconds one check may take before it counts as failed (default: `intervalMs`, at most 2000). */
  readonly timeoutMs?: number;
  readonly rules?: HealthRules;
  /** Called when an edge goes down or comes back (for the log). */
  readonly onChange?: (pathwayId: string, up: boolean, reason: string) => void;
}

/** A running health checker. */
export interface EdgeMonitor {
  /** Whether the edge passes its checks; an edge not checked yet counts as up, an unknown id as down. */
  isUp(pathwayId: string): boolean;
  /** Resolves after the round of checks under way (or the next one) has finished: tests wait on it. */
  settled(): Promise<void>;
  /** Stops checking; resolves once the round under way has finished. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts checking `pathways` (first round at once, then every `intervalMs`; the timer does not
 * keep the process alive). A check is `GET <url>/healthz` answered 2xx within `timeoutMs`.
 */
export function startEdgeMonitor(opts: EdgeMonitorOptions): EdgeMonitor {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? Math.min(intervalMs, 2000);
  const rules = opts.rules ?? DEFAULT_HEALTH_RULES;
  const health = new Map<string, EdgeHealth>(opts.pathways.map((p) => [p.id, { up: true, streak: 0 }]));
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let round: Promise<void> = Promise.resolve();
  let waiters: Array<() => void> = [];

  async function check(p: EdgePathway): Promise<void> {
    let reason = 'ok';
    try {
      const res = await fetch(`${p.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) reason = `HTTP ${res.status}`;
    } catch (err) {
      reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
    }
    if (stopped) return;
    const before = health.get(p.id)!;
    const after = nextEdgeHealth(before, reason === 'ok', rules);
    health.set(p.id, after);
    if (after.up !== before.up) opts.onChange?.(p.id, after.up, reason);
  }

  function tick(): void {
    const started = Date.now();
    round = Promise.all(opts.pathways.map(check)).then(() => {
      const done = waiters;
      waiters = [];
      for (const w of done) w();
      if (stopped) return;
      timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - started)));
      timer.unref();
    });
  }
  tick();

  return {
    isUp: (id) => health.get(id)?.up ?? false,
    settled: () => new Promise<void>((resolve) => waiters.push(resolve)),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await round;
      for (const w of waiters) w();
      waiters = [];
    },
  };
}
