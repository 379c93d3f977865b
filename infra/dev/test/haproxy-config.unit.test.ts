/**
 * renderHaproxyConfig (the cluster profile's HAProxy configuration) and parseHaproxyStats (its
 * statistics CSV). That HAProxy itself accepts the output is checked by haproxy.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseHaproxyStats, renderHaproxyConfig, TCP_IDLE_SECONDS, type HaproxySpec } from '../src/services/haproxy-config.js';

const spec: HaproxySpec = {
  statsPort: 9000,
  statsSocket: '/run/live/haproxy.sock',
  comment: 'generated\nfor a test',
  tcp: [
    { name: 'rtmp', port: 1935, backends: [{ name: 'ingest-1', port: 11935, healthPort: 18090 }, { name: 'ingest-2', host: '10.0.0.2', port: 1935, healthPort: 8090 }] },
    { name: 'rtmps', port: 1936, backends: [{ name: 'ingest-1', port: 11936, healthPort: 18090 }] },
  ],
  http: [
    { name: 'api', port: 8080, backends: [{ name: 'api-1', port: 18080 }, { name: 'api-2', port: 28080 }] },
    { name: 'chat', port: 8082, websocket: true, backends: [{ name: 'chat-1', port: 18082 }] },
  ],
};

/** The lines of section `header` (e.g. `backend rtmp`), up to the next blank line. */
function section(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  expect(start, `section ${header}`).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end).map((l) => l.trim());
}

describe('renderHaproxyConfig', () => {
  const cfg = renderHaproxyConfig(spec);

  it('starts with the comment, logs to stdout and opens the admin socket', () => {
    expect(cfg.startsWith('# generated\n# for a test\nglobal\n')).toBe(true);
    expect(section(cfg, 'global')).toEqual(['log stdout format raw local0 info', 'stats socket /run/live/haproxy.sock mode 600 level admin']);
    expect(section(cfg, 'listen stats')).toEqual(['bind 127.0.0.1:9000', 'mode http', 'stats enable', 'stats uri /stats', 'stats refresh 5s']);
    expect(cfg.endsWith('\n')).toBe(true);
  });

  it('passes RTMP and RTMPS through in TCP mode, health-checked on the ingest HTTP port, cutting sessions of a down node', () => {
    expect(section(cfg, 'frontend rtmp')).toEqual(['bind 127.0.0.1:1935', 'mode tcp', 'option tcplog', 'default_backend rtmp']);
    expect(section(cfg, 'backend rtmp')).toEqual([
      'mode tcp', 'balance leastconn', `timeout tunnel ${TCP_IDLE_SECONDS}s`, 'option httpchk', 'http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost', 'http-check expect status 200',
      'option redispatch 1', 'retries 1',
      'server ingest-1 127.0.0.1:11935 check port 18090 inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions',
      'server ingest-2 10.0.0.2:1935 check port 8090 inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions',
    ]);
    expect(section(cfg, 'backend rtmps')).toContain('server ingest-1 127.0.0.1:11936 check port 18090 inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions');
    expect(section(cfg, 'backend rtmps')).not.toContain('mode http');
  });

  it('sends a PROXY v2 header from a chosen source address when asked', () => {
    const proxied = renderHaproxyConfig({ tcp: [{ name: 'rtmp', port: 1935, backends: [{ name: 'ingest-1', port: 11935, healthPort: 18090 }], sendProxy: true, source: '127.0.0.2' }] });
    expect(section(proxied, 'backend rtmp')).toContain('source 127.0.0.2');
    expect(section(proxied, 'backend rtmp')).toContain('server ingest-1 127.0.0.1:11935 check port 18090 inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions send-proxy-v2');
    expect(() => renderHaproxyConfig({ tcp: [{ name: 'rtmp', port: 1935, backends: [], source: '127.0.0.2 usesrc clientip' }] })).toThrow(/source/);
  });

  it('proxies HTTP with X-Forwarded-For, health checks, redispatch and GET-only retries after a server died mid-request', () => {
    expect(section(cfg, 'frontend api')).toEqual(['bind 127.0.0.1:8080', 'mode http', 'option httplog', 'option forwardfor', 'default_backend api']);
    expect(section(cfg, 'backend api')).toEqual([
      'mode http', 'balance roundrobin', 'option httpchk', 'http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost', 'http-check expect status 200', 'option redispatch 1', 'retries 3',
      'retry-on conn-failure empty-response', 'http-request disable-l7-retry unless METH_GET',
      'server api-1 127.0.0.1:18080 check inter 500ms fall 2 rise 2',
      'server api-2 127.0.0.1:28080 check inter 500ms fall 2 rise 2',
    ]);
    expect(section(cfg, 'backend api').join('\n')).not.toMatch(/shutdown-sessions|timeout tunnel/);
  });

  it('keeps WebSocket connections open (timeout tunnel) and balances them by connection count', () => {
    const chat = section(cfg, 'backend chat');
    expect(chat).toContain('balance leastconn');
    expect(chat).toContain('timeout tunnel 3600s');
    expect(renderHaproxyConfig({ ...spec, tunnelTimeoutSeconds: 90 })).toContain('  timeout tunnel 90s\n');
  });

  it('binds the given host (IPv6 in brackets), checks at the given interval, and leaves out stats when not asked', () => {
    const other = renderHaproxyConfig({ bindHost: '::1', checkIntervalMs: 250, http: [{ name: 'edge', port: 8081, backends: [{ name: 'edge-1', host: '::1', port: 18081 }] }] });
    expect(section(other, 'frontend edge')[0]).toBe('bind [::1]:8081');
    expect(section(other, 'backend edge')).toContain('server edge-1 [::1]:18081 check inter 250ms fall 2 rise 2');
    expect(other).not.toMatch(/listen stats|stats socket/);
  });

  it('refuses what HAProxy would misread or what makes no sense', () => {
    const api = (over: object) => ({ http: [{ name: 'api', port: 8080, backends: [{ name: 'api-1', port: 18080 }], ...over }] });
    expect(() => renderHaproxyConfig({})).toThrow(/at least one frontend/);
    expect(() => renderHaproxyConfig(api({ backends: [] }))).toThrow(/api has no backend server/);
    expect(() => renderHaproxyConfig(api({ name: 'api 2' }))).toThrow(RangeError);
    expect(() => renderHaproxyConfig(api({ name: 'stats' }))).toThrow(/used twice \(or is reserved\)/);
    expect(() => renderHaproxyConfig(api({ port: 70000 }))).toThrow(/port must be a TCP port/);
    expect(() => renderHaproxyConfig(api({ backends: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }))).toThrow(/server a appears twice/);
    expect(() => renderHaproxyConfig(api({ backends: [{ name: 'a', host: 'x y', port: 1 }] }))).toThrow(/host/);
    expect(() => renderHaproxyConfig({ ...api({}), tcp: [{ name: 'api', port: 1, backends: [{ name: 'i', port: 2, healthPort: 3 }] }] })).toThrow(/used twice/);
    expect(() => renderHaproxyConfig({ tcp: [{ name: 'rtmp', port: 1, backends: [{ name: 'i', port: 2, healthPort: 0 }] }] })).toThrow(/healthPort/);
    expect(() => renderHaproxyConfig({ ...api({}), statsSocket: '/tmp/a b.sock' })).toThrow(/statsSocket/);
    expect(() => renderHaproxyConfig({ ...api({}), bindHost: '127.0.0.1\nglobal' })).toThrow(/bindHost/);
    expect(() => renderHaproxyConfig({ ...api({}), checkIntervalMs: 10 })).toThrow(/checkIntervalMs/);
  });
});

describe('parseHaproxyStats', () => {
  // The first columns of HAProxy 2.6's `/stats;csv` (the real header has ~180 columns; order is by name).
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,',
    'stats,FRONTEND,,,1,1,9981,2,91,4263,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,2,0,2,,',
    'rtmp,ingest-1,0,0,3,3,,9,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,9,,2,0,,1,L7OK,',
    'rtmp,ingest-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,2,1,1,1,,1,3,2,,0,,2,0,,0,L4CON,',
    'rtmp,BACKEND,0,0,3,3,2000,9,0,0,0,0,,0,0,0,0,UP,1,1,0,,1,5,0,,1,3,0,,9,,1,0,,1,,',
    'api,api-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,1,0,5,0,,1,4,1,,0,,2,0,,0,L7STS,',
    '',
  ].join('\n');

  it('returns the server lines with status, current sessions and last check', () => {
    expect(parseHaproxyStats(csv)).toEqual([
      { proxy: 'rtmp', server: 'ingest-1', status: 'UP', sessions: 3, checkStatus: 'L7OK' },
      { proxy: 'rtmp', server: 'ingest-2', status: 'DOWN', sessions: 0, checkStatus: 'L4CON' },
      { proxy: 'api', server: 'api-1', status: 'UP 1/2', sessions: 0, checkStatus: 'L7STS' },
    ]);
  });

  it('refuses something that is not the statistics CSV', () => {
    expect(() => parseHaproxyStats('<html>503</html>')).toThrow(/not HAProxy statistics CSV/);
    expect(() => parseHaproxyStats('')).toThrow(/not HAProxy statistics CSV/);
  });
});
