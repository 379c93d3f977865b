/** A bound on how many tasks of one kind run at once (see {@link ConcurrencyLimit}). */

/**
 * Runs at most `concurrency` tasks at once; the others wait in arrival order. Bounds what one
 * kind of work may take from a process: the API's password hashing (CPU and libuv threads), the
 * edge's database lookups of names it has never seen (pool connections).
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /** @throws RangeError when `concurrency` is not a positive integer. */
  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` once a slot is free and resolves (or rejects) as it does. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
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
