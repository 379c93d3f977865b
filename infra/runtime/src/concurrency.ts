/** A bound on how many tasks of one kind run at once (see {@link ConcurrencyLimit}). */

/** Thrown by {@link ConcurrencyLimit.run} when every slot is taken and `maxQueued` tasks already wait. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(readonly maxQueued: number) {
    super(`${maxQueued} tasks already wait for a slot`);
  }
}

/**
 * Runs at most `concurrency` tasks at once; the others wait in arrival order, at most
 * `maxQueued` of them (more are refused). Bounds what one kind of work may take from a process:
 * the API's password hashing (CPU and libuv threads), the edge's database lookups of names it has
 * never seen (pool connections).
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /**
   * @param concurrency tasks run at once.
   * @param maxQueued tasks that may wait for a slot; default unbounded.
   * @throws RangeError when `concurrency` is not a positive integer or `maxQueued` is negative.
   */
  constructor(readonly concurrency: number, readonly maxQueued = Infinity) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    if (!(maxQueued >= 0)) throw new RangeError(`maxQueued must be 0 or more, got ${maxQueued}`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `task` once a slot is free and resolves (or rejects) as it does.
   * @throws QueueFullError (at once, `task` not run) when every slot is taken and `maxQueued` tasks wait.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) throw new QueueFullError(this.maxQueued);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on: `running` stays the same
      else this.running--;
    }
  }
}
