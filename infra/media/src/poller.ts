/**
 * A pass function run one at a time: on demand (`run`) and, once started, every `intervalMs`
 * after the previous pass ended. Used by the HLS publishers, whose passes must never overlap
 * (a pass reads the transcoder's output and writes objects and playlists in order).
 */
export interface SerialPoller<T> {
  /** Runs a pass after the ones already queued; resolves with its result, rejects with its error. */
  run(): Promise<T>;
  /** Runs `fn` in the same queue as the passes (never at the same time as one), e.g. a final pass. */
  exclusive<R>(fn: () => Promise<R>): Promise<R>;
  /** Starts the periodic passes (idempotent). A failed periodic pass goes to `onError`; the next one runs anyway. */
  start(): void;
  /**
   * Asks for a pass now, between the periodic ones (e.g. when the transcoder's output changed):
   * queued unless one asked for this way is already waiting to start, so a burst of nudges costs
   * one pass. Ignored unless started. A failed pass goes to `onError`.
   */
  nudge(): void;
  /** Stops the periodic passes and resolves once the pass in progress (if any) has ended. Never rejects. */
  stop(): Promise<void>;
}

/**
 * Creates a {@link SerialPoller} over `pass`.
 * @param intervalMs pause between the end of one periodic pass and the start of the next, ms.
 * @param onError receives the error of a failed periodic pass (not of `run()` calls, whose caller gets it).
 */
export function createSerialPoller<T>(pass: () => Promise<T>, intervalMs: number, onError: (err: unknown) => void): SerialPoller<T> {
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let nudgeWaiting = false;
  const exclusive = <R>(fn: () => Promise<R>): Promise<R> => {
    const p = chain.then(fn);
    chain = p.catch(() => undefined);
    return p;
  };
  const run = (): Promise<T> => exclusive(pass);
  const tick = (): void => {
    run()
      .catch(onError)
      .finally(() => {
        if (running) timer = setTimeout(tick, intervalMs);
      });
  };
  return {
    run,
    exclusive,
    nudge() {
      if (!running || nudgeWaiting) return;
      nudgeWaiting = true;
      exclusive(() => {
        nudgeWaiting = false; // changes from here on need a pass of their own
        return pass();
      }).catch(onError);
    },
    start() {
      if (running) return;
      running = true;
      timer = setTimeout(tick, intervalMs);
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await chain;
    },
  };
}
