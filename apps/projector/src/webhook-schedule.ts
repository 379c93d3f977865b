/**
 * The retry schedule of webhook deliveries (pure): exponential backoff, capped, for at least a
 * total span, after which the endpoint is disabled. Mux retries for 24 h; Stripe for three days
 * with exponential backoff; this is the same shape with the numbers as settings
 * (`WEBHOOK_RETRY_BASE_MS`, `WEBHOOK_RETRY_MAX_DELAY_MS`, `WEBHOOK_RETRY_SPAN_MS`).
 */

/** The settings of a {@link retrySchedule}. */
export interface RetryPolicy {
  /** Delay before the first retry, ms (each further one doubles). */
  readonly baseMs: number;
  /** Longest delay between two attempts, ms. */
  readonly maxDelayMs: number;
  /** The retries together wait at least this long, ms; then the endpoint is disabled. */
  readonly spanMs: number;
}

/** The production policy: 30 s, doubling up to 2 h, for at least 24 h (19 retries, 20 attempts). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 30_000, maxDelayMs: 2 * 3600_000, spanMs: 24 * 3600_000 };

/**
 * The delays before each retry of a failed delivery, ms: `baseMs · 2^(n-1)` for retry n, at most
 * `maxDelayMs`, as many as it takes for their sum to reach `spanMs` (the last is not
 * shortened). `DEFAULT_RETRY_POLICY` gives 30 s, 1 min, 2 min … 64 min, then 2 h eleven times:
 * 19 retries over 24 h 7 min 30 s.
 * @throws RangeError when a value is not a positive finite number, or `maxDelayMs < baseMs`.
 */
export function retrySchedule(p: RetryPolicy): number[] {
  for (const [k, v] of Object.entries(p)) if (!Number.isFinite(v) || v <= 0) throw new RangeError(`RetryPolicy.${k} must be a positive number`);
  if (p.maxDelayMs < p.baseMs) throw new RangeError('RetryPolicy.maxDelayMs must be at least baseMs');
  const out: number[] = [];
  let total = 0;
  for (let delay = p.baseMs; total < p.spanMs; delay = Math.min(delay * 2, p.maxDelayMs)) {
    out.push(delay);
    total += delay;
  }
  return out;
}

/**
 * What to do after a delivery's `failures`-th failed attempt in a row (1-based):
 * `{ retryInMs }` while the schedule lasts, else `{ giveUp: true }` (disable the endpoint).
 */
export function nextRetry(schedule: readonly number[], failures: number): { readonly retryInMs: number } | { readonly giveUp: true } {
  const delay = schedule[failures - 1];
  return delay === undefined ? { giveUp: true } : { retryInMs: delay };
}
