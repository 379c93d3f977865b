/**
 * Stream-key address allow-lists: RFC 4632 prefix matching of the publisher's socket address
 * (`addressInCidrs` from @live/db, used by `checkStreamKey`), IPv4 and IPv6, IPv4-mapped IPv6
 * treated as IPv4, malformed entries skipped.
 */
import { describe, expect, it } from 'vitest';
import { addressInCidrs, normalizeIpAddress, parseCidr } from '@live/db';

describe('addressInCidrs', () => {
  it('matches IPv4 addresses by prefix, at the block edges and not outside', () => {
    expect(addressInCidrs('10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('10.255.255.255', ['10.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('11.0.0.0', ['10.0.0.0/8'])).toBe(false);
    expect(addressInCidrs('192.168.1.77', ['192.168.1.64/26'])).toBe(true);
    expect(addressInCidrs('192.168.1.128', ['192.168.1.64/26'])).toBe(false);
    expect(addressInCidrs('127.0.0.1', ['10.0.0.0/8', '127.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('203.0.113.9', ['203.0.113.9/32'])).toBe(true);
    expect(addressInCidrs('203.0.113.10', ['203.0.113.9/32'])).toBe(false);
    expect(addressInCidrs('8.8.8.8', ['0.0.0.0/0'])).toBe(true);
  });

  it('matches IPv6 addresses by prefix, and never across families', () => {
    expect(addressInCidrs('2001:db8::1', ['2001:db8::/32'])).toBe(true);
    expect(addressInCidrs('2001:db8:ffff:ffff::1', ['2001:db8::/32'])).toBe(true);
    expect(addressInCidrs('2001:db9::1', ['2001:db8::/32'])).toBe(false);
    expect(addressInCidrs('::1', ['::1/128'])).toBe(true);
    expect(addressInCidrs('fe80::1%eth0', ['fe80::/10'])).toBe(true);
    expect(addressInCidrs('::1', ['0.0.0.0/0'])).toBe(false);
    expect(addressInCidrs('127.0.0.1', ['::/0'])).toBe(false);
  });

  it('treats IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as the IPv4 address', () => {
    expect(addressInCidrs('::ffff:127.0.0.1', ['127.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('::FFFF:10.20.30.40', ['10.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('::ffff:192.0.2.1', ['10.0.0.0/8'])).toBe(false);
    expect(addressInCidrs('10.1.1.1', ['::ffff:10.0.0.0/104'])).toBe(true);
    expect(addressInCidrs('11.1.1.1', ['::ffff:10.0.0.0/104'])).toBe(false);
  });

  it('skips malformed entries without throwing, and still applies the valid ones', () => {
    const junk = ['', 'garbage', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8.5', '10.0.0.0/', '300.1.1.1/8', '2001:db8::/129', '1.2.3.4/ 8', 'fe80::%eth0/10'];
    for (const c of junk) {
      expect(() => addressInCidrs('10.1.2.3', [c])).not.toThrow();
      expect(addressInCidrs('10.1.2.3', [c])).toBe(false);
    }
    expect(addressInCidrs('10.1.2.3', [...junk, '10.0.0.0/8'])).toBe(true);
    expect(addressInCidrs('10.1.2.3', [null as unknown as string, '10.0.0.0/8'])).toBe(true);
  });

  it('matches nothing for an empty list or an address that is not an IP address', () => {
    expect(addressInCidrs('10.1.2.3', [])).toBe(false);
    expect(addressInCidrs('unknown', ['0.0.0.0/0', '::/0'])).toBe(false);
    expect(addressInCidrs('', ['0.0.0.0/0'])).toBe(false);
  });

  it('reads a bare address as a single host and ignores host bits of the network part', () => {
    expect(addressInCidrs('198.51.100.7', ['198.51.100.7'])).toBe(true);
    expect(addressInCidrs('198.51.100.8', ['198.51.100.7'])).toBe(false);
    expect(addressInCidrs('10.9.9.9', ['10.1.2.3/8'])).toBe(true);
  });
});

describe('parseCidr / normalizeIpAddress', () => {
  it('parses both families, unmaps ::ffff: blocks and rejects what addSubnet would not take', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr(' 2001:db8::/32 ')).toEqual({ network: '2001:db8::', prefix: 32, family: 'ipv6' });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ network: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ network: '::1', prefix: 128, family: 'ipv6' });
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('nope/8')).toBeNull();
  });

  it('normalises socket addresses', () => {
    expect(normalizeIpAddress('::ffff:127.0.0.1')).toEqual({ address: '127.0.0.1', family: 'ipv4' });
    expect(normalizeIpAddress('fe80::1%lo0')).toEqual({ address: 'fe80::1', family: 'ipv6' });
    expect(normalizeIpAddress('unknown')).toBeNull();
  });
});
