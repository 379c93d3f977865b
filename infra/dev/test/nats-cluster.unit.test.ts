/**
 * The pure parts of startNatsCluster: one node's configuration (renderNatsNodeConfig) and the
 * readiness rule over the nodes' `/jsz` meta_cluster answers (metaGroupProblem). The running
 * cluster is tested by nats-cluster.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { metaGroupProblem, renderNatsNodeConfig, type MetaClusterInfo } from '../src/services/nats.js';

const answers = (entries: Array<[string, MetaClusterInfo | undefined]>): Map<string, MetaClusterInfo | undefined> => new Map(entries);

describe('renderNatsNodeConfig', () => {
  it('names the server, lists every route on loopback and appends the extra text', () => {
    expect(renderNatsNodeConfig({ serverName: 'nats-2', clusterName: 'live', clusterPort: 6223, routePorts: [6222, 6223, 6224], extra: 'authorization {\n}\n' })).toBe([
      'server_name: "nats-2"',
      'cluster {',
      '  name: "live"',
      '  listen: "127.0.0.1:6223"',
      '  routes: [',
      '    "nats-route://127.0.0.1:6222"',
      '    "nats-route://127.0.0.1:6223"',
      '    "nats-route://127.0.0.1:6224"',
      '  ]',
      '}',
      '',
      'authorization {\n}\n',
    ].join('\n'));
  });

  it('refuses names nats-server would misread', () => {
    expect(() => renderNatsNodeConfig({ serverName: 'a"b', clusterName: 'live', clusterPort: 1, routePorts: [1] })).toThrow(/serverName/);
    expect(() => renderNatsNodeConfig({ serverName: 'n', clusterName: 'a b', clusterPort: 1, routePorts: [1] })).toThrow(/clusterName/);
  });
});

describe('metaGroupProblem', () => {
  const names = ['nats-1', 'nats-2', 'nats-3'];
  const leaderView = { leader: 'nats-2', replicas: [{ name: 'nats-1', current: true }, { name: 'nats-3', current: true }] };
  const follower = { leader: 'nats-2', replicas: [] };

  it('is satisfied when all agree on a leader that lists every other node as current', () => {
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-2', leaderView], ['nats-3', follower]]), names)).toBeUndefined();
  });

  it('waits for an election, for agreement, and for every peer to be current and online', () => {
    expect(metaGroupProblem(answers([['nats-1', {}], ['nats-2', {}], ['nats-3', {}]]), names)).toMatch(/not agreed/);
    expect(metaGroupProblem(answers([['nats-1', { leader: 'nats-1' }], ['nats-2', leaderView], ['nats-3', follower]]), names)).toMatch(/not agreed/);
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-2', leaderView], ['nats-3', undefined]]), names)).toMatch(/not agreed/);
    const lagging = { leader: 'nats-2', replicas: [{ name: 'nats-1', current: true }, { name: 'nats-3', current: false }] };
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-2', lagging], ['nats-3', follower]]), names)).toMatch(/nats-3 as a current peer/);
    const offline = { leader: 'nats-2', replicas: [{ name: 'nats-1', current: true, offline: true }, { name: 'nats-3', current: true }] };
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-2', offline], ['nats-3', follower]]), names)).toMatch(/nats-1/);
    // The leader is a node that was not asked (killed since): not ready.
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-3', follower]]), ['nats-1', 'nats-3'])).toMatch(/nats-2 did not answer/);
  });

  it('checks only the expected (running) nodes', () => {
    const withoutThree = { leader: 'nats-2', replicas: [{ name: 'nats-1', current: true }, { name: 'nats-3', current: false, offline: true }] };
    expect(metaGroupProblem(answers([['nats-1', follower], ['nats-2', withoutThree]]), ['nats-1', 'nats-2'])).toBeUndefined();
  });
});
