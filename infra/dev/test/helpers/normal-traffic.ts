/**
 * What the abuse test measures beside its floods (issue 15 item 7): a loop of normal requests per
 * target (a viewer's API call, a playlist reload) timing each answer, the resident memory of the
 * platform's processes read from `/proc`, and counters read from a node's Prometheus `/metrics`.
 */
import { readFile } from 'node:fs/promises';

/** A normal request sent over and over: GET `url` with `headers`, answered `expect` (an HTTP status). */
export interface NormalRequest {
  readonly what: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly expect: number;
}

/** One kind of normal request: `send` makes one and resolves whether it got the expected answer (it never rejects). */
export interface Probe {
  readonly what: string;
  send(): Promise<boolean>;
}

/** One answered (or failed) normal request: when it was sent (ms since epoch), how long it took (ms), whether the answer was the expected one. */
export interface TrafficSample {
  readonly what: string;
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
}

/** Longest a normal request may take before it counts as failed, ms. */
const REQUEST_TIMEOUT_MS = 10_000;

/** A {@link Probe} of an HTTP GET (a viewer's API call, a playlist reload); a timeout of 10 s counts as failed. */
export function httpProbe(r: NormalRequest): Probe {
  return {
    what: r.what,
    async send() {
      try {
        const res = await fetch(r.url, { ...(r.headers ? { headers: r.headers } : {}), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        await res.arrayBuffer();
        return res.status === r.expect;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Sends each {@link Probe}'s request one after another, `periodMs` apart (a request that takes
 * longer delays the next one), from {@link start} until {@link stop}, recording every answer.
 */
export class NormalTraffic {
  readonly samples: TrafficSample[] = [];
  private running = false;
  private loops: Array<Promise<void>> = [];

  constructor(private readonly probes: readonly Probe[], private readonly periodMs: number) {}

  start(): void {
    this.running = true;
    this.loops = this.probes.map((p) => this.loop(p));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Latencies (ms) of `what`'s requests sent within `[from, to]`, and how many of those failed. */
  between(what: string, from: number, to: number): { ms: number[]; failed: number } {
    const inWindow = this.samples.filter((s) => s.what === what && s.at >= from && s.at <= to);
    return { ms: inWindow.filter((s) => s.ok).map((s) => s.ms), failed: inWindow.filter((s) => !s.ok).length };
  }

  private async loop(p: Probe): Promise<void> {
    while (this.running) {
      const at = Date.now();
      const t0 = performance.now();
      const ok = await p.send();
      const took = performance.now() - t0;
      this.samples.push({ what: p.what, at, ms: took, ok });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.periodMs - took)));
    }
  }
}

/** Resident set size of process `pid` (`VmRSS` of `/proc/<pid>/status`), MiB. @throws when the process is gone. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) / 1024;
}

/**
 * Reads the resident memory of `pids` (name → pid) every `periodMs` until {@link stop}; {@link peak}
 * gives each one's highest reading in a window.
 */
export class MemorySampler {
  private readonly readings: Array<{ at: number; name: string; mib: number }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Readonly<Record<string, number>>, private readonly periodMs = 250) {}

  start(): void {
    const read = async (): Promise<void> => {
      const at = Date.now();
      for (const [name, pid] of Object.entries(this.pids)) {
        const mib = await rssMiB(pid).catch(() => Number.NaN);
        this.readings.push({ at, name, mib });
      }
    };
    void read();
    this.timer = setInterval(() => void read(), this.periodMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The highest reading of `name` within `[from, to]` (NaN when none). */
  peak(name: string, from: number, to: number): number {
    const xs = this.readings.filter((r) => r.name === name && r.at >= from && r.at <= to).map((r) => r.mib);
    return xs.length ? Math.max(...xs) : Number.NaN;
  }

  /** The last reading of `name` at or before `at` (NaN when none). */
  at(name: string, at: number): number {
    const xs = this.readings.filter((r) => r.name === name && r.at <= at);
    return xs.length ? xs[xs.length - 1]!.mib : Number.NaN;
  }
}

/**
 * The value of the Prometheus sample `name` with exactly the labels `labels` (e.g.
 * `{ reason: 'per_address' }`) in `/metrics` of `baseUrl`.
 * @returns the value, or 0 when the series is absent.
 * @throws when `/metrics` does not answer 200.
 */
export async function metric(baseUrl: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`${baseUrl}/metrics: HTTP ${res.status}`);
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === want) return Number(m[3]);
  }
  return 0;
}
