import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit, QueueFullError } from '../src/concurrency.js';

describe('ConcurrencyLimit', () => {
  it('runs at most `concurrency` tasks at once, the rest in arrival order; a failure frees its slot', async () => {
    const limit = new ConcurrencyLimit(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      return { promise, resolve };
    });
    const runs = gates.map((g, i) => limit.run(async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await g.promise;
      running--;
      if (i === 0) throw new Error('task 0 failed');
      return i;
    }));
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(limit.queued).toBe(3);
    gates[0]!.resolve();
    await expect(runs[0]).rejects.toThrow('task 0 failed');
    await expect.poll(() => started).toEqual([0, 1, 2]);
    for (const g of gates.slice(1)) g.resolve();
    await expect(Promise.all(runs.slice(1))).resolves.toEqual([1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(limit.queued).toBe(0);
    expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
  });

  it('refuses a task at once when every slot is taken and `maxQueued` wait, without running it', async () => {
    const limit = new ConcurrencyLimit(1, 1);
    let release!: () => void;
    const first = limit.run(() => new Promise<string>((r) => { release = () => r('first'); }));
    const second = limit.run(async () => 'second');
    let ran = false;
    await expect(limit.run(async () => { ran = true; })).rejects.toBeInstanceOf(QueueFullError);
    expect(ran).toBe(false);
    expect(limit.queued).toBe(1);
    release();
    await expect(Promise.all([first, second])).resolves.toEqual(['first', 'second']);
    await expect(limit.run(async () => 'after')).resolves.toBe('after');
    expect(() => new ConcurrencyLimit(1, -1)).toThrow(RangeError);
  });
});
