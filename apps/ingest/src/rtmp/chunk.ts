/**
 * RTMP chunk stream layer (RTMP 1.0 §5.3): an incremental, bounded decoder for inbound chunks
 * and an encoder for outbound messages.
 */
import { RtmpProtocolError } from './errors.js';

/** A complete RTMP message reassembled from one chunk stream (RTMP 1.0 §5.3.1, §6.1). */
export interface RtmpMessage {
  /** Chunk stream id it arrived on, 2..65599 (RTMP 1.0 §5.3.1.1). */
  readonly chunkStreamId: number;
  /** Absolute timestamp in milliseconds, unsigned 32-bit, wrapping (RTMP 1.0 §5.3.1.3). */
  readonly timestamp: number;
  /** Message type id, e.g. 1 Set Chunk Size, 8 audio, 9 video, 18 data, 20 command (§5.4, §7.1). */
  readonly typeId: number;
  /** Message stream id (little-endian on the wire, §5.3.1.2.1); 0 for NetConnection traffic. */
  readonly messageStreamId: number;
  /** Message payload; owned by the receiver (never aliases the decoder's input). */
  readonly payload: Buffer;
}

/** Default inbound/outbound chunk size before Set Chunk Size (RTMP 1.0 §5.4.1). */
export const DEFAULT_CHUNK_SIZE = 128;
/** Largest inbound chunk size accepted by default (Set Chunk Size above it → protocol error). */
export const DEFAULT_MAX_CHUNK_SIZE = 64 * 1024;
/** Largest message accepted by default, in bytes. */
export const DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024;
/** Most distinct chunk stream ids one connection may use by default. */
export const DEFAULT_MAX_CHUNK_STREAMS = 64;

/** Message type ids of the protocol control messages the decoder acts on (RTMP 1.0 §5.4). */
export const MSG_SET_CHUNK_SIZE = 1;
/** Abort Message (RTMP 1.0 §5.4.2). */
export const MSG_ABORT = 2;

/** Bounds for {@link ChunkDecoder}. */
export interface ChunkDecoderOptions {
  /** Largest chunk size a peer may set, bytes. Default {@link DEFAULT_MAX_CHUNK_SIZE}. */
  readonly maxChunkSize?: number;
  /** Largest message length a header may announce, bytes. Default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  readonly maxMessageSize?: number;
  /** Most distinct chunk stream ids tracked. Default {@link DEFAULT_MAX_CHUNK_STREAMS}. */
  readonly maxChunkStreams?: number;
  /**
   * Most bytes held in partially received messages across all chunk streams of this decoder
   * (the buffers' allocated size, see {@link ChunkDecoder}). Default 2 × maxMessageSize. Can be
   * changed later with {@link ChunkDecoder.setMaxPendingBytes}.
   */
  readonly maxPendingBytes?: number;
  /**
   * A budget shared with other decoders (e.g. every connection of a node): each byte this
   * decoder holds in partial messages is reserved in it first, and released when the message
   * completes or is dropped, and by {@link ChunkDecoder.dispose}. Default: none.
   */
  readonly budget?: PendingBytesBudget;
}

/** What {@link ChunkDecoder} needs of a shared budget (e.g. `createByteBudget` of `limits.ts`). */
export interface PendingBytesBudget {
  /** Bytes that can still be reserved. */
  readonly available: number;
  /** Reserves `n` bytes if they fit; false (nothing reserved) otherwise. */
  tryReserve(n: number): boolean;
  /** Returns `n` reserved bytes. */
  release(n: number): void;
}

/** Per chunk stream header state (RTMP 1.0 §5.3.1.2: later header types inherit from it). */
interface ChunkStreamState {
  timestamp: number;
  /** Delta applied by a type-3 chunk that starts a new message; after type 0 it is the absolute timestamp (§5.3.1.2.4). */
  timestampDelta: number;
  messageLength: number;
  typeId: number;
  messageStreamId: number;
  /** The last type 0/1/2 header on this chunk stream used an extended timestamp (§5.3.1.3). */
  extended: boolean;
  /**
   * Message in progress: its bytes so far at the start of a buffer that grows (doubling, never
   * past messageLength) as chunks arrive; null between messages.
   */
  buf: Buffer | null;
  received: number;
}

const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;
const EMPTY = Buffer.alloc(0);
const MAX_HEADER = 3 + 11 + 4;

/**
 * Incremental chunk stream decoder (RTMP 1.0 §5.3). Feed it socket data in any split (one byte
 * at a time yields the same messages as one big buffer); it returns every message completed.
 *
 * Handles: basic headers of 1, 2 and 3 bytes (§5.3.1.1); message header types 0–3
 * (§5.3.1.2.1–4) including a type-3 chunk starting a new message with the previous delta;
 * extended timestamps, also repeated on type-3 chunks of a stream whose last header had one
 * (§5.3.1.3, as ffmpeg and librtmp send); messages split over many chunks and interleaved
 * across chunk streams; Set Chunk Size (§5.4.1) applied to the very next chunk; Abort (§5.4.2)
 * discarding a partial message. Set Chunk Size and Abort are applied here and also returned.
 *
 * Memory is bounded: a partial message is held in one buffer sized by the bytes actually
 * received (at most twice them, never the announced length), and the buffers' total size
 * ("pending bytes") is capped by `maxPendingBytes` and, when given, reserved in the shared
 * `budget` before it is allocated. A completed message's payload is that buffer (no copy).
 *
 * @throws RtmpProtocolError `CHUNK_SIZE_INVALID` (Set Chunk Size 0 or above maxChunkSize),
 *   `MESSAGE_TOO_LARGE`, `CHUNK_STREAM_LIMIT` (too many chunk stream ids),
 *   `PENDING_BYTES_LIMIT` (this decoder's pending bytes would exceed `maxPendingBytes`),
 *   `NODE_PENDING_BYTES_LIMIT` (the shared budget has no room for them), `CHUNK_MALFORMED`
 *   (type 2/3 header on a chunk stream with no prior header). After a throw the decoder is
 *   unusable: call {@link ChunkDecoder.dispose} and close the connection.
 */
export class ChunkDecoder {
  private readonly maxChunkSize: number;
  private readonly maxMessageSize: number;
  private readonly maxChunkStreams: number;
  private maxPendingBytes: number;
  private readonly budget: PendingBytesBudget | undefined;
  private readonly streams = new Map<number, ChunkStreamState>();
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private pendingBytes = 0;

  // Header accumulation
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerLength = 0;
  // Payload of the current chunk
  private current: ChunkStreamState | null = null;
  private currentCsid = 0;
  private chunkRemaining = 0;

  constructor(opts: ChunkDecoderOptions = {}) {
    this.maxChunkSize = opts.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxChunkStreams = opts.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS;
    this.maxPendingBytes = opts.maxPendingBytes ?? 2 * this.maxMessageSize;
    this.budget = opts.budget;
  }

  /** Bytes held in partial messages now (allocated buffer sizes; also reserved in the budget). */
  get pendingByteCount(): number {
    return this.pendingBytes;
  }

  /**
   * Changes the cap on pending bytes (e.g. raised once a publish is accepted). Lowering it below
   * what is held drops nothing: the next growth is refused.
   */
  setMaxPendingBytes(n: number): void {
    this.maxPendingBytes = n;
  }

  /**
   * Drops every partial message and releases its bytes to the budget (call when the connection
   * closes, also after a throw). The decoder must not be used afterwards.
   */
  dispose(): void {
    for (const st of this.streams.values()) {
      st.buf = null;
      st.received = 0;
    }
    this.current = null;
    this.budget?.release(this.pendingBytes);
    this.pendingBytes = 0;
  }

  /** The chunk size currently in effect for inbound chunks, bytes. */
  get chunkSize(): number {
    return this.inChunkSize;
  }

  /** Decodes `data`, returning the messages it completes, in arrival order. */
  push(data: Buffer): RtmpMessage[] {
    const out: RtmpMessage[] = [];
    let offset = 0;
    while (offset < data.length) {
      if (this.current === null) {
        offset = this.readHeader(data, offset);
        if (this.current === null) break; // need more header bytes
        if (this.chunkRemaining === 0) this.finishChunk(out); // zero-length message
        continue;
      }
      const n = Math.min(this.chunkRemaining, data.length - offset);
      const st = this.current;
      const need = st.received + n;
      if (need > st.buf!.length) this.grow(st, need);
      data.copy(st.buf!, st.received, offset, offset + n);
      st.received = need;
      this.chunkRemaining -= n;
      offset += n;
      if (this.chunkRemaining === 0) this.finishChunk(out);
    }
    return out;
  }

  /**
   * Grows the buffer of `st` to hold at least `need` bytes: doubling (fewer copies), capped by the
   * message length and by what both budgets still allow. Reserves before allocating.
   */
  private grow(st: ChunkStreamState, need: number): void {
    const old = st.buf!.length;
    const room = this.maxPendingBytes - this.pendingBytes;
    if (need - old > room) {
      throw new RtmpProtocolError('PENDING_BYTES_LIMIT', `more than ${this.maxPendingBytes} bytes in partial messages`);
    }
    let cap = Math.min(st.messageLength, Math.max(need, 2 * old), old + room);
    if (this.budget) {
      cap = Math.min(cap, old + this.budget.available);
      if (cap < need || !this.budget.tryReserve(cap - old)) {
        throw new RtmpProtocolError('NODE_PENDING_BYTES_LIMIT', 'the node has no room left for partial messages');
      }
    }
    const next = Buffer.allocUnsafe(cap);
    st.buf!.copy(next, 0, 0, st.received);
    st.buf = next;
    this.pendingBytes += cap - old;
  }

  /** Bytes the header in `this.header` needs in total, given what has been read so far. */
  private headerNeeded(): number {
    if (this.headerLength < 1) return 1;
    const b0 = this.header[0]!;
    const fmt = b0 >> 6;
    const csidField = b0 & 0x3f;
    const basic = csidField === 0 ? 2 : csidField === 1 ? 3 : 1;
    if (this.headerLength < basic) return basic;
    const base = basic + MESSAGE_HEADER_SIZE[fmt as 0 | 1 | 2 | 3];
    if (this.headerLength < base) return base;
    let extended: boolean;
    if (fmt === 3) {
      extended = this.streams.get(this.basicCsid(basic))?.extended ?? false;
    } else {
      extended = this.header.readUIntBE(basic, 3) === 0xffffff;
    }
    return extended ? base + 4 : base;
  }

  private basicCsid(basic: number): number {
    if (basic === 1) return this.header[0]! & 0x3f;
    if (basic === 2) return this.header[1]! + 64;
    return this.header[2]! * 256 + this.header[1]! + 64;
  }

  /** Reads header bytes from `data`; when the header is complete, sets up the chunk payload. */
  private readHeader(data: Buffer, offset: number): number {
    for (;;) {
      const need = this.headerNeeded();
      if (this.headerLength >= need) break;
      if (offset >= data.length) return offset;
      const n = Math.min(need - this.headerLength, data.length - offset);
      data.copy(this.header, this.headerLength, offset, offset + n);
      this.headerLength += n;
      offset += n;
    }
    this.applyHeader();
    this.headerLength = 0;
    return offset;
  }

  private applyHeader(): void {
    const h = this.header;
    const fmt = h[0]! >> 6;
    const csidField = h[0]! & 0x3f;
    const basic = csidField === 0 ? 2 : csidField === 1 ? 3 : 1;
    const csid = this.basicCsid(basic);
    let st = this.streams.get(csid);
    if (!st) {
      if (fmt >= 2) {
        throw new RtmpProtocolError('CHUNK_MALFORMED', `chunk stream ${csid}: type ${fmt} header without a preceding type 0/1 header`);
      }
      if (this.streams.size >= this.maxChunkStreams) {
        throw new RtmpProtocolError('CHUNK_STREAM_LIMIT', `more than ${this.maxChunkStreams} chunk streams`);
      }
      st = { timestamp: 0, timestampDelta: 0, messageLength: 0, typeId: 0, messageStreamId: 0, extended: false, buf: null, received: 0 };
      this.streams.set(csid, st);
    }
    const p = basic;
    let newMessage = true;
    if (fmt === 3) {
      if (st.buf !== null) {
        // Continuation of the message in progress; a repeated extended timestamp is ignored.
        newMessage = false;
      } else {
        if (st.extended) st.timestampDelta = h.readUInt32BE(p);
        st.timestamp = (st.timestamp + st.timestampDelta) >>> 0;
      }
    } else {
      const tsField = h.readUIntBE(p, 3);
      st.extended = tsField === 0xffffff;
      const ts = st.extended ? h.readUInt32BE(p + MESSAGE_HEADER_SIZE[fmt as 0 | 1 | 2]) : tsField;
      if (fmt <= 1) {
        st.messageLength = h.readUIntBE(p + 3, 3);
        st.typeId = h[p + 6]!;
      }
      if (fmt === 0) {
        st.messageStreamId = h.readUInt32LE(p + 7);
        st.timestamp = ts;
        st.timestampDelta = ts;
      } else {
        st.timestampDelta = ts;
        st.timestamp = (st.timestamp + ts) >>> 0;
      }
      if (st.buf !== null) this.dropPartial(st); // new header mid-message: the old one is abandoned
    }
    if (newMessage) {
      if (st.messageLength > this.maxMessageSize) {
        throw new RtmpProtocolError('MESSAGE_TOO_LARGE', `chunk stream ${csid}: message of ${st.messageLength} bytes exceeds ${this.maxMessageSize}`);
      }
      st.buf = EMPTY;
      st.received = 0;
    }
    this.current = st;
    this.currentCsid = csid;
    this.chunkRemaining = Math.min(this.inChunkSize, st.messageLength - st.received);
  }

  private dropPartial(st: ChunkStreamState): void {
    this.releaseBuffer(st);
  }

  /** Forgets the message in progress on `st`, returning its buffer's bytes to both budgets. */
  private releaseBuffer(st: ChunkStreamState): Buffer {
    const buf = st.buf!;
    this.pendingBytes -= buf.length;
    this.budget?.release(buf.length);
    st.buf = null;
    st.received = 0;
    return buf;
  }

  private finishChunk(out: RtmpMessage[]): void {
    const st = this.current!;
    this.current = null;
    if (st.received < st.messageLength) return; // more chunks to come
    // Complete: received === messageLength === the buffer's size (it never grows past it).
    const payload = this.releaseBuffer(st);
    const msg: RtmpMessage = {
      chunkStreamId: this.currentCsid,
      timestamp: st.timestamp,
      typeId: st.typeId,
      messageStreamId: st.messageStreamId,
      payload,
    };
    if (msg.typeId === MSG_SET_CHUNK_SIZE) this.applySetChunkSize(payload);
    else if (msg.typeId === MSG_ABORT) this.applyAbort(payload);
    out.push(msg);
  }

  /** RTMP 1.0 §5.4.1: 31-bit size (the top bit must be zero), 1..0x7FFFFFFF. */
  private applySetChunkSize(payload: Buffer): void {
    if (payload.length < 4) throw new RtmpProtocolError('MESSAGE_MALFORMED', `Set Chunk Size payload of ${payload.length} bytes`);
    const size = payload.readUInt32BE(0) & 0x7fffffff;
    if (size < 1 || size > this.maxChunkSize) {
      throw new RtmpProtocolError('CHUNK_SIZE_INVALID', `Set Chunk Size ${size} outside 1..${this.maxChunkSize}`);
    }
    this.inChunkSize = size;
  }

  /** RTMP 1.0 §5.4.2: discard the partially received message on the given chunk stream. */
  private applyAbort(payload: Buffer): void {
    if (payload.length < 4) throw new RtmpProtocolError('MESSAGE_MALFORMED', `Abort payload of ${payload.length} bytes`);
    const st = this.streams.get(payload.readUInt32BE(0));
    if (st && st.buf !== null) this.dropPartial(st);
  }
}

/** An outbound message for {@link encodeMessage}. */
export interface OutboundMessage {
  /** Chunk stream id, 2..65599 (RTMP 1.0 §5.3.1.1). */
  readonly chunkStreamId: number;
  /** Timestamp in ms; values ≥ 0xFFFFFF use the extended timestamp (§5.3.1.3). */
  readonly timestamp: number;
  /** Message type id (§5.4, §7.1). */
  readonly typeId: number;
  /** Message stream id. */
  readonly messageStreamId: number;
  readonly payload: Buffer;
}

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 2 || csid > 65599) throw new RangeError(`chunk stream id ${csid} outside 2..65599`);
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

/**
 * Encodes one message as a type-0 chunk followed by type-3 continuation chunks of at most
 * `chunkSize` payload bytes each (RTMP 1.0 §5.3.1.2.1, §5.3.1.2.4, §5.3.2.1). When the
 * timestamp needs the extended field, every continuation chunk repeats it (§5.3.1.3).
 *
 * @throws RangeError for an invalid chunk stream id or a payload over 16 MiB − 1.
 */
export function encodeMessage(msg: OutboundMessage, chunkSize: number): Buffer {
  const len = msg.payload.length;
  if (len > 0xffffff) throw new RangeError(`message of ${len} bytes does not fit a 24-bit length`);
  const ts = msg.timestamp >>> 0;
  const extended = ts >= 0xffffff;
  const parts: Buffer[] = [];
  const h0 = Buffer.alloc(11 + (extended ? 4 : 0));
  h0.writeUIntBE(extended ? 0xffffff : ts, 0, 3);
  h0.writeUIntBE(len, 3, 3);
  h0[6] = msg.typeId;
  h0.writeUInt32LE(msg.messageStreamId >>> 0, 7);
  if (extended) h0.writeUInt32BE(ts, 11);
  parts.push(basicHeader(0, msg.chunkStreamId), h0);
  let offset = 0;
  for (;;) {
    const n = Math.min(chunkSize, len - offset);
    parts.push(msg.payload.subarray(offset, offset + n));
    offset += n;
    if (offset >= len) break;
    parts.push(basicHeader(3, msg.chunkStreamId));
    if (extended) {
      const ext = Buffer.alloc(4);
      ext.writeUInt32BE(ts, 0);
      parts.push(ext);
    }
  }
  return Buffer.concat(parts);
}
