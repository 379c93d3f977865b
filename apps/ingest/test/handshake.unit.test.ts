import { describe, expect, it } from 'vitest';
import { HANDSHAKE_PACKET_SIZE, RtmpProtocolError, ServerHandshake } from '../src/rtmp/index.js';

const c1 = (): Buffer => {
  const b = Buffer.alloc(HANDSHAKE_PACKET_SIZE);
  b.writeUInt32BE(0x01020304, 0);
  for (let i = 8; i < b.length; i++) b[i] = i & 0xff;
  return b;
};

describe('server handshake (RTMP 1.0 §5.2)', () => {
  it('answers C0+C1 with S0+S1+S2 and finishes on C2, returning the bytes after it', () => {
    const hs = new ServerHandshake({ now: () => 42, random: (n) => Buffer.alloc(n, 0xab) });
    const first = hs.push(Buffer.concat([Buffer.from([3]), c1()]));
    expect(first.done).toBe(false);
    const reply = first.reply!;
    expect(reply.length).toBe(1 + 2 * HANDSHAKE_PACKET_SIZE);
    expect(reply[0]).toBe(3); // S0
    const s1 = reply.subarray(1, 1 + HANDSHAKE_PACKET_SIZE);
    expect(s1.readUInt32BE(0)).toBe(42); // time
    expect(s1.readUInt32BE(4)).toBe(0); // zero: simple handshake, no digest
    expect(s1.subarray(8).every((b) => b === 0xab)).toBe(true);
    const s2 = reply.subarray(1 + HANDSHAKE_PACKET_SIZE);
    expect(s2.readUInt32BE(0)).toBe(0x01020304); // echo of C1 time
    expect(s2.readUInt32BE(4)).toBe(42); // time2: when C1 was read
    expect(s2.subarray(8)).toEqual(c1().subarray(8)); // random echo
    const done = hs.push(Buffer.concat([s1, Buffer.from([0x03, 0x04])]));
    expect(done.done).toBe(true);
    expect(done.reply).toBeUndefined();
    expect([...done.rest!]).toEqual([3, 4]);
  });

  it('accepts the handshake split into single bytes', () => {
    const hs = new ServerHandshake();
    const all = Buffer.concat([Buffer.from([3]), c1(), Buffer.alloc(HANDSHAKE_PACKET_SIZE)]);
    let replies = 0;
    let done = false;
    for (let i = 0; i < all.length; i++) {
      const r = hs.push(all.subarray(i, i + 1));
      if (r.reply) replies++;
      done = r.done;
      if (i < all.length - 1) expect(done).toBe(false);
    }
    expect(replies).toBe(1);
    expect(done).toBe(true);
  });

  it('rejects any C0 version other than 3 on the first byte', () => {
    for (const v of [0, 6, 0x16, 0x47 /* 'G' of an HTTP GET */]) {
      expect(() => new ServerHandshake().push(Buffer.from([v]))).toThrow(RtmpProtocolError);
    }
  });
});
