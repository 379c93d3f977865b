import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchOutputDirs } from '../src/output-watch.js';
import { createSerialPoller } from '../src/poller.js';

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('createSerialPoller nudge', () => {
  it('runs a pass between the periodic ones, one for a burst of nudges, never two at once', async () => {
    let passes = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const gate = deferred();
    const started = [deferred(), deferred(), deferred()];
    const poller = createSerialPoller(async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      started[passes]?.resolve();
      passes++;
      await gate.promise;
      concurrent--;
      return passes;
    }, 3_600_000, () => undefined); // the periodic pass never comes during the test
    poller.start();
    poller.nudge();
    await started[0]!.promise; // the first nudged pass is running
    poller.nudge();
    poller.nudge();
    poller.nudge(); // a burst while it runs: one more pass
    gate.resolve();
    await started[1]!.promise; // the gate is open: it ends at once
    await poller.stop();
    expect(passes).toBe(2);
    expect(maxConcurrent).toBe(1);
  });

  it('ignores nudges before start and after stop, and hands a failed pass to onError', async () => {
    const errors: unknown[] = [];
    let passes = 0;
    const failed = deferred();
    const poller = createSerialPoller(async () => {
      passes++;
      throw new Error('storage down');
    }, 3_600_000, (err) => { errors.push(err); failed.resolve(); });
    poller.nudge();
    poller.start();
    poller.nudge();
    await failed.promise;
    await poller.stop();
    poller.nudge();
    await poller.stop();
    expect(passes).toBe(1);
    expect(String(errors[0])).toContain('storage down');
  });
});

describe('watchOutputDirs', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('calls back when a file in a watched directory is written, and not after unwatching', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'output-watch-'));
    dirs.push(dir);
    let calls = 0;
    let changed = deferred();
    const unwatch = watchOutputDirs([dir], () => { calls++; changed.resolve(); });
    writeFileSync(path.join(dir, 'stream.mp4'), 'moof');
    await changed.promise;
    expect(calls).toBeGreaterThan(0);
    unwatch();
    unwatch(); // idempotent
    const after = calls;
    changed = deferred();
    // a second watcher sees the next write; the first must not
    const probe = watchOutputDirs([dir], () => changed.resolve());
    writeFileSync(path.join(dir, 'stream.mp4'), 'moofmdat');
    await changed.promise;
    probe();
    expect(calls).toBe(after);
  });

  it('warns and carries on for a directory it cannot watch', () => {
    const warnings: string[] = [];
    const unwatch = watchOutputDirs([path.join(os.tmpdir(), 'no-such-output-dir-7f3a')], () => undefined, {
      warn: (_o, msg) => warnings.push(msg),
    });
    expect(warnings).toEqual(['output directory cannot be watched; polling only']);
    unwatch();
  });
});
