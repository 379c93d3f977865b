import { describe, expect, it } from 'vitest';
import { ChunkDecoder, encodeMessage, RtmpProtocolError, type RtmpMessage } from '../src/rtmp/index.js';

// --- Hand-built chunks (RTMP 1.0 §5.3.1) ------------------------------------------------------

function basic(fmt: number, csid: number): number[] {
  if (csid < 64) return [(fmt << 6) | csid];
  if (csid < 320) return [fmt << 6, csid - 64];
  return [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8];
}
const u24 = (v: number): number[] => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
const u32be = (v: number): number[] => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
const u32le = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const ext = (ts: number): { field: number; tail: number[] } => (ts >= 0xffffff ? { field: 0xffffff, tail: u32be(ts) } : { field: ts, tail: [] });

/** Type 0 chunk header (§5.3.1.2.1). */
function t0(csid: number, ts: number, len: number, typeId: number, msid: number): Buffer {
  const e = ext(ts);
  return Buffer.from([...basic(0, csid), ...u24(e.field), ...u24(len), typeId, ...u32le(msid), ...e.tail]);
}
/** Type 1 chunk header (§5.3.1.2.2): delta, length, type. */
function t1(csid: number, delta: number, len: number, typeId: number): Buffer {
  const e = ext(delta);
  return Buffer.from([...basic(1, csid), ...u24(e.field), ...u24(len), typeId, ...e.tail]);
}
/** Type 2 chunk header (§5.3.1.2.3): delta only. */
function t2(csid: number, delta: number): Buffer {
  const e = ext(delta);
  return Buffer.from([...basic(2, csid), ...u24(e.field), ...e.tail]);
}
/** Type 3 chunk header (§5.3.1.2.4), optionally repeating an extended timestamp. */
function t3(csid: number, extendedTs?: number): Buffer {
  return Buffer.from([...basic(3, csid), ...(extendedTs !== undefined ? u32be(extendedTs) : [])]);
}
const bytes = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

function decodeAll(input: Buffer, dec = new ChunkDecoder()): RtmpMessage[] {
  return dec.push(input);
}
function decodeByteByByte(input: Buffer, dec = new ChunkDecoder()): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  for (let i = 0; i < input.length; i++) out.push(...dec.push(input.subarray(i, i + 1)));
  return out;
}
function expectProtocolError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RtmpProtocolError);
    expect((err as RtmpProtocolError).code).toBe(code);
    return;
  }
  throw new Error('expected an RtmpProtocolError');
}
const summary = (m: RtmpMessage): object => ({ csid: m.chunkStreamId, ts: m.timestamp, type: m.typeId, msid: m.messageStreamId, len: m.payload.length });

// --- Tests -------------------------------------------------------------------------------------

describe('chunk message headers (RTMP 1.0 §5.3.1.2)', () => {
  it('type 0 carries absolute timestamp, length, type id and little-endian stream id', () => {
    const [m] = decodeAll(Buffer.concat([t0(4, 1000, 5, 8, 0x01020304), bytes(5)]));
    expect(summary(m!)).toEqual({ csid: 4, ts: 1000, type: 8, msid: 0x01020304, len: 5 });
    expect(m!.payload).toEqual(bytes(5));
  });

  it('type 1 applies a delta, sets a new length and type, keeps the stream id', () => {
    const msgs = decodeAll(Buffer.concat([t0(4, 1000, 3, 8, 1), bytes(3), t1(4, 40, 6, 9), bytes(6, 2)]));
    expect(msgs.map(summary)).toEqual([
      { csid: 4, ts: 1000, type: 8, msid: 1, len: 3 },
      { csid: 4, ts: 1040, type: 9, msid: 1, len: 6 },
    ]);
    expect(msgs[1]!.payload).toEqual(bytes(6, 2));
  });

  it('type 2 applies a delta and keeps length, type and stream id', () => {
    const msgs = decodeAll(Buffer.concat([t0(6, 0, 4, 9, 1), bytes(4), t2(6, 33), bytes(4, 3)]));
    expect(msgs.map(summary)).toEqual([
      { csid: 6, ts: 0, type: 9, msid: 1, len: 4 },
      { csid: 6, ts: 33, type: 9, msid: 1, len: 4 },
    ]);
  });

  it('type 3 starting a new message repeats the previous delta', () => {
    const msgs = decodeAll(Buffer.concat([t0(6, 100, 2, 8, 1), bytes(2), t2(6, 23), bytes(2), t3(6), bytes(2), t3(6), bytes(2)]));
    expect(msgs.map((m) => m.timestamp)).toEqual([100, 123, 146, 169]);
  });

  it('type 3 right after type 0 uses the type-0 timestamp as the delta (§5.3.1.2.4)', () => {
    const msgs = decodeAll(Buffer.concat([t0(5, 20, 1, 8, 1), bytes(1), t3(5), bytes(1)]));
    expect(msgs.map((m) => m.timestamp)).toEqual([20, 40]);
  });

  it('a zero-length message completes immediately', () => {
    const msgs = decodeAll(Buffer.concat([t0(3, 0, 0, 20, 0), t0(3, 0, 1, 20, 0), bytes(1)]));
    expect(msgs.map((m) => m.payload.length)).toEqual([0, 1]);
  });
});

describe('basic header forms (RTMP 1.0 §5.3.1.1)', () => {
  it.each([2, 63, 64, 100, 319, 320, 1000, 65599])('chunk stream id %i', (csid) => {
    const input = Buffer.concat([t0(csid, 7, 2, 8, 1), bytes(2), t3(csid), bytes(2)]);
    expect(basic(0, csid).length).toBe(csid < 64 ? 1 : csid < 320 ? 2 : 3);
    const msgs = decodeAll(input);
    expect(msgs.map((m) => m.chunkStreamId)).toEqual([csid, csid]);
    expect(decodeByteByByte(input).map(summary)).toEqual(msgs.map(summary));
  });
});

describe('extended timestamps (RTMP 1.0 §5.3.1.3)', () => {
  it('type 0 with timestamp ≥ 0xFFFFFF reads the 32-bit extended field', () => {
    const [m] = decodeAll(Buffer.concat([t0(4, 0x12345678, 2, 9, 1), bytes(2)]));
    expect(m!.timestamp).toBe(0x12345678);
  });

  it('continuation type 3 chunks repeat the extended timestamp', () => {
    const ts = 0x01000000;
    const payload = bytes(300);
    const input = Buffer.concat([t0(4, ts, 300, 9, 1), payload.subarray(0, 128), t3(4, ts), payload.subarray(128, 256), t3(4, ts), payload.subarray(256)]);
    const msgs = decodeAll(input);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.timestamp).toBe(ts);
    expect(msgs[0]!.payload).toEqual(payload);
    expect(decodeByteByByte(input)[0]!.payload).toEqual(payload);
  });

  it('type 1/2 deltas may be extended; a new-message type 3 then carries the delta extended', () => {
    const input = Buffer.concat([t0(4, 10, 1, 8, 1), bytes(1), t2(4, 0x01000000), bytes(1), t3(4, 0x01000000), bytes(1)]);
    expect(decodeAll(input).map((m) => m.timestamp)).toEqual([10, 10 + 0x01000000, 10 + 2 * 0x01000000]);
  });

  it('timestamps wrap modulo 2^32', () => {
    const input = Buffer.concat([t0(4, 0xfffffff0, 1, 8, 1), bytes(1), t2(4, 0x20), bytes(1)]);
    expect(decodeAll(input).map((m) => m.timestamp)).toEqual([0xfffffff0, 0x10]);
  });
});

describe('message assembly', () => {
  it('reassembles a message split across several chunks at the default 128-byte chunk size', () => {
    const payload = bytes(500);
    const input = Buffer.concat([t0(6, 0, 500, 9, 1), payload.subarray(0, 128), t3(6), payload.subarray(128, 256), t3(6), payload.subarray(256, 384), t3(6), payload.subarray(384)]);
    const msgs = decodeAll(input);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.payload).toEqual(payload);
  });

  it('interleaves two chunk streams (audio on 4, video on 6) and keeps each message intact', () => {
    const audio = bytes(200, 5);
    const video = bytes(300, 9);
    const input = Buffer.concat([
      t0(6, 0, 300, 9, 1), video.subarray(0, 128),
      t0(4, 0, 200, 8, 1), audio.subarray(0, 128),
      t3(6), video.subarray(128, 256),
      t3(4), audio.subarray(128),
      t3(6), video.subarray(256),
    ]);
    const msgs = decodeAll(input);
    expect(msgs.map(summary)).toEqual([
      { csid: 4, ts: 0, type: 8, msid: 1, len: 200 },
      { csid: 6, ts: 0, type: 9, msid: 1, len: 300 },
    ]);
    expect(msgs[0]!.payload).toEqual(audio);
    expect(msgs[1]!.payload).toEqual(video);
  });

  it('applies Set Chunk Size (§5.4.1) to the very next chunk', () => {
    const dec = new ChunkDecoder();
    const payload = bytes(1000);
    const input = Buffer.concat([t0(2, 0, 4, 1, 0), Buffer.from(u32be(4096)), t0(6, 0, 1000, 9, 1), payload]);
    const msgs = dec.push(input);
    expect(msgs.map((m) => m.typeId)).toEqual([1, 9]);
    expect(msgs[1]!.payload).toEqual(payload);
    expect(dec.chunkSize).toBe(4096);
  });

  it('Abort (§5.4.2) discards a partial message', () => {
    const fresh = bytes(300, 77);
    const input = Buffer.concat([
      t0(6, 0, 300, 9, 1), bytes(128, 1),
      t0(2, 0, 4, 2, 0), Buffer.from(u32be(6)),
      // Without the abort these type-3 chunks would continue the first message.
      t3(6), fresh.subarray(0, 128), t3(6), fresh.subarray(128, 256), t3(6), fresh.subarray(256),
    ]);
    const msgs = decodeAll(input);
    expect(msgs.map(summary)).toEqual([
      { csid: 2, ts: 0, type: 2, msid: 0, len: 4 },
      { csid: 6, ts: 0, type: 9, msid: 1, len: 300 },
    ]);
    expect(msgs[1]!.payload).toEqual(fresh);
  });

  it('gives the same messages whether fed at once, byte by byte or in odd splits', () => {
    const big = bytes(5000, 3);
    const input = Buffer.concat([
      t0(3, 0, 50, 20, 0), bytes(50),
      t0(2, 0, 4, 1, 0), Buffer.from(u32be(1000)),
      t0(6, 0x01000000, 5000, 9, 1), big.subarray(0, 1000),
      t0(4, 10, 20, 8, 1), bytes(20),
      ...[1, 2, 3, 4].map((i) => Buffer.concat([t3(6, 0x01000000), big.subarray(i * 1000, (i + 1) * 1000)])),
      t1(4, 21, 10, 8), bytes(10),
      t2(4, 21), bytes(10),
      t3(4), bytes(10),
      t0(400, 0, 3, 18, 1), bytes(3),
    ]);
    const whole = decodeAll(input);
    expect(whole.map(summary)).toEqual([
      { csid: 3, ts: 0, type: 20, msid: 0, len: 50 },
      { csid: 2, ts: 0, type: 1, msid: 0, len: 4 },
      { csid: 4, ts: 10, type: 8, msid: 1, len: 20 },
      { csid: 6, ts: 0x01000000, type: 9, msid: 1, len: 5000 },
      { csid: 4, ts: 31, type: 8, msid: 1, len: 10 },
      { csid: 4, ts: 52, type: 8, msid: 1, len: 10 },
      { csid: 4, ts: 73, type: 8, msid: 1, len: 10 },
      { csid: 400, ts: 0, type: 18, msid: 1, len: 3 },
    ]);
    expect(whole[3]!.payload).toEqual(big);
    const oneByOne = decodeByteByByte(input);
    expect(oneByOne.map(summary)).toEqual(whole.map(summary));
    expect(oneByOne.map((m) => m.payload)).toEqual(whole.map((m) => m.payload));
    for (const step of [2, 3, 7, 11, 127, 129, 4097]) {
      const dec = new ChunkDecoder();
      const out: RtmpMessage[] = [];
      for (let i = 0; i < input.length; i += step) out.push(...dec.push(input.subarray(i, i + step)));
      expect(out.map((m) => m.payload)).toEqual(whole.map((m) => m.payload));
    }
  });

  it('returns payloads that do not alias the input buffer', () => {
    const input = Buffer.concat([t0(4, 0, 3, 8, 1), Buffer.from([1, 2, 3])]);
    const [m] = decodeAll(input);
    input.fill(0);
    expect([...m!.payload]).toEqual([1, 2, 3]);
  });
});

describe('bounds', () => {
  it('rejects a Set Chunk Size above the maximum', () => {
    const dec = new ChunkDecoder({ maxChunkSize: 65536 });
    expectProtocolError(() => dec.push(Buffer.concat([t0(2, 0, 4, 1, 0), Buffer.from(u32be(65537))])), 'CHUNK_SIZE_INVALID');
    expect(() => new ChunkDecoder({ maxChunkSize: 65536 }).push(Buffer.concat([t0(2, 0, 4, 1, 0), Buffer.from(u32be(65536))]))).not.toThrow();
  });

  it('rejects Set Chunk Size 0 (and ignores the reserved top bit)', () => {
    expectProtocolError(() => decodeAll(Buffer.concat([t0(2, 0, 4, 1, 0), Buffer.from(u32be(0x80000000))])), 'CHUNK_SIZE_INVALID');
  });

  it('rejects a message length above the maximum as soon as the header arrives', () => {
    const dec = new ChunkDecoder({ maxMessageSize: 1024 });
    expectProtocolError(() => dec.push(t0(6, 0, 1025, 9, 1)), 'MESSAGE_TOO_LARGE');
  });

  it('rejects more chunk streams than allowed', () => {
    const dec = new ChunkDecoder({ maxChunkStreams: 4 });
    const input = Buffer.concat([3, 4, 5, 6, 7].map((c) => Buffer.concat([t0(c, 0, 1, 8, 1), bytes(1)])));
    expectProtocolError(() => dec.push(input), 'CHUNK_STREAM_LIMIT');
  });

  it('rejects too many bytes pending in partial messages across chunk streams', () => {
    const dec = new ChunkDecoder({ maxMessageSize: 1000, maxPendingBytes: 1500 });
    const input = Buffer.concat([4, 5, 6].map((c) => Buffer.concat([t0(c, 0, 1000, 9, 1), bytes(128)])));
    expect(() => dec.push(input)).not.toThrow(); // 384 bytes pending
    const more = Buffer.concat([4, 5, 6].flatMap((c) => Array.from({ length: 4 }, () => Buffer.concat([t3(c), bytes(128)]))));
    expectProtocolError(() => dec.push(more), 'PENDING_BYTES_LIMIT');
  });

  it('rejects type 2/3 chunks on a chunk stream with no prior header', () => {
    expectProtocolError(() => decodeAll(Buffer.concat([t2(5, 10), bytes(1)])), 'CHUNK_MALFORMED');
    expectProtocolError(() => decodeAll(Buffer.concat([t3(5), bytes(1)])), 'CHUNK_MALFORMED');
  });
});

describe('encodeMessage (RTMP 1.0 §5.3.2)', () => {
  it('writes a type-0 chunk followed by type-3 continuations that decode back', () => {
    for (const [csid, ts, len, chunkSize] of [
      [3, 0, 0, 128],
      [3, 1234, 100, 128],
      [5, 99, 4096, 4096],
      [100, 0xffffff, 10_000, 128],
      [1000, 0xfffffffe, 9000, 4096],
    ] as const) {
      const payload = bytes(len, csid);
      const enc = encodeMessage({ chunkStreamId: csid, timestamp: ts, typeId: 9, messageStreamId: 7, payload }, chunkSize);
      const dec = new ChunkDecoder();
      if (chunkSize !== 128) dec.push(Buffer.concat([t0(2, 0, 4, 1, 0), Buffer.from(u32be(chunkSize))]));
      const msgs = dec.push(enc);
      expect(msgs.map(summary)).toEqual([{ csid, ts, type: 9, msid: 7, len }]);
      expect(msgs[0]!.payload).toEqual(payload);
    }
  });

  it('lays out the first chunk header exactly', () => {
    const enc = encodeMessage({ chunkStreamId: 3, timestamp: 0, typeId: 20, messageStreamId: 0, payload: Buffer.from([0xaa]) }, 128);
    expect(enc.toString('hex')).toBe('03' + '000000' + '000001' + '14' + '00000000' + 'aa');
  });
});
