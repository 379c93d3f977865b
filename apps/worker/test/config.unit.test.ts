import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@live/runtime';
import { createActivities, type ActivityDeps } from '../src/activities.js';
import { deriveWorkerConfig, KEYFRAME_PARTS_CHOICES, keyframesPerSegmentFor, PARTS_PER_SEGMENT, workerConfigSchema } from '../src/config.js';

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

describe('LL_HLS_KEYFRAME_PARTS', () => {
  it('defaults to one keyframe per segment (4 parts of 0.5 s)', () => {
    expect(PARTS_PER_SEGMENT).toBe(4);
    expect(configOf({}).settings.LL_HLS_KEYFRAME_PARTS).toBe(4);
    expect(keyframesPerSegmentFor(4)).toBe(1);
  });

  it('takes the divisors of the 4 parts of a segment: 2 (1 s GOP) and 1 (0.5 s GOP)', () => {
    expect(KEYFRAME_PARTS_CHOICES).toEqual([1, 2, 4]);
    expect(configOf({ LL_HLS_KEYFRAME_PARTS: '2' }).settings.LL_HLS_KEYFRAME_PARTS).toBe(2);
    expect(configOf({ LL_HLS_KEYFRAME_PARTS: '1' }).settings.LL_HLS_KEYFRAME_PARTS).toBe(1);
    expect([1, 2, 4].map(keyframesPerSegmentFor)).toEqual([4, 2, 1]);
  });

  it('refuses anything else, naming the variable and the choices', () => {
    expect(errorOf({ LL_HLS_KEYFRAME_PARTS: '3' })).toMatchObject({ variable: 'LL_HLS_KEYFRAME_PARTS', message: 'LL_HLS_KEYFRAME_PARTS must be one of 1, 2, 4 (a divisor of the 4 parts of a segment); got 3' });
    for (const bad of ['0', '5', '8', '1.5', 'two']) {
      const err = errorOf({ LL_HLS_KEYFRAME_PARTS: bad });
      expect(err.variable, bad).toBe('LL_HLS_KEYFRAME_PARTS');
      expect(err.message, bad).toMatch(/^LL_HLS_KEYFRAME_PARTS must be an integer from 1 to 4 \(keyframe interval/);
    }
    for (const bad of [0, 3, 8, 1.5]) expect(() => keyframesPerSegmentFor(bad), String(bad)).toThrow(/must be one of 1, 2, 4 parts .*; got /);
  });

  it('the activities refuse a keyframe interval the setting would refuse (a worker built without the config)', () => {
    const deps = { storage: {}, js: {}, workDir: '/tmp', relayToken: 'x', logger: {} } as unknown as ActivityDeps;
    expect(() => createActivities({ ...deps, keyframeParts: 3 })).toThrow(RangeError);
    for (const ok of [undefined, 1, 2, 4]) expect(() => createActivities({ ...deps, ...(ok !== undefined ? { keyframeParts: ok } : {}) }), String(ok)).not.toThrow();
  });
});
