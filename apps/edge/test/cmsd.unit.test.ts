/**
 * CMSD-Dynamic (CTA-5006) from the kernel's TCP statistics: the `ss -tinH` parser (tcp-info.ts),
 * the header renderer (cmsd.ts), the per-address aggregation and the readings' rules
 * (throughput.ts: only for viewers connected directly, only once listening, only on demand, and
 * no more after `ss` is found missing).
 */
import { describe, expect, it } from 'vitest';
import { parseSocketAddress, parseSsTcpInfo } from '../src/tcp-info.js';
import { renderCmsdDynamic } from '../src/cmsd.js';
import { createViewerThroughput, headersByAddress } from '../src/throughput.js';

/** Two connections from 127.0.0.1 (one IPv4-mapped on a dual-stack socket), one from 2001:db8::7, one without statistics yet. */
const SS_OUTPUT = [
  '0      0      127.0.0.1:8081  127.0.0.1:47366',
  '\t bbr wscale:10,10 rto:204 rtt:0.015/0.008 ato:40 mss:32768 cwnd:11 bytes_sent:6 delivery_rate 32768000000bps delivered:2 app_limited minrtt:0.008',
  '0      0      [::ffff:127.0.0.1]:8081  [::ffff:127.0.0.1]:47370',
  '\t cubic rto:201 rtt:1.5/0.75 mss:65483 cwnd:10 delivery_rate 2.5Gbps minrtt:0.5',
  '0      4096   [2001:db8::1]:8081  [2001:db8::7]:51234',
  '\t cubic rto:240 rtt:38.25/4.1 mss:1428 cwnd:40 send 11.9Mbps delivery_rate 8.4Mbps minrtt:31.2',
  '0      0      10.0.0.1:8081  10.0.0.9:40000',
  'garbage line',
  '',
].join('\n');

describe('parseSsTcpInfo', () => {
  it('reads each connection\'s peer, delivery rate (bits/s) and smoothed round-trip time (ms)', () => {
    expect(parseSsTcpInfo(SS_OUTPUT)).toEqual([
      { peer: '127.0.0.1', peerPort: 47366, deliveryRateBps: 32_768_000_000, rttMs: 0.015 },
      { peer: '127.0.0.1', peerPort: 47370, deliveryRateBps: 2.5e9, rttMs: 1.5 },
      { peer: '2001:db8:0:0::/64', peerPort: 51234, deliveryRateBps: 8.4e6, rttMs: 38.25 },
      { peer: '10.0.0.9', peerPort: 40000, deliveryRateBps: undefined, rttMs: undefined },
    ]);
  });

  it('returns nothing for empty output and skips lines it cannot read', () => {
    expect(parseSsTcpInfo('')).toEqual([]);
    expect(parseSsTcpInfo('\t rtt:1/1 delivery_rate 1bps\nnot a socket line\n')).toEqual([]);
  });

  it.each([
    ['127.0.0.1:80', { host: '127.0.0.1', port: 80 }],
    ['[::1]:8081', { host: '0:0:0:0::/64', port: 8081 }], // IPv6 by its /64, as normalizeAddress counts subscribers
    ['[fe80::1%eth0]:443', { host: 'fe80:0:0:0::/64', port: 443 }],
    ['*:8081', null],
    ['127.0.0.1:99999', null],
    ['nonsense', null],
  ])('parseSocketAddress(%s)', (text, expected) => {
    expect(parseSocketAddress(text)).toEqual(expected);
  });
});

describe('renderCmsdDynamic', () => {
  it('writes the server as an sf-string and etp (kbps, rounded down) and rtt (ms, rounded) as integers', () => {
    expect(renderCmsdDynamic('edge', { throughputBps: 8_400_999, rttMs: 38.25 })).toBe('"edge";etp=8400;rtt=38');
    expect(renderCmsdDynamic('edge-a.1', { throughputBps: 32_768_000_000, rttMs: 0.015 })).toBe('"edge-a.1";etp=32768000;rtt=0');
  });

  it('leaves rtt out when unknown and escapes the identifier', () => {
    expect(renderCmsdDynamic('a"b\\c', { throughputBps: 999 })).toBe('"a\\"b\\\\c";etp=0');
  });

  it('refuses an identifier an sf-string cannot hold', () => {
    expect(() => renderCmsdDynamic('édge', { throughputBps: 1 })).toThrow(RangeError);
  });
});

describe('headersByAddress', () => {
  it('takes, per address, the fastest connection\'s rate and the smallest round-trip time, and skips addresses without a rate', () => {
    const headers = headersByAddress(parseSsTcpInfo(SS_OUTPUT), 'edge');
    expect([...headers]).toEqual([
      ['127.0.0.1', '"edge";etp=32768000;rtt=0'],
      ['2001:db8:0:0::/64', '"edge";etp=8400;rtt=38'],
    ]);
  });
});

describe('createViewerThroughput', () => {
  /** A reader that answers when told to, recording the ports it read. */
  function controlledReader() {
    const ports: number[] = [];
    const pending: Array<{ resolve(text: string): void; reject(err: Error): void }> = [];
    const read = (port: number) => new Promise<string>((resolve, reject) => {
      ports.push(port);
      pending.push({ resolve, reject });
    });
    return { read, ports, pending };
  }
  const warnings: string[] = [];
  const log = { warn: (_o: object, msg: string) => { warnings.push(msg); } };
  /** Resolves once the readings' promise callbacks have run. */
  const settle = () => new Promise((r) => setImmediate(r));

  it('reads nothing before it is started, then on demand the port it was started with', async () => {
    const r = controlledReader();
    const t = createViewerThroughput({ serverId: 'edge', read: r.read, log, intervalMs: 60_000, now: () => 1000 });
    expect(t.headerFor('127.0.0.1', '127.0.0.1')).toBeUndefined();
    expect(r.ports).toEqual([]);
    t.start(8081);
    expect(t.headerFor('127.0.0.1', '127.0.0.1')).toBeUndefined(); // asked: a reading starts, none done yet
    expect(r.ports).toEqual([8081]);
    r.pending[0]!.resolve(SS_OUTPUT);
    await settle();
    expect(t.headerFor('127.0.0.1', '127.0.0.1')).toBe('"edge";etp=32768000;rtt=0');
    expect(t.headerFor('::ffff:127.0.0.1', '::ffff:127.0.0.1')).toBe('"edge";etp=32768000;rtt=0');
    expect(t.headerFor('2001:db8::7', '2001:db8::7')).toBe('"edge";etp=8400;rtt=38');
    expect(t.headerFor('10.0.0.9', '10.0.0.9')).toBeUndefined();
    expect(r.ports).toEqual([8081]); // one reading per interval at most
    t.close();
  });

  it('reads again within 200 ms for a viewer the last reading missed, and gives nothing once readings are three intervals old', async () => {
    const r = controlledReader();
    let now = 1000;
    const t = createViewerThroughput({ serverId: 'edge', read: r.read, log, intervalMs: 1000, now: () => now });
    t.start(8081);
    t.headerFor('10.0.0.9', '10.0.0.9');
    r.pending[0]!.resolve(SS_OUTPUT);
    await settle();
    now += 199;
    expect(t.headerFor('10.0.0.9', '10.0.0.9')).toBeUndefined();
    expect(t.headerFor('127.0.0.1', '127.0.0.1')).toBeDefined();
    expect(r.ports.length).toBe(1);
    now += 1;
    expect(t.headerFor('10.0.0.9', '10.0.0.9')).toBeUndefined();
    expect(r.ports.length).toBe(2);
    r.pending[1]!.resolve(SS_OUTPUT.replace('10.0.0.9:40000', '10.0.0.9:40000\n\t rtt:2/1 delivery_rate 50Mbps'));
    await settle();
    expect(t.headerFor('10.0.0.9', '10.0.0.9')).toBe('"edge";etp=50000;rtt=2');
    now += 3001;
    expect(t.headerFor('10.0.0.9', '10.0.0.9')).toBeUndefined();
    t.close();
  });

  it('gives nothing when the connection is a proxy\'s (the client address differs)', async () => {
    const r = controlledReader();
    const t = createViewerThroughput({ serverId: 'edge', read: r.read, log, intervalMs: 60_000, now: () => 1000 });
    t.start(8081);
    t.headerFor('127.0.0.1', '127.0.0.1');
    r.pending[0]!.resolve(SS_OUTPUT);
    await settle();
    expect(t.headerFor('127.0.0.1', '203.0.113.9')).toBeUndefined();
    expect(t.headerFor('::ffff:127.0.0.1', '127.0.0.1')).toBe('"edge";etp=32768000;rtt=0');
    t.close();
  });

  it('stops for good, with one warning, when `ss` is missing; other failures are retried', async () => {
    warnings.length = 0;
    const r = controlledReader();
    const t = createViewerThroughput({ serverId: 'edge', read: r.read, log, intervalMs: 1 });
    t.start(8081);
    t.headerFor('127.0.0.1', '127.0.0.1');
    r.pending[0]!.reject(Object.assign(new Error('spawn ss EACCES'), { code: 'EACCES' }));
    // retried after the interval, when asked again
    t.headerFor('127.0.0.1', '127.0.0.1');
    await new Promise<void>((resolve) => {
      const poll = () => (r.pending.length > 1 ? resolve() : setImmediate(poll));
      poll();
    });
    r.pending[1]!.reject(Object.assign(new Error('spawn ss ENOENT'), { code: 'ENOENT' }));
    await settle();
    expect(warnings).toEqual([
      'edge: reading TCP statistics with `ss` failed; retrying',
      'edge: `ss` (iproute2) not found: answers carry no CMSD-Dynamic throughput',
    ]);
    expect(t.headerFor('127.0.0.1', '127.0.0.1')).toBeUndefined();
    await settle();
    expect(r.pending.length).toBe(2);
    t.close();
  });
});
