import { describe, expect, it } from 'vitest';
import { createColdLane, createLookupCache, LookupsBusyError } from '../src/lookups.js';

/** A loader whose lookups wait until released; counts calls per key. */
function gatedLoader(values: Record<string, string | null>) {
  const calls: string[] = [];
  const gates: Array<() => void> = [];
  let open = false;
  return {
    calls,
    open() { open = true; gates.splice(0).forEach((g) => g()); },
    close() { open = false; },
    load: async (key: string) => {
      calls.push(key);
      if (!open) await new Promise<void>((r) => gates.push(r));
      return values[key] ?? null;
    },
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('createLookupCache', () => {
  it('shares one lookup per key and serves it fresh until its ttl', async () => {
    const l = gatedLoader({ demo: 'policy-1' });
    const cache = createLookupCache({ load: l.load, ttlMs: () => 60_000, cold: createColdLane(2, 10) });
    const a = cache.get('demo');
    const b = cache.get('demo');
    l.open();
    expect(await a).toBe('policy-1');
    expect(await b).toBe('policy-1');
    expect(await cache.get('demo')).toBe('policy-1');
    expect(l.calls).toEqual(['demo']);
    expect(cache.peek('demo')).toBe('policy-1');
    expect(cache.known('demo')).toBe(true);
    expect(cache.known('other')).toBe(false);
  });

  it('puts unknown names through the cold lane (bounded, queue capped), while a known name is looked up at once', async () => {
    const l = gatedLoader({ demo: 'live' });
    const cold = createColdLane(2, 3);
    const cache = createLookupCache({ load: l.load, ttlMs: (v) => (v ? 0 : 60_000), cold });
    l.open();
    await cache.get('demo'); // known from now on (ttl 0: every get looks it up again)
    l.close();
    const madeUp = ['x1', 'x2', 'x3', 'x4', 'x5'].map((k) => cache.get(k));
    await flush();
    expect(l.calls).toEqual(['demo', 'x1', 'x2']); // two cold slots
    expect(cold.queued).toBe(3);
    await expect(cache.get('x6')).rejects.toBeInstanceOf(LookupsBusyError);
    // The known name does not wait behind the made-up ones.
    const demo = cache.get('demo');
    await flush();
    expect(l.calls).toEqual(['demo', 'x1', 'x2', 'demo']);
    l.open();
    expect(await demo).toBe('live');
    expect(await Promise.all(madeUp)).toEqual([null, null, null, null, null]);
    expect(cold.queued).toBe(0);
    // A missing name stays cached as missing for its ttl: no new lookup.
    expect(await cache.get('x1')).toBeNull();
    expect(l.calls.filter((k) => k === 'x1')).toHaveLength(1);
  });

  it('takes the lane from `known` when given (an offline channel of a known channel is not made up)', async () => {
    const l = gatedLoader({});
    const cold = createColdLane(1, 0);
    const cache = createLookupCache({ load: l.load, ttlMs: () => 1000, cold, known: (k) => k === 'real-offline' });
    l.open();
    expect(await cache.get('real-offline')).toBeNull();
    await expect(cache.get('made-up')).resolves.toBeNull(); // a free slot: no queue needed
    expect(l.calls).toEqual(['real-offline', 'made-up']);
  });

  it('caches nothing when the lookup fails', async () => {
    let fail = true;
    const cache = createLookupCache({ load: async () => { if (fail) throw new Error('db down'); return 'v'; }, ttlMs: () => 60_000, cold: createColdLane() });
    await expect(cache.get('k')).rejects.toThrow('db down');
    fail = false;
    expect(await cache.get('k')).toBe('v');
  });
});
