/**
 * The pure bookkeeping behind the RTMP bounds (src/rtmp/limits.ts) and the chunk decoder's
 * pending-bytes accounting against a per-connection cap and a shared node budget.
 */
import { describe, expect, it } from 'vitest';
import {
  ChunkDecoder,
  RtmpProtocolError,
  createByteBudget,
  encodeMessage,
} from '../src/rtmp/index.js';
import { resolveLimits } from '../src/rtmp/options.js';

const u32be = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
};
/** Type 0 chunk header (RTMP 1.0 §5.3.1.2.1) on chunk stream `csid` < 64, timestamp 0, stream 1. */
const t0 = (csid: number, len: number, typeId = 9): Buffer =>
  Buffer.from([csid, 0, 0, 0, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, typeId, 1, 0, 0, 0]);
/** Type 3 chunk header (§5.3.1.2.4). */
const t3 = (csid: number): Buffer => Buffer.from([0xc0 | csid]);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RtmpProtocolError);
    return (err as RtmpProtocolError).code;
  }
  return undefined;
}

describe('createByteBudget', () => {
  it('reserves only what fits and never goes negative', () => {
    const b = createByteBudget(100);
    expect(b.tryReserve(60)).toBe(true);
    expect(b.tryReserve(41)).toBe(false);
    expect(b.used).toBe(60);
    expect(b.available).toBe(40);
    expect(b.tryReserve(40)).toBe(true);
    expect(b.available).toBe(0);
    b.release(150);
    expect(b.used).toBe(0);
    expect(b.tryReserve(-1)).toBe(false);
  });
});

describe('ChunkDecoder pending bytes', () => {
  it('accounts partial messages by their buffer size (at most twice what was received), released on completion', () => {
    const budget = createByteBudget(1 << 20);
    const dec = new ChunkDecoder({ maxMessageSize: 100_000, budget });
    dec.push(Buffer.concat([t0(6, 100_000), Buffer.alloc(128, 1)]));
    expect(dec.pendingByteCount).toBe(128); // never the announced 100 000
    expect(budget.used).toBe(128);
    for (let received = 128; received < 10_000; received += 128) {
      dec.push(Buffer.concat([t3(6), Buffer.alloc(128, 1)]));
      expect(dec.pendingByteCount).toBeGreaterThanOrEqual(received + 128);
      expect(dec.pendingByteCount).toBeLessThanOrEqual(2 * (received + 128));
      expect(budget.used).toBe(dec.pendingByteCount);
    }
    // The rest in one go (type-3 chunks of 128 bytes): the message completes, intact, and nothing stays reserved.
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 0xff));
    const fresh = new ChunkDecoder({ maxMessageSize: 100_000, budget });
    const [m] = fresh.push(encodeMessage({ chunkStreamId: 7, timestamp: 0, typeId: 9, messageStreamId: 1, payload }, 128));
    expect(m!.payload.equals(payload)).toBe(true);
    expect(fresh.pendingByteCount).toBe(0);
    dec.dispose();
    expect(budget.used).toBe(0);
  });

  it('refuses growth past its own cap (PENDING_BYTES_LIMIT) and past the shared budget (NODE_PENDING_BYTES_LIMIT); the raised cap applies', () => {
    const small = new ChunkDecoder({ maxPendingBytes: 64 * 1024 });
    expect(codeOf(() => small.push(Buffer.concat([t0(6, 1 << 20), ...Array.from({ length: 600 }, (_, i) => (i === 0 ? Buffer.alloc(128) : Buffer.concat([t3(6), Buffer.alloc(128)])))])))).toBe('PENDING_BYTES_LIMIT');

    const raised = new ChunkDecoder({ maxPendingBytes: 64 * 1024 });
    raised.setMaxPendingBytes(4 << 20);
    raised.push(Buffer.concat([t0(2, 4, 1), u32be(65536)])); // Set Chunk Size 65536
    const big = Buffer.alloc(1 << 20, 3);
    const [m] = raised.push(encodeMessage({ chunkStreamId: 6, timestamp: 0, typeId: 9, messageStreamId: 1, payload: big }, 65536));
    expect(m!.payload.length).toBe(1 << 20);

    // Two connections share a 96 KiB node budget: the one that grows past it is refused; the other keeps its bytes.
    const node = createByteBudget(96 * 1024);
    const a = new ChunkDecoder({ budget: node });
    const b = new ChunkDecoder({ budget: node });
    for (const d of [a, b]) d.push(Buffer.concat([t0(2, 4, 1), u32be(65536)]));
    a.push(Buffer.concat([t0(6, 200_000), Buffer.alloc(64 * 1024)]));
    expect(node.used).toBe(64 * 1024);
    expect(codeOf(() => b.push(Buffer.concat([t0(6, 200_000), Buffer.alloc(40 * 1024)])))).toBe('NODE_PENDING_BYTES_LIMIT');
    b.dispose();
    expect(node.used).toBe(64 * 1024);
    a.dispose();
    expect(node.used).toBe(0);
  });

  it('releases a partial message dropped by Abort (§5.4.2) or by a new header mid-message', () => {
    const node = createByteBudget(1 << 20);
    const dec = new ChunkDecoder({ budget: node });
    dec.push(Buffer.concat([t0(6, 5000), Buffer.alloc(128)]));
    expect(node.used).toBe(128);
    dec.push(Buffer.concat([t0(2, 4, 2), u32be(6)])); // Abort chunk stream 6
    expect(node.used).toBe(0);
    dec.push(Buffer.concat([t0(7, 5000), Buffer.alloc(128)]));
    dec.push(Buffer.concat([t0(7, 10), Buffer.alloc(10)])); // new message on 7: the partial one is abandoned
    expect(node.used).toBe(0);
    expect(dec.pendingByteCount).toBe(0);
  });

  it('resolves the documented defaults and rejects caps that cannot work', () => {
    const r = resolveLimits({});
    expect(r).toMatchObject({
      maxConnections: 1000, maxConnectionsPerAddress: 20, unpublishedTimeoutMs: 10_000,
      maxPendingBytesUnpublished: 64 * 1024, maxPendingBytesPerConnection: 16 * 1024 * 1024, maxPendingBytes: 256 * 1024 * 1024,
    });
    expect(() => resolveLimits({ maxConnectionsPerAddress: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxPendingBytes: 10 })).toThrow(RangeError);
  });
});
