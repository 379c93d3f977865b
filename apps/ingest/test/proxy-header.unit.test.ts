/**
 * The PROXY protocol header parser (apps/ingest/src/proxy/header.ts) against the examples and
 * rules of HAProxy's proxy-protocol.txt (v1 §2.1, v2 §2.2), fed whole and byte by byte.
 */
import { describe, expect, it } from 'vitest';
import { parseProxyHeader, PROXY_V2_SIGNATURE } from '../src/proxy/header.js';

/** A v2 header: signature, version 2 and `command`, family/transport byte, the address block (and TLVs). */
function v2(command: number, famTransport: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = famTransport;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, body]);
}

function inet(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

/** Every strict prefix of `buf` parses as incomplete. */
function expectIncompleteUntilTheEnd(buf: Buffer, headerLength: number): void {
  for (let n = 0; n < headerLength; n++) expect(parseProxyHeader(buf.subarray(0, n)).kind, `${n} bytes`).toBe('incomplete');
}

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 lines and says where the connection\'s own bytes start', () => {
    const line = 'PROXY TCP4 203.0.113.7 192.0.2.1 56324 1935\r\n';
    const buf = Buffer.concat([Buffer.from(line), Buffer.from([0x03, 0x00])]); // then the RTMP C0
    expect(parseProxyHeader(buf)).toEqual({
      kind: 'header', version: 1, length: line.length,
      source: { address: '203.0.113.7', port: 56324 }, destination: { address: '192.0.2.1', port: 1935 },
    });
    expectIncompleteUntilTheEnd(buf, line.length);
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4000 1935\r\n'));
    expect(six).toMatchObject({ kind: 'header', source: { address: '2001:db8::1', port: 4000 } });
  });

  it('keeps the peer for UNKNOWN and refuses malformed or oversized lines', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', version: 1, length: 15 });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).toMatchObject({ kind: 'header', version: 1 });
    for (const bad of [
      'PROXY TCP4 203.0.113.7 192.0.2.1 56324\r\n', // a field missing
      'PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n', // IPv6 in TCP4
      'PROXY TCP4 203.0.113.7 192.0.2.1 65536 1\r\n', // port out of range
      'PROXY TCP4 203.0.113.7 192.0.2.1 01 1\r\n', // leading zero
      'PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n',
      'PROXY  TCP4 203.0.113.7 192.0.2.1 1 2\r\n', // two spaces
    ]) expect(parseProxyHeader(Buffer.from(bad)).kind, bad).toBe('invalid');
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`))).toEqual({ kind: 'invalid', reason: 'PROXY v1 line longer than 107 bytes' });
    expect(parseProxyHeader(Buffer.from('PROXX'))).toEqual({ kind: 'invalid', reason: 'no PROXY protocol header' });
  });

  it('calls an RTMP handshake without a header what it is', () => {
    expect(parseProxyHeader(Buffer.from([0x03, 0, 0, 0, 0]))).toEqual({ kind: 'invalid', reason: 'no PROXY protocol header' });
  });
});

describe('PROXY protocol v2', () => {
  it('reads a TCP over IPv4 header (HAProxy send-proxy-v2), skipping TLVs', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd]); // PP2_TYPE_NOOP
    const header = v2(1, 0x11, Buffer.concat([inet([198, 51, 100, 9], [10, 0, 1, 11], 40000, 1935), tlv]));
    const buf = Buffer.concat([header, Buffer.from([0x03])]);
    expect(parseProxyHeader(buf)).toEqual({
      kind: 'header', version: 2, length: header.length,
      source: { address: '198.51.100.9', port: 40000 }, destination: { address: '10.0.1.11', port: 1935 },
    });
    expectIncompleteUntilTheEnd(buf, header.length);
  });

  it('reads TCP over IPv6 in canonical text form', () => {
    const body = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(body, 0);
    Buffer.from('fe800000000000000000000000000002', 'hex').copy(body, 16);
    body.writeUInt16BE(5000, 32);
    body.writeUInt16BE(1935, 34);
    expect(parseProxyHeader(v2(1, 0x21, body))).toMatchObject({ source: { address: '2001:db8::1', port: 5000 }, destination: { address: 'fe80::2', port: 1935 } });
  });

  it('keeps the peer for LOCAL and for non-TCP families, and refuses what is not v2', () => {
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ kind: 'header', version: 2, length: 16 });
    expect(parseProxyHeader(v2(1, 0x12, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toEqual({ kind: 'header', version: 2, length: 28 }); // UDP
    expect(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216)))).toEqual({ kind: 'header', version: 2, length: 232 }); // UNIX
    const wrongVersion = v2(1, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    wrongVersion[12] = 0x11;
    expect(parseProxyHeader(wrongVersion)).toEqual({ kind: 'invalid', reason: 'PROXY v2 version 1' });
    expect(parseProxyHeader(v2(2, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toEqual({ kind: 'invalid', reason: 'PROXY v2 command 2' });
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8)))).toEqual({ kind: 'invalid', reason: 'PROXY v2 address block of 8 bytes' });
    const huge = v2(1, 0x11, Buffer.alloc(0));
    huge.writeUInt16BE(60_000, 14);
    expect(parseProxyHeader(huge)).toEqual({ kind: 'invalid', reason: 'PROXY v2 header of 60000 bytes' });
    const corrupt = Buffer.from(PROXY_V2_SIGNATURE);
    corrupt[5] = 0x01;
    expect(parseProxyHeader(corrupt)).toEqual({ kind: 'invalid', reason: 'no PROXY protocol header' });
  });
});
