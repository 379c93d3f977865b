/**
 * JetStream API requests that may fail for a while and then succeed: while a cluster forms or
 * elects a meta leader, or a loaded server answers late, `$JS.API.*` requests time out, find no
 * responders, or get "JetStream system temporarily unavailable" (503, code 10008). A process that
 * sets up its streams and consumers at start retries those instead of exiting.
 */
import type { Logger } from 'pino';

/** JetStream API error codes that mean "not now" rather than "no" (nats-server `server/errors.json`). */
const TRANSIENT_API_CODES = new Set([
  10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
  10074, // JSClusterNotActiveErr: JetStream not in clustered mode (yet)
]);

/**
 * True when `err` (or its `cause`) is a failure worth retrying: a request timeout (nats.js
 * `TimeoutError`), no responders (`NoRespondersError`, named `NoResponders`: JetStream not up yet), a
 * 503 status, or a JetStream API error with a transient code (10008 cluster not available).
 * A refusal (not found, permissions, bad configuration) is not transient.
 */
export function isTransientJetStreamError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { name?: string; code?: unknown; status?: unknown; message?: string; apiError?: () => { err_code?: number; code?: number } };
    if (x.name === 'TimeoutError' || x.name === 'NoResponders' || x.name === 'NoRespondersError') return true;
    // JetStreamApiError: `apiError()` is the server's { code: 503, err_code: 10008, description }
    const api = typeof x.apiError === 'function' ? x.apiError() : undefined;
    if (api && ((api.err_code !== undefined && TRANSIENT_API_CODES.has(api.err_code)) || api.code === 503)) return true;
    if (x.code === 503 || x.status === 503) return true;
    if (/temporarily unavailable|no responders|^timeout$/i.test(x.message ?? '')) return true;
  }
  return false;
}

/** Options of {@link retryTransient}. */
export interface RetryTransientOptions {
  /** What is being done, for the log line, e.g. `create consumer lifecycle`. */
  readonly what: string;
  readonly logger: Logger;
  /** Give up (rethrow the last error) when a new attempt would start after this many ms; default 120 000. */
  readonly deadlineMs?: number;
  /** Waits between attempts, ms, by attempt (the last one repeats); default 500, 1000, 2000, 5000. */
  readonly delaysMs?: readonly number[];
}

const DEFAULT_DELAYS_MS = [500, 1000, 2000, 5000];

/**
 * Runs `fn` and, while it fails with a {@link isTransientJetStreamError transient} JetStream
 * error, runs it again after a wait (logged at warn with the attempt), until it succeeds or the
 * deadline passes. `fn` must be safe to repeat (idempotent setup: info, create-or-update).
 * @returns what `fn` returned.
 * @throws the first non-transient error at once, or the last transient one after the deadline.
 */
export async function retryTransient<T>(fn: () => Promise<T>, opts: RetryTransientOptions): Promise<T> {
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000);
  const delays = opts.delaysMs ?? DEFAULT_DELAYS_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delay = delays[Math.min(attempt - 1, delays.length - 1)] ?? 1000;
      if (!isTransientJetStreamError(err) || Date.now() + delay > deadline) throw err;
      opts.logger.warn({ err: (err as Error)?.message, attempt, retryInMs: delay }, `${opts.what}: JetStream did not answer; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
