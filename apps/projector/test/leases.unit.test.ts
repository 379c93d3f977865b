/**
 * The projector's projections and lease reporting (`leases.ts`) and the `PROJECTOR_PROJECTIONS`
 * setting (`config.ts`).
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { loadConfig, ConfigError } from '@live/runtime';
import { healthBody, parseProjections, projectionLeaseKey, registerLeaseGauge, type LeaseReporter, type Projection } from '../src/leases.js';
import { deriveProjectorConfig, projectorConfigSchema } from '../src/config.js';

const BASE_ENV = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/live', NATS_URL: 'nats://127.0.0.1:4222' };
const configOf = (env: Record<string, string>) => deriveProjectorConfig(loadConfig(projectorConfigSchema, { env: { ...BASE_ENV, ...env } }));

describe('parseProjections', () => {
  it('keeps known projections in a fixed order, once each; `none` alone means none', () => {
    expect(parseProjections(['presence', 'readmodels', 'presence'])).toEqual(['readmodels', 'presence']);
    expect(parseProjections(['none'])).toEqual([]);
    expect(() => parseProjections(['none', 'analytics'])).toThrow(/PROJECTOR_PROJECTIONS: `none` cannot be combined/);
    expect(() => parseProjections(['sessions'])).toThrow(/unknown projection "sessions"/);
  });

  it('names one lease key per projection', () => {
    expect(projectionLeaseKey('readmodels')).toBe('projector.readmodels');
    expect(projectionLeaseKey('analytics')).toBe('projector.analytics');
  });
});

describe('PROJECTOR_PROJECTIONS', () => {
  it('defaults to every projection (one projector, as before)', () => {
    expect(configOf({}).projections).toEqual(['readmodels', 'analytics', 'presence', 'webhooks']);
  });

  it('takes a list, or none for the chDB owner', () => {
    expect(configOf({ PROJECTOR_PROJECTIONS: 'analytics, readmodels' }).projections).toEqual(['readmodels', 'analytics']);
    expect(configOf({ PROJECTOR_PROJECTIONS: 'none', CHDB_PATH: '/tmp/x' }).projections).toEqual([]);
  });

  it('refuses unknown names with one line naming the variable', () => {
    expect(() => configOf({ PROJECTOR_PROJECTIONS: 'readmodels,sessions' })).toThrow(ConfigError);
    expect(() => configOf({ PROJECTOR_PROJECTIONS: 'readmodels,sessions' })).toThrow(/^PROJECTOR_PROJECTIONS must be a comma-separated list of/);
    expect(() => configOf({ PROJECTOR_PROJECTIONS: 'none,presence' })).toThrow(/PROJECTOR_PROJECTIONS: `none` cannot be combined/);
  });
});

describe('lease reporting', () => {
  const leases = new Map<Projection, LeaseReporter>([
    ['readmodels', { state: () => 'holder', heldBy: () => 'projector:a:1:aaaaaa' }],
    ['analytics', { state: () => 'standby', heldBy: () => 'projector:b:2:bbbbbb' }],
  ]);

  it('/healthz lists each projection\'s lease', () => {
    expect(JSON.parse(healthBody('projector:a:1:aaaaaa', leases))).toEqual({
      status: 'ok', holder: 'projector:a:1:aaaaaa',
      projections: { readmodels: { state: 'holder', heldBy: 'projector:a:1:aaaaaa' }, analytics: { state: 'standby', heldBy: 'projector:b:2:bbbbbb' } },
    });
    expect(JSON.parse(healthBody('x', new Map()))).toEqual({ status: 'ok', holder: 'x', projections: {} });
  });

  it('/metrics has projector_lease_held per projection', async () => {
    const registry = new Registry();
    registerLeaseGauge(registry, leases);
    const text = await registry.metrics();
    expect(text).toContain('projector_lease_held{projection="readmodels"} 1');
    expect(text).toContain('projector_lease_held{projection="analytics"} 0');
  });
});
