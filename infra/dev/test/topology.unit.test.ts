/**
 * The stack's app plan (infra/dev/src/topology.ts): the single profile is one instance per app
 * on the public ports, as `npm start` always ran; the cluster profile is two of each app on
 * their own ports, the chDB owner, steering pathways, and HAProxy's frontends on the public ports.
 */
import { describe, expect, it } from 'vitest';
import { instanceNames, planApps, type PlanInput } from '../src/topology.js';

const base: PlanInput = {
  profile: 'single', mode: 'source', web: true, rtmps: { certFile: '/tls/c.pem', keyFile: '/tls/k.pem' }, rtmpHost: undefined,
  jwtKeys: 'k1:secret', contentSecret: 'c2VjcmV0', restreamSecret: 'cmVzdHJlYW0tc2VjcmV0', internalToken: 'tok', workRoot: '/data/work', behindProxy: {},
  apiClickhouseEnv: { CLICKHOUSE_URL: 'http://127.0.0.1:8123' }, analyticsEnv: { CHDB_PATH: '/data/chdb', CLICKHOUSE_HTTP_PORT: '8123' },
  clickhouseUrl: 'http://127.0.0.1:8123', clickhouseWriter: { username: 'writer', password: 'pw' }, externalClickhouse: false,
  publicPorts: { rtmp: 11935, rtmps: 11936, api: 18080, edge: 18081, chat: 18082, whip: 18089 }, srtPort: 19000, rtmpUrl: 'rtmp://127.0.0.1:11935/live', apiUrl: 'http://127.0.0.1:18080',
};

describe('planApps', () => {
  it('single: one instance per app, named after it, on the public ports; no HAProxy', async () => {
    const plan = await planApps(base);
    expect(plan.instances.map((i) => i.instance)).toEqual(['projector', 'worker', 'ingest', 'edge', 'api', 'chat']);
    expect(plan.front).toBeNull();
    const env = Object.fromEntries(plan.instances.map((i) => [i.instance, i.env]));
    expect(env.ingest).toMatchObject({ RTMP_PORT: '11935', RTMPS_PORT: '11936', SRT_PORT: '19000', INGEST_NODE_ID: 'ingest-11935', WHIP_PORT: '18089', WHIP_HOST: '127.0.0.1', WHIP_ICE_ADDRESSES: '127.0.0.1' });
    expect(plan.ingestSrtPorts).toEqual([19000]);
    expect(plan.ingestWhipPorts).toEqual([18089]);
    expect(env.edge).toMatchObject({ EDGE_PORT: '18081' });
    expect(env.edge).not.toHaveProperty('EDGE_PATHWAY_ID');
    expect(env.api).toMatchObject({ API_PORT: '18080', TRUST_PROXY: 'loopback', INGEST_PUBLIC_URL: base.rtmpUrl });
    expect(env.api).not.toHaveProperty('EDGE_PATHWAYS');
    expect(env.projector).toMatchObject({ CHDB_PATH: '/data/chdb' });
    expect(plan.edgeUrls).toEqual({ edge: 'http://127.0.0.1:18081' });
  });

  it('cluster: two of each app on their own ports, one chDB owner, steering pathways, HAProxy on the public ports', async () => {
    const plan = await planApps({ ...base, profile: 'cluster' });
    expect(plan.instances.map((i) => i.instance).sort()).toEqual([
      'analytics-store', 'api-1', 'api-2', 'chat-1', 'chat-2', 'edge-1', 'edge-2', 'ingest-1', 'ingest-2', 'projector-1', 'projector-2', 'worker-1', 'worker-2',
    ]);
    const env = Object.fromEntries(plan.instances.map((i) => [i.instance, i.env]));
    expect(env['analytics-store']).toMatchObject({ PROJECTOR_PROJECTIONS: 'none', CHDB_PATH: '/data/chdb' });
    for (const p of ['projector-1', 'projector-2']) {
      expect(env[p]).toMatchObject({ CLICKHOUSE_URL: base.clickhouseUrl, CLICKHOUSE_USER: 'writer', CLICKHOUSE_PASSWORD: 'pw' });
      expect(env[p]).not.toHaveProperty('CHDB_PATH');
    }
    expect(env['worker-1']!.WORK_DIR).not.toBe(env['worker-2']!.WORK_DIR);
    expect(env['ingest-1']!.INGEST_NODE_ID).toBe('ingest-1');
    // WHIP goes to each node directly (not behind HAProxy): its own port per node.
    expect(plan.ingestWhipPorts).toEqual(['ingest-1', 'ingest-2'].map((n) => Number(env[n]!.WHIP_PORT)));
    // Every port is distinct and none is a public one (HAProxy has those).
    const ports = plan.instances.flatMap((i) => Object.entries(i.env).filter(([k]) => /_PORT$/.test(k)).map(([, v]) => Number(v)));
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of Object.values(base.publicPorts)) expect(ports).not.toContain(p);
    // Each edge is a pathway named after its instance; every edge and the API know all of them.
    const pathways = Object.entries(plan.edgeUrls).map(([id, url]) => `${id}=${url}`).join(',');
    expect(Object.keys(plan.edgeUrls)).toEqual(['edge-1', 'edge-2']);
    expect(env['edge-2']).toMatchObject({ EDGE_PATHWAY_ID: 'edge-2', EDGE_PATHWAYS: pathways, EDGE_STEERING_URL: `${base.apiUrl}/api/streams`, TRUST_PROXY: 'loopback' });
    expect(env['api-1']).toMatchObject({ EDGE_PATHWAYS: pathways });
    // HAProxy: RTMP and RTMPS to both ingest nodes, checked on their HTTP ports; HTTP for the rest.
    const front = plan.front!;
    expect(front.tcp!.map((f) => [f.name, f.port, f.backends.map((b) => b.name)])).toEqual([
      ['rtmp', 11935, ['ingest-1', 'ingest-2']], ['rtmps', 11936, ['ingest-1', 'ingest-2']],
    ]);
    expect(front.tcp![0]!.backends.map((b) => b.healthPort)).toEqual(['ingest-1', 'ingest-2'].map((n) => Number(env[n]!.HTTP_PORT)));
    // RTMP and RTMPS carry the publisher's address in a PROXY v2 header from HAProxy's own loopback address, which the nodes trust.
    expect(front.tcp!.map((f) => [f.sendProxy, f.source])).toEqual([[true, '127.0.0.2'], [true, '127.0.0.2']]);
    expect(['ingest-1', 'ingest-2'].map((n) => env[n]!.RTMP_PROXY_PROTOCOL_FROM)).toEqual(['127.0.0.2', '127.0.0.2']);
    expect(front.http!.map((f) => [f.name, f.port, f.backends.length, f.websocket ?? false])).toEqual([
      ['api', 18080, 2, false], ['edge', 18081, 2, false], ['chat', 18082, 2, true],
    ]);
    expect(plan.ingestHttpUrls).toHaveLength(2);
    // SRT is UDP, which HAProxy does not proxy: each node has its own port, publishers reach it directly.
    expect(plan.ingestSrtPorts).toEqual(['ingest-1', 'ingest-2'].map((n) => Number(env[n]!.SRT_PORT)));
    expect(new Set(plan.ingestSrtPorts).size).toBe(2);
  });

  it('cluster with an external ClickHouse: no chDB owner, the projectors use the operator\'s settings', async () => {
    const plan = await planApps({ ...base, profile: 'cluster', externalClickhouse: true, analyticsEnv: {} });
    expect(plan.instances.map((i) => i.instance)).not.toContain('analytics-store');
    expect(plan.instances.find((i) => i.instance === 'projector-1')!.env).not.toHaveProperty('CLICKHOUSE_URL');
  });

  it('names instances after the app, numbered in the cluster profile', () => {
    expect(instanceNames('edge', 'single')).toEqual(['edge']);
    expect(instanceNames('edge', 'cluster')).toEqual(['edge-1', 'edge-2']);
  });
});
