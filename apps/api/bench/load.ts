/**
 * Load generator of bench/api.ts, run in its own process so that it does not share an event
 * loop with the API it measures. Drives autocannon's programmatic API and prints one JSON line
 * ({@link LoadResult}) on stdout.
 *
 * Modes:
 * - `max`: one autocannon instance, `connections` connections, no rate limit.
 * - `burst`: one instance with autocannon's own `overallRate`. autocannon paces a rate with a
 *   per-connection budget that refills once a second (lib/httpClient.js `reqsMadeThisSecond`):
 *   every connection sends back to back until its share of the second is used, so each
 *   second's requests arrive as one burst at full speed, then nothing.
 * - `paced`: the same rate spread over the second: `instances` autocannon instances of one
 *   connection each, each with `overallRate = rate / instances`, started `1000 / instances` ms
 *   apart, so the bursts are small and staggered. This is what "500 requests/s" means here.
 * Latencies are the raw response times of every 2xx response (instance `response` events),
 * percentiles by nearest rank: autocannon's own histogram, when a rate is set, "corrects" for
 * coordinated omission with an expected interval of `ceil(1 / rate)` = 1 ms, which adds a
 * synthetic sample for every millisecond of every response time.
 *
 * Usage: node --import tsx apps/api/bench/load.ts '<LoadArgs as JSON>'
 */
import autocannon from 'autocannon';

/** What bench/api.ts asks for. */
export interface LoadArgs {
  /** Base URL of the API, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Request paths (with query strings); each connection cycles through them in order. */
  readonly paths: readonly string[];
  readonly mode: 'max' | 'burst' | 'paced';
  /** Connections of `max` and `burst` (`paced` uses one per instance). */
  readonly connections: number;
  /** Seconds (of each instance). */
  readonly duration: number;
  /** Requests per second over all connections (`burst`, `paced`). */
  readonly rate?: number;
  /** Instances of `paced` (default 50). */
  readonly instances?: number;
}

/** What this process prints (one JSON line). Latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  /** Responses per second over the run. */
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly non2xx: number;
  /** CPU seconds (user + system) this load-generator process used. */
  readonly cpuSeconds: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as LoadArgs;
const cpu0 = process.cpuUsage();
const latencies: number[] = [];
let non2xx = 0;

function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = xs.length === 0 ? 0 : by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function runInstance(opts: { connections: number; overallRate?: number; startDelayMs: number; rotateBy: number }): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      const instance = autocannon({
        url: args.url,
        connections: opts.connections,
        duration: args.duration,
        timeout: 10,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
        requests: rotate(args.paths, opts.rotateBy).map((path) => ({ method: 'GET' as const, path })),
      }, (err, result) => (err ? reject(err) : resolve(result)));
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
        else non2xx++;
      });
    }, opts.startDelayMs);
  });
}

const t0 = performance.now();
let results: autocannon.Result[];
if (args.mode === 'paced') {
  const n = args.instances ?? 50;
  const rate = args.rate ?? 500;
  results = await Promise.all(Array.from({ length: n }, (_, i) => runInstance({
    connections: 1, overallRate: rate / n, startDelayMs: (i * 1000) / n, rotateBy: i,
  })));
} else {
  results = [await runInstance({ connections: args.connections, ...(args.mode === 'burst' && args.rate ? { overallRate: args.rate } : {}), startDelayMs: 0, rotateBy: 0 })];
}
const wallSeconds = (performance.now() - t0) / 1000;
// The paced instances start up to a second apart; count the common window only.
const seconds = args.mode === 'paced' ? args.duration : wallSeconds;

latencies.sort((a, b) => a - b);
const pct = (p: number): number => latencies.length === 0 ? 0 : (latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] as number);
const requests = latencies.length + non2xx;
const out: LoadResult = {
  requests,
  rps: requests / seconds,
  p50: pct(50),
  p90: pct(90),
  p99: pct(99),
  max: latencies[latencies.length - 1] ?? 0,
  errors: results.reduce((s, r) => s + r.errors, 0),
  non2xx,
  cpuSeconds: ((c) => (c.user + c.system) / 1e6)(process.cpuUsage(cpu0)),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
