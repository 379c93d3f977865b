/**
 * Property-based fuzzing (fast-check) of the RTMP wire-format decoders: the handshake, the chunk
 * stream decoder and AMF0. Properties: only `RtmpProtocolError` is ever thrown (with a code the
 * decoder documents), every run finishes (inputs are bounded), and the round trips / split
 * invariances the modules promise hold. A fixed seed keeps the unit tier deterministic; on a
 * failure fast-check prints the seed, path and the shrunk counterexample.
 */
import fc from 'fast-check';
import { ok } from '@live/dev/fuzz';
import { describe, expect, it, vi } from 'vitest';
import {
  AMF0_MAX_DEPTH, ChunkDecoder, decodeAmf0, decodeAmf0Value, ecmaArray, encodeAmf0, encodeMessage, isEcmaArray,
  RtmpProtocolError, ServerHandshake, HANDSHAKE_PACKET_SIZE, type AmfObject, type AmfValue, type RtmpMessage,
} from '../src/rtmp/index.js';

// 10,000 runs per property take a few seconds of CPU; on a loaded machine (the unit tier runs files in
// parallel) that can exceed Vitest's default 5 s per test.
vi.setConfig({ testTimeout: 120_000 });

const RUNS = 10_000;
const SEED = 0x15f0_0006;
const opts = { numRuns: RUNS, seed: SEED };

/** Equality of JSON-able values, cheaply. */
const sameJson = (a: unknown, b: unknown, what: string) => ok(JSON.stringify(a) === JSON.stringify(b), `${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);

/** Cuts `buf` at the given positions (taken modulo its length); the pieces concatenate to `buf`. */
function split(buf: Buffer, cuts: readonly number[]): Buffer[] {
  if (buf.length === 0) return [buf];
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}
const cutsArb = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 12 });

/** The code of an `RtmpProtocolError` thrown by `fn`, `null` if it returned; rethrows anything else. */
function protocolCode(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof RtmpProtocolError) return err.code;
    throw err;
  }
}

// ------------------------------------------------------------------------------------------
// Handshake (RTMP 1.0 §5.2)

describe('ServerHandshake (fuzz)', () => {
  /** A deterministic 1536-byte packet from a short pattern (generating 1536 arbitraries per run is slow). */
  const packet = (pattern: Uint8Array, salt: number): Buffer => Buffer.alloc(HANDSHAKE_PACKET_SIZE).fill(Buffer.from([...pattern, salt]));

  it('answers C0+C1 once with S0+S1+S2 (echoing C1) and hands over every byte after C2, for any split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 24 }), fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 64 }),
        fc.nat(), cutsArb,
        (p1, salt, p2, rest, now, cuts) => {
          const c1 = packet(p1, salt);
          const c2 = packet(p2, salt + 1);
          const input = Buffer.concat([Buffer.from([3]), c1, c2, rest]);
          const random = (n: number) => Buffer.alloc(n, 0xab);
          const hs = new ServerHandshake({ now: () => now, random });
          const replies: Buffer[] = [];
          const after: Buffer[] = [];
          for (const piece of split(input, cuts)) {
            const wasDone = hs.done;
            const r = hs.push(piece);
            if (r.reply) replies.push(r.reply);
            if (r.done && r.rest) after.push(r.rest);
            ok(r.done === hs.done, 'done flag');
            ok(!wasDone || r.reply === undefined, 'no reply after done');
          }
          ok(hs.done, 'done after C2');
          ok(replies.length === 1, 'one reply');
          const s = replies[0]!;
          ok(s.length === 1 + 2 * HANDSHAKE_PACKET_SIZE, 'S0+S1+S2 size');
          ok(s[0] === 3, 'S0 version');
          ok(s.readUInt32BE(1) === now >>> 0 && s.readUInt32BE(5) === 0, 'S1 time and zero');
          const s2 = s.subarray(1 + HANDSHAKE_PACKET_SIZE);
          ok(s2.subarray(0, 4).equals(c1.subarray(0, 4)) && s2.readUInt32BE(4) === now >>> 0 && s2.subarray(8).equals(c1.subarray(8)), 'S2 echoes C1');
          ok(Buffer.concat(after).equals(Buffer.from(rest)), 'bytes after C2 handed over');
        },
      ),
      opts,
    );
  });

  it('throws only HANDSHAKE_BAD_VERSION, exactly when C0 is not 3, for any bytes in any split', () => {
    fc.assert(
      fc.property(fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 3200 }), cutsArb, (c0, tail, pad, cuts) => {
        const input = Buffer.concat([Buffer.from([c0]), Buffer.alloc(pad, 7), tail]);
        const hs = new ServerHandshake({ now: () => 0, random: (n) => Buffer.alloc(n) });
        const code = protocolCode(() => {
          for (const piece of split(input, cuts)) hs.push(piece);
        });
        ok(code === (c0 === 3 ? null : 'HANDSHAKE_BAD_VERSION'), `code ${code} for C0 ${c0}`);
        if (c0 === 3) ok(hs.done === input.length >= 1 + 2 * HANDSHAKE_PACKET_SIZE, 'done exactly after C2');
      }),
      opts,
    );
  });
});

// ------------------------------------------------------------------------------------------
// Chunk stream (RTMP 1.0 §5.3)

/** The codes ChunkDecoder documents (the pending-bytes limits are also reported as their own codes). */
const CHUNK_CODES = new Set(['CHUNK_MALFORMED', 'CHUNK_SIZE_INVALID', 'MESSAGE_TOO_LARGE', 'CHUNK_STREAM_LIMIT', 'PENDING_BYTES_LIMIT', 'NODE_PENDING_BYTES_LIMIT', 'MESSAGE_MALFORMED']);

const plain = (m: RtmpMessage) => ({ ...m, payload: Buffer.from(m.payload).toString('hex') });

/** Outcome of decoding `pieces` one push at a time: the messages, or the code of the error. */
function decodePieces(pieces: readonly Buffer[], dec: ChunkDecoder): { messages: RtmpMessage[]; code: string | null } {
  const messages: RtmpMessage[] = [];
  const code = protocolCode(() => {
    for (const p of pieces) messages.push(...dec.push(p));
  });
  return { messages, code };
}

const smallDecoder = () => new ChunkDecoder({ maxChunkSize: 4096, maxMessageSize: 2048, maxChunkStreams: 8, maxPendingBytes: 4096 });

/** Bytes biased towards chunk headers: small csids, fmt bits, 0xff (extended timestamps, big lengths). */
const chunkishBytes = fc.array(
  fc.oneof(
    fc.nat({ max: 255 }),
    fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x04, 0x40, 0x42, 0x80, 0x82, 0xc2, 0xc3, 0xff, 0x09, 0x08),
  ),
  { maxLength: 400 },
).map((a) => Buffer.from(a));

/** A byte string that starts like a real session: a type-0 header, so later type 1-3 headers have state. */
const streamish = fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 300 }), fc.nat({ max: 255 }), chunkishBytes).map(([csid, len, type, tail]) => {
  const h = Buffer.from([2 + csid, 0, 0, 1, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, type, 1, 0, 0, 0]);
  return Buffer.concat([h, tail]);
});

describe('ChunkDecoder (fuzz)', () => {
  it('arbitrary bytes, in any split: messages, or a documented RtmpProtocolError; the split does not change the outcome', () => {
    fc.assert(
      fc.property(fc.oneof(chunkishBytes, streamish), cutsArb, (input, cuts) => {
        const whole = decodePieces([input], smallDecoder());
        const pieces = decodePieces(split(input, cuts), smallDecoder());
        const bytewise = decodePieces(Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1)), smallDecoder());
        for (const r of [whole, pieces, bytewise]) ok(r.code === null || CHUNK_CODES.has(r.code), `undocumented code ${r.code}`);
        ok(pieces.code === whole.code && bytewise.code === whole.code, `codes ${whole.code} / ${pieces.code} / ${bytewise.code}`);
        if (whole.code === null) {
          sameJson(pieces.messages.map(plain), whole.messages.map(plain), 'split');
          sameJson(bytewise.messages.map(plain), whole.messages.map(plain), 'byte by byte');
        } else {
          // The split decoders saw the same stream: what they completed before failing is a prefix of what a
          // byte-at-a-time decoder completed.
          sameJson(bytewise.messages.slice(0, pieces.messages.length).map(plain), pieces.messages.map(plain), 'prefix');
        }
        for (const m of whole.messages) ok(m.payload.length <= 2048 && m.timestamp === m.timestamp >>> 0, 'bounded message');
      }),
      opts,
    );
  });

  const csidArb = fc.oneof(fc.integer({ min: 2, max: 65599 }), fc.constantFrom(2, 3, 63, 64, 65, 319, 320, 321, 65599));
  const tsArb = fc.oneof(fc.nat({ max: 0xfffffe }), fc.constantFrom(0, 0xfffffe, 0xffffff, 0x1000000, 0xffffffff), fc.nat());
  const messageArb = fc.record({
    chunkStreamId: csidArb,
    timestamp: tsArb,
    typeId: fc.integer({ min: 3, max: 255 }), // 1 and 2 are protocol control messages the decoder acts on
    messageStreamId: fc.oneof(fc.constant(0), fc.constant(1), fc.nat()),
    payload: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
  });

  it('encodeMessage then decode is the identity for any chunk size and any split of the stream', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 6 }), fc.integer({ min: 1, max: 700 }), cutsArb, (msgs, chunkSize, cuts) => {
        const setChunkSize = { chunkStreamId: 2, timestamp: 0, typeId: 1, messageStreamId: 0, payload: Buffer.from([0, 0, (chunkSize >> 8) & 0xff, chunkSize & 0xff]) };
        const wire = Buffer.concat([encodeMessage(setChunkSize, 128), ...msgs.map((m) => encodeMessage(m, chunkSize))]);
        const dec = new ChunkDecoder();
        const got = decodePieces(split(wire, cuts), dec);
        ok(got.code === null && dec.chunkSize === chunkSize, `code ${got.code}, chunk size ${dec.chunkSize}`);
        const want = [setChunkSize, ...msgs].map((m) => plain({ ...m, timestamp: m.timestamp >>> 0, messageStreamId: m.messageStreamId >>> 0 }));
        sameJson(got.messages.map(plain), want, 'messages');
      }),
      opts,
    );
  });

  /** Boundaries of the chunks `encodeMessage` writes (type 0 then type 3 continuations). */
  function chunkPieces(m: RtmpMessage, chunkSize: number): Buffer[] {
    const wire = encodeMessage(m, chunkSize);
    const basicLen = m.chunkStreamId < 64 ? 1 : m.chunkStreamId < 320 ? 2 : 3;
    const ext = (m.timestamp >>> 0) >= 0xffffff ? 4 : 0;
    const out: Buffer[] = [];
    let at = 0;
    let left = m.payload.length;
    let header = basicLen + 11 + ext;
    for (;;) {
      const n = Math.min(chunkSize, left);
      out.push(wire.subarray(at, at + header + n));
      at += header + n;
      left -= n;
      if (left === 0) break;
      header = basicLen + ext;
    }
    ok(at === wire.length, 'chunk boundaries');
    return out;
  }

  it('reassembles messages whose chunks are interleaved across chunk streams in any order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(messageArb, { maxLength: 5, selector: (m) => m.chunkStreamId }),
        fc.integer({ min: 1, max: 128 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        cutsArb,
        (msgs, chunkSize, schedule, cuts) => {
          const queues = msgs.map((m) => chunkPieces(m, chunkSize));
          const order: Buffer[] = [];
          let s = 0;
          for (;;) {
            const live = queues.filter((q) => q.length > 0);
            if (live.length === 0) break;
            order.push(live[(schedule[s++] ?? 0) % live.length]!.shift()!);
          }
          const setChunkSize = { chunkStreamId: 2, timestamp: 0, typeId: 1, messageStreamId: 0, payload: Buffer.from([0, 0, 0, chunkSize]) };
          const wire = Buffer.concat([encodeMessage(setChunkSize, 128), ...order]);
          const got = decodePieces(split(wire, cuts), new ChunkDecoder());
          ok(got.code === null, `code ${got.code}`);
          const sortBy = <T extends { chunkStreamId: number }>(a: T[]) => [...a].sort((x, y) => x.chunkStreamId - y.chunkStreamId);
          ok(got.messages[0]!.typeId === 1, 'Set Chunk Size first');
          const want = msgs.map((m) => plain({ ...m, timestamp: m.timestamp >>> 0, messageStreamId: m.messageStreamId >>> 0 }));
          sameJson(sortBy(got.messages.slice(1).map(plain)), sortBy(want), 'messages');
        },
      ),
      opts,
    );
  });

  // One chunk stream carrying messages with header types 0-3 (RTMP 1.0 §5.3.1.2): a reference model
  // of the header compression, checked against the decoder.
  const u24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  const u32be = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  const u32le = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const basic = (fmt: number, csid: number) =>
    csid < 64 ? [(fmt << 6) | csid] : csid < 320 ? [fmt << 6, csid - 64] : [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8];

  const stepArb = fc.record({
    fmt: fc.nat({ max: 3 }),
    time: tsArb,
    typeId: fc.integer({ min: 3, max: 255 }),
    messageStreamId: fc.nat(),
    length: fc.nat({ max: 300 }),
    seed: fc.nat({ max: 255 }),
  });

  it('header types 0-3 and extended timestamps on one chunk stream decode as the reference model says', () => {
    fc.assert(
      fc.property(csidArb, fc.array(stepArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 200 }), cutsArb, (csid, steps, size, cuts) => {
        // on csid 2 a Set Chunk Size message would share the stream's header state: keep the default size there
        const chunkSize = csid === 2 ? 128 : size;
        const parts: Buffer[] = [];
        const want: Array<Omit<RtmpMessage, 'payload'> & { payload: string }> = [];
        let st = { timestamp: 0, delta: 0, length: 0, typeId: 0, messageStreamId: 0, extended: false };
        steps.forEach((step, i) => {
          // the first message needs a type 0 header; type 2 and 3 keep length and type, type 3 also the delta
          const fmt = i === 0 ? 0 : step.fmt;
          const length = fmt >= 2 ? st.length : step.length;
          const typeId = fmt >= 2 ? st.typeId : step.typeId;
          const field = step.time >>> 0;
          const header: number[] = [...basic(fmt, csid)];
          if (fmt === 3) {
            if (st.extended) {
              // a type-3 header starting a message after an extended header carries the delta again
              header.push(...u32be(st.delta));
            }
            st = { ...st, timestamp: (st.timestamp + st.delta) >>> 0 };
          } else {
            const extended = field >= 0xffffff;
            header.push(...u24(extended ? 0xffffff : field));
            if (fmt <= 1) header.push(...u24(length), typeId);
            if (fmt === 0) header.push(...u32le(step.messageStreamId));
            if (extended) header.push(...u32be(field));
            st = fmt === 0
              ? { timestamp: field, delta: field, length, typeId, messageStreamId: step.messageStreamId, extended }
              : { ...st, timestamp: (st.timestamp + field) >>> 0, delta: field, length, typeId, extended };
          }
          const payload = Buffer.alloc(length).fill(Buffer.from([step.seed, i, 0x5a]));
          let off = 0;
          let h = header;
          for (;;) {
            const n = Math.min(chunkSize, length - off);
            parts.push(Buffer.from(h), payload.subarray(off, off + n));
            off += n;
            if (off >= length) break;
            h = [...basic(3, csid), ...(st.extended ? u32be(st.delta) : [])];
          }
          want.push({ chunkStreamId: csid, timestamp: st.timestamp, typeId, messageStreamId: st.messageStreamId, payload: payload.toString('hex') });
        });
        const setChunkSize = csid === 2 ? [] : [encodeMessage({ chunkStreamId: 2, timestamp: 0, typeId: 1, messageStreamId: 0, payload: Buffer.from([0, 0, 0, chunkSize]) }, 128)];
        const wire = Buffer.concat([...setChunkSize, ...parts]);
        const got = decodePieces(split(wire, cuts), new ChunkDecoder());
        ok(got.code === null, `code ${got.code}`);
        sameJson(got.messages.filter((m) => m.chunkStreamId === csid).map(plain), want, 'messages');
      }),
      opts,
    );
  });
});

// ------------------------------------------------------------------------------------------
// AMF0 (Adobe AMF0 spec)

/** Deep equality that tells NaN, -0, Date instants, ECMA arrays from objects, key order and undefined apart. */
function sameAmf(a: AmfValue, b: AmfValue): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameAmf(v, b[i]));
  }
  if (isEcmaArray(a) !== isEcmaArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameAmf(a[k], b[k]));
}

const keyArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('', '__proto__', 'constructor', '0', '10', 'toString'));
/** Well-formed strings only: the encoder writes UTF-8, which cannot carry a lone surrogate. */
const strArb = fc.string({ unit: 'binary', maxLength: 24 });

function objectFrom(entries: ReadonlyArray<readonly [string, AmfValue]>, ecma: boolean): AmfObject {
  const o: AmfObject = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return ecma ? ecmaArray(o) : o;
}

const { amf: amfArb } = fc.letrec<{ amf: AmfValue }>((tie) => ({
  amf: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.double(),
    fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE),
    fc.boolean(),
    strArb,
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: false }),
    fc.array(tie('amf'), { maxLength: 4 }),
    fc.tuple(fc.uniqueArray(fc.tuple(keyArb, tie('amf')), { maxLength: 4, selector: ([k]) => k }), fc.boolean()).map(([e, ecma]) => objectFrom(e, ecma)),
  ),
}));

const AMF0_CODES = new Set(['AMF0_TRUNCATED', 'AMF0_MALFORMED']);

/** Bytes biased towards AMF0: markers, short lengths, object ends. */
const amfishBytes = fc.array(
  fc.oneof(fc.nat({ max: 255 }), fc.nat({ max: 0x12 }), fc.constantFrom(0, 0, 0, 9, 3, 8, 0x0a, 2)),
  { maxLength: 200 },
).map((a) => Buffer.from(a));

describe('AMF0 (fuzz)', () => {
  it('decode(encode(values)) = values, and every value ends where the next begins', () => {
    fc.assert(
      fc.property(fc.array(amfArb, { maxLength: 4 }), (values) => {
        const buf = encodeAmf0(...values);
        const back = decodeAmf0(buf);
        ok(back.length === values.length && values.every((v, i) => sameAmf(back[i], v)), 'decodeAmf0(encodeAmf0(values))');
        let at = 0;
        for (const v of values) {
          const r = decodeAmf0Value(buf, at);
          ok(sameAmf(r.value, v) && r.offset > at, 'decodeAmf0Value');
          at = r.offset;
        }
        ok(at === buf.length, 'consumed everything');
      }),
      opts,
    );
  });

  it('long strings (over 65535 UTF-8 bytes) round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0xffff - 4, max: 0x10008 }), fc.constantFrom('a', 'é', '😀'), (n, ch) => {
        const s = ch.repeat(Math.ceil(n / Buffer.byteLength(ch)));
        expect(decodeAmf0(encodeAmf0(s, 1))).toEqual([s, 1]);
      }),
      { numRuns: 50, seed: SEED },
    );
  });

  it('nesting: what the encoder accepts (depth <= AMF0_MAX_DEPTH) the decoder accepts, deeper is refused by both', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: AMF0_MAX_DEPTH + 3 }), fc.array(fc.constantFrom('array', 'object', 'ecma'), { minLength: AMF0_MAX_DEPTH + 4, maxLength: AMF0_MAX_DEPTH + 4 }), fc.constantFrom('empty', 'leaf'), (depth, kinds, inner) => {
        // `depth` containers around an innermost value: a leaf, or one more (empty) container
        const wrap = (k: string, x: AmfValue): AmfValue => (k === 'array' ? [x] : k === 'object' ? { k: x } : ecmaArray({ k: x }));
        let v: AmfValue = inner === 'leaf' ? 1 : kinds[depth] === 'array' ? [] : kinds[depth] === 'object' ? {} : ecmaArray({});
        for (const k of kinds.slice(0, depth).reverse()) v = wrap(k, v);
        let buf: Buffer | undefined;
        try {
          buf = encodeAmf0(v);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
        }
        ok((buf === undefined) === depth > AMF0_MAX_DEPTH, `encoder at depth ${depth}`);
        if (buf === undefined) return;
        ok(sameAmf(decodeAmf0(buf)[0], v), `round trip at depth ${depth}`);
      }),
      opts,
    );
  });

  it('an empty object or ECMA array at the deepest depth the encoder writes decodes (found by the property above)', () => {
    for (const inner of [{}, ecmaArray({}), []] as AmfValue[]) {
      let v: AmfValue = inner;
      for (let i = 0; i < AMF0_MAX_DEPTH; i++) v = [v];
      expect(sameAmf(decodeAmf0(encodeAmf0(v))[0], v)).toBe(true);
      expect(() => encodeAmf0([v])).toThrow(RangeError);
    }
  });

  it('arbitrary bytes: values or AMF0_TRUNCATED / AMF0_MALFORMED, and a decoded value re-encodes to the same value', () => {
    fc.assert(
      fc.property(amfishBytes, (buf) => {
        let values: AmfValue[] | undefined;
        const code = protocolCode(() => {
          values = decodeAmf0(buf);
        });
        if (code !== null) {
          ok(AMF0_CODES.has(code), `undocumented code ${code}`);
          return;
        }
        const again = decodeAmf0(encodeAmf0(...values!));
        ok(again.length === values!.length && values!.every((v, i) => sameAmf(again[i], v)), 're-encoded values decode the same');
      }),
      opts,
    );
  });

  it('mutated encodings (bytes flipped, cut, inserted): values or a documented error, never out of bounds', () => {
    fc.assert(
      fc.property(fc.array(amfArb, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }), fc.nat(), fc.nat(), (values, flips, cut, start) => {
        const buf = Buffer.from(encodeAmf0(...values));
        for (const [at, b] of flips) buf[at % buf.length] = b;
        const cutBuf = buf.subarray(0, cut % (buf.length + 1));
        for (const input of [buf, cutBuf]) {
          const code = protocolCode(() => {
            decodeAmf0(input);
          });
          ok(code === null || AMF0_CODES.has(code), `undocumented code ${code}`);
          const from = input.length === 0 ? 0 : start % input.length;
          const c2 = protocolCode(() => {
            const r = decodeAmf0Value(input, from);
            ok(r.offset > from && r.offset <= input.length, 'offset within the buffer');
          });
          ok(c2 === null || AMF0_CODES.has(c2), `undocumented code ${c2}`);
        }
      }),
      opts,
    );
  });
});
