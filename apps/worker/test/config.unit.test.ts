import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@live/runtime';
import { createActivities, type ActivityDeps } from '../src/activities.js';
import { partFramesFor, partTargetSeconds } from '@live/media';
import { DEFAULT_PARTS_PER_SEGMENT, deriveWorkerConfig, keyframePartsChoices, lowLatencyLayout, workerConfigSchema } from '../src/config.js';

const BASE = { TEMPORAL_ADDRESS: '127.0.0.1:7233', NATS_URL: 'nats://127.0.0.1:4222', STORAGE_DIR: '/tmp/live-worker-config-test', WORK_DIR: '/tmp/live-worker-config-test-work', RELAY_TOKEN: 'relay-token-0123456789' };
const configOf = (env: Record<string, string>) => deriveWorkerConfig(loadConfig(workerConfigSchema, { env: { ...BASE, ...env } }));
const errorOf = (env: Record<string, string>): ConfigError => {
  try {
    configOf(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
};

describe('LL_HLS_PARTS_PER_SEGMENT and LL_HLS_KEYFRAME_PARTS', () => {
  it('default to 4 parts of 0.5 s per 2 s segment and one keyframe per segment', () => {
    expect(DEFAULT_PARTS_PER_SEGMENT).toBe(4);
    const c = configOf({});
    expect(c.settings.LL_HLS_PARTS_PER_SEGMENT).toBe(4);
    expect(c.settings.LL_HLS_KEYFRAME_PARTS).toBeUndefined();
    expect(c.lowLatency).toEqual({ partsPerSegment: 4, partSeconds: 0.5, keyframeParts: 4, keyframesPerSegment: 1 });
    expect(lowLatencyLayout()).toEqual(c.lowLatency);
  });

  it('take 6 parts of 1/3 s, whose keyframe interval defaults to one per segment too', () => {
    const c = configOf({ LL_HLS_PARTS_PER_SEGMENT: '6' });
    expect(c.lowLatency).toEqual({ partsPerSegment: 6, partSeconds: 2 / 6, keyframeParts: 6, keyframesPerSegment: 1 });
    // 10 frames at 30 fps, a PART-TARGET of 0.334 s (rounded up to the millisecond)
    expect(partFramesFor(30, c.lowLatency.partSeconds)).toBe(10);
    expect(partTargetSeconds(10, 30)).toBe(0.334);
    expect(configOf({ LL_HLS_PARTS_PER_SEGMENT: '6', LL_HLS_KEYFRAME_PARTS: '3' }).lowLatency).toMatchObject({ keyframeParts: 3, keyframesPerSegment: 2 });
  });

  it('a keyframe interval is a divisor of the parts of a segment: 2 (1 s GOP) and 1 (0.5 s GOP) with 4 parts', () => {
    expect(keyframePartsChoices(4)).toEqual([1, 2, 4]);
    expect(keyframePartsChoices(6)).toEqual([1, 2, 3, 6]);
    expect(keyframePartsChoices(5)).toEqual([1, 5]);
    expect(configOf({ LL_HLS_KEYFRAME_PARTS: '2' }).lowLatency.keyframesPerSegment).toBe(2);
    expect(configOf({ LL_HLS_KEYFRAME_PARTS: '1' }).lowLatency.keyframesPerSegment).toBe(4);
    expect([1, 2, 4].map((k) => lowLatencyLayout(4, k).keyframesPerSegment)).toEqual([4, 2, 1]);
  });

  it('refuse anything else, naming the variable and the choices', () => {
    expect(errorOf({ LL_HLS_KEYFRAME_PARTS: '3' })).toMatchObject({ variable: 'LL_HLS_KEYFRAME_PARTS', message: 'LL_HLS_KEYFRAME_PARTS must be one of 1, 2, 4 (a divisor of the 4 parts of a segment); got 3' });
    expect(errorOf({ LL_HLS_PARTS_PER_SEGMENT: '6', LL_HLS_KEYFRAME_PARTS: '4' })).toMatchObject({ variable: 'LL_HLS_KEYFRAME_PARTS', message: 'LL_HLS_KEYFRAME_PARTS must be one of 1, 2, 3, 6 (a divisor of the 6 parts of a segment); got 4' });
    for (const bad of ['0', '7', '8', '1.5', 'two']) {
      const err = errorOf({ LL_HLS_KEYFRAME_PARTS: bad });
      expect(err.variable, bad).toBe('LL_HLS_KEYFRAME_PARTS');
      expect(err.message, bad).toMatch(/^LL_HLS_KEYFRAME_PARTS must be an integer from 1 to 6 \(keyframe interval/);
    }
    for (const bad of ['1', '7', '4.5', 'six']) {
      const err = errorOf({ LL_HLS_PARTS_PER_SEGMENT: bad });
      expect(err.variable, bad).toBe('LL_HLS_PARTS_PER_SEGMENT');
      expect(err.message, bad).toMatch(/^LL_HLS_PARTS_PER_SEGMENT must be an integer from 2 to 6 \(how many Partial Segments each 2 s segment/);
    }
    for (const bad of [0, 3, 8, 1.5]) expect(() => lowLatencyLayout(4, bad), String(bad)).toThrow(/must be one of 1, 2, 4 parts .*; got /);
    for (const bad of [1, 7, 2.5]) expect(() => lowLatencyLayout(bad), String(bad)).toThrow(/^the parts per segment must be an integer from 2 to 6; got /);
  });

  it('the activities refuse a layout the settings would refuse (a worker built without the config)', () => {
    const deps = { storage: {}, js: {}, workDir: '/tmp', relayToken: 'x', logger: {} } as unknown as ActivityDeps;
    expect(() => createActivities({ ...deps, keyframeParts: 3 })).toThrow(RangeError);
    expect(() => createActivities({ ...deps, partsPerSegment: 7 })).toThrow(RangeError);
    expect(() => createActivities({ ...deps, partsPerSegment: 6, keyframeParts: 4 })).toThrow(RangeError);
    for (const ok of [undefined, 1, 2, 4]) expect(() => createActivities({ ...deps, ...(ok !== undefined ? { keyframeParts: ok } : {}) }), String(ok)).not.toThrow();
    expect(() => createActivities({ ...deps, partsPerSegment: 6, keyframeParts: 3 })).not.toThrow();
  });
});
