/** Client addresses behind proxies: the X-Forwarded-For walk, a loopback front's trust, uWS address text. */
import { describe, expect, it } from 'vitest';
import { clientAddress, compileProxyTrust, nodeStyleAddress, trustBehindLocalFront } from '../src/proxy.js';

describe('clientAddress', () => {
  it('takes the first untrusted hop from the nearest back', () => {
    const trust = compileProxyTrust(['10.0.0.1']);
    expect(clientAddress('10.0.0.1', '203.0.113.9, 198.51.100.7', trust)).toBe('198.51.100.7');
    expect(clientAddress('192.0.2.1', '203.0.113.9', trust)).toBe('192.0.2.1');
    expect(clientAddress('192.0.2.1', undefined, compileProxyTrust(undefined))).toBe('192.0.2.1');
  });
});

describe('trustBehindLocalFront', () => {
  it('gives the address the front would compute with the same list', () => {
    // the front appends its TCP peer to X-Forwarded-For and connects from loopback
    const none = trustBehindLocalFront(undefined);
    expect(clientAddress('127.0.0.1', 'forged, 192.0.2.1', none)).toBe('192.0.2.1');
    expect(clientAddress('127.0.0.1', '192.0.2.1', none)).toBe('192.0.2.1');
    const list = trustBehindLocalFront(['10.0.0.1']);
    expect(clientAddress('127.0.0.1', '203.0.113.9, 10.0.0.1', list)).toBe('203.0.113.9');
    expect(clientAddress('127.0.0.1', '203.0.113.9, 198.51.100.7, 10.0.0.1', list)).toBe('198.51.100.7');
    expect(clientAddress('127.0.0.1', 'forged, 192.0.2.1', list)).toBe('192.0.2.1');
  });
});

describe('nodeStyleAddress', () => {
  it.each([
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '::ffff:127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:00ff', '2001:db8::ff'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['', ''],
  ])('%s → %s', (text, node) => {
    expect(nodeStyleAddress(text)).toBe(node);
  });
});
