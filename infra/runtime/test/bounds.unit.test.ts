import { describe, expect, it } from 'vitest';
import { ConnectionCounter, normalizeAddress, OffenderLog } from '../src/bounds.js';

describe('normalizeAddress', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['::ffff:c000:280', '192.0.2.128'], // the mapped address in hex form
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:0:2::1', '2001:db8:0:2::/64'],
    ['2001:DB8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['', 'unknown'],
  ])('address %s counts as %s', (ip, expected) => {
    expect(normalizeAddress(ip)).toBe(expected);
  });

  it('names a missing address', () => {
    expect(normalizeAddress(undefined)).toBe('unknown');
  });
});

describe('ConnectionCounter', () => {
  it('refuses the connection over the per-address cap, and only for that address', () => {
    const c = new ConnectionCounter({ maxTotal: 100, maxPerAddress: 2 });
    expect(c.tryOpen('10.0.0.1')).toBeUndefined();
    expect(c.tryOpen('::ffff:10.0.0.1')).toBeUndefined(); // same peer, seen through a dual-stack socket
    expect(c.tryOpen('10.0.0.1')).toBe('per_address');
    expect(c.tryOpen('10.0.0.2')).toBeUndefined();
    expect(c.countOf('10.0.0.1')).toBe(2);
    expect(c.total).toBe(3);
    c.release('::ffff:10.0.0.1');
    expect(c.countOf('10.0.0.1')).toBe(1);
    expect(c.tryOpen('10.0.0.1')).toBeUndefined();
  });

  it('refuses any address over the total cap, names per_address first for a peer at its own cap, and frees slots on release', () => {
    const c = new ConnectionCounter({ maxTotal: 3, maxPerAddress: 2 });
    expect([c.tryOpen('a'), c.tryOpen('a'), c.tryOpen('b')]).toEqual([undefined, undefined, undefined]);
    expect(c.tryOpen('c')).toBe('total');
    expect(c.tryOpen('a')).toBe('per_address');
    c.release('b');
    expect(c.tryOpen('c')).toBeUndefined();
    for (const a of ['a', 'a', 'c']) c.release(a);
    c.release('never-opened'); // ignored
    expect(c.total).toBe(0);
    expect(c.countOf('a')).toBe(0);
  });
});


describe('OffenderLog', () => {
  it('logs the first occurrence per key, then one per window with the count suppressed meanwhile', () => {
    let now = 1_000;
    const log = new OffenderLog({ windowMs: 60_000, now: () => now });
    expect(log.record('per_address|10.0.0.1')).toEqual({ log: true, suppressed: 0 });
    for (let i = 0; i < 500; i++) expect(log.record('per_address|10.0.0.1').log).toBe(false);
    expect(log.record('per_address|10.0.0.2')).toEqual({ log: true, suppressed: 0 }); // another offender
    expect(log.record('total|10.0.0.1')).toEqual({ log: true, suppressed: 0 }); // another reason
    now += 59_999;
    expect(log.record('per_address|10.0.0.1').log).toBe(false);
    now += 1;
    expect(log.record('per_address|10.0.0.1')).toEqual({ log: true, suppressed: 501 });
    expect(log.record('per_address|10.0.0.1')).toEqual({ log: false, suppressed: 0 });
  });

  it('remembers at most maxEntries offenders and forgets expired ones', () => {
    let now = 0;
    const log = new OffenderLog({ windowMs: 1000, maxEntries: 3, now: () => now });
    for (const k of ['a', 'b', 'c', 'd']) expect(log.record(k).log).toBe(true);
    expect(log.size).toBe(3);
    expect(log.record('a').log).toBe(true); // 'a' was the oldest: forgotten to make room
    now += 1000;
    log.record('e');
    expect(log.size).toBe(1);
  });
});

