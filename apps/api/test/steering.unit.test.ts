/**
 * The steering manifest (HLS Content Steering v1.2): PATHWAY-PRIORITY from edge health and the
 * player's Pathway; the health rules of edges.ts; the API's steering settings.
 */
import { describe, expect, it } from 'vitest';
import { pathwayPriority, renderSteeringManifest } from '../src/steering.js';
import { nextEdgeHealth, type EdgeHealth } from '../src/edges.js';
import { apiConfigSchema, deriveApiConfig } from '../src/config.js';
import { loadConfig, parseEdgePathways } from '@live/runtime';

const EDGES = parseEdgePathways(['a=http://127.0.0.1:8081', 'b=http://127.0.0.1:8083', 'c=http://edge-c.internal:8081']);
const up = (...ids: string[]) => (id: string) => ids.includes(id);

describe('pathwayPriority', () => {
  it('puts healthy edges first, in ring order from the current pathway', () => {
    expect(pathwayPriority(EDGES, up('a', 'b', 'c'))).toEqual(['a', 'b', 'c']);
    expect(pathwayPriority(EDGES, up('a', 'b', 'c'), 'b')).toEqual(['b', 'c', 'a']);
    expect(pathwayPriority(EDGES, up('b', 'c'), 'a')).toEqual(['b', 'c', 'a']);
    expect(pathwayPriority(EDGES, up('a', 'c'), 'b')).toEqual(['c', 'a', 'b']);
    expect(pathwayPriority(EDGES, up(), 'c')).toEqual(['c', 'a', 'b']);
    expect(pathwayPriority(EDGES, up('c'), 'unknown')).toEqual(['c', 'a', 'b']);
  });
});

describe('renderSteeringManifest', () => {
  it('orders the pathways by health from the player\'s pathway', () => {
    expect(renderSteeringManifest({ pathways: EDGES, isUp: up('b', 'c'), current: 'a', ttlSeconds: 2 })).toEqual({
      VERSION: 1, TTL: 2, 'PATHWAY-PRIORITY': ['b', 'c', 'a'],
    });
    expect(renderSteeringManifest({ pathways: EDGES, isUp: up('a', 'b', 'c'), current: '.', ttlSeconds: 5 })).toEqual({
      VERSION: 1, TTL: 5, 'PATHWAY-PRIORITY': ['a', 'b', 'c'],
    });
  });

  it('refuses what is not a manifest', () => {
    expect(() => renderSteeringManifest({ pathways: [], isUp: up(), ttlSeconds: 2 })).toThrow(RangeError);
    expect(() => renderSteeringManifest({ pathways: EDGES, isUp: up(), ttlSeconds: 0 })).toThrow(RangeError);
    expect(() => renderSteeringManifest({ pathways: EDGES, isUp: up(), ttlSeconds: 1.5 })).toThrow(RangeError);
  });
});

describe('nextEdgeHealth', () => {
  const run = (start: EdgeHealth, checks: boolean[]) => checks.reduce((h, ok) => nextEdgeHealth(h, ok), start);
  it('goes down at the first failure and comes back after two good checks', () => {
    const upH: EdgeHealth = { up: true, streak: 0 };
    expect(run(upH, [false])).toEqual({ up: false, streak: 0 });
    expect(run(upH, [false, true])).toEqual({ up: false, streak: 1 });
    expect(run(upH, [false, true, false])).toEqual({ up: false, streak: 0 });
    expect(run(upH, [false, true, true])).toEqual({ up: true, streak: 0 });
    expect(run(upH, [true, true])).toBe(upH);
  });

  it('follows other rules', () => {
    const rules = { fall: 3, rise: 1 };
    const h0: EdgeHealth = { up: true, streak: 0 };
    const h2 = nextEdgeHealth(nextEdgeHealth(h0, false, rules), false, rules);
    expect(h2).toEqual({ up: true, streak: 2 });
    expect(nextEdgeHealth(h2, true, rules)).toEqual({ up: true, streak: 0 });
    const down = nextEdgeHealth(h2, false, rules);
    expect(down).toEqual({ up: false, streak: 0 });
    expect(nextEdgeHealth(down, true, rules)).toEqual({ up: true, streak: 0 });
  });
});

describe('settings', () => {
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', NATS_URL: 'nats://127.0.0.1:4222', JWT_KEYS: 'k1:0123456789abcdef0123456789abcdef' };
  const derive = (env: Record<string, string>) => deriveApiConfig(loadConfig(apiConfigSchema, { env: { ...base, ...env } })).api;

  it('has no pathways by default', () => {
    const c = derive({});
    expect(c.edgePathways).toEqual([]);
    expect(c.steeringTtlSeconds).toBe(2);
    expect(c.edgeHealthIntervalMs).toBe(1000);
  });

  it('parses EDGE_PATHWAYS and refuses a bad one by name', () => {
    expect(derive({ EDGE_PATHWAYS: 'a=http://127.0.0.1:1,b=http://127.0.0.1:2', STEERING_TTL_SECONDS: '5' })).toMatchObject({
      edgePathways: [{ id: 'a', url: 'http://127.0.0.1:1' }, { id: 'b', url: 'http://127.0.0.1:2' }], steeringTtlSeconds: 5,
    });
    expect(() => derive({ EDGE_PATHWAYS: 'a=http://127.0.0.1:1/x' })).toThrow(/^EDGE_PATHWAYS: /);
  });
});
