/**
 * Server side of the RTMP handshake (RTMP 1.0 §5.2).
 *
 * We answer with the "simple" handshake: S1's second 4-byte field is zero, which tells clients
 * (ffmpeg's rtmpproto, librtmp in OBS) not to validate an HMAC digest; they then echo S1 as C2.
 * S0+S1+S2 are sent together as soon as C0+C1 are in (§5.2.5 allows the server to wait for C1
 * before sending S2). C2's contents are not checked: clients that did a digest handshake send a
 * C2 that is not a plain echo, and rejecting it buys nothing.
 */
import { randomBytes } from 'node:crypto';
import { RtmpProtocolError } from './errors.js';

/** RTMP protocol version carried in C0/S0 (RTMP 1.0 §5.2.2). Version 6 (RTMPE) is refused. */
export const RTMP_VERSION = 3;
/** Size of C1/S1/C2/S2 in bytes (RTMP 1.0 §5.2.3, §5.2.4). */
export const HANDSHAKE_PACKET_SIZE = 1536;

/** Result of feeding bytes to {@link ServerHandshake.push}. */
export interface HandshakeProgress {
  /** Bytes to send to the client now (S0+S1+S2), if any. */
  readonly reply?: Buffer;
  /** True once C2 has been received: the connection now speaks chunk streams. */
  readonly done: boolean;
  /** Bytes received after C2 (the first chunks), only when `done`. Possibly empty. */
  readonly rest?: Buffer;
}

/** Injected clock and randomness, for deterministic tests. */
export interface ServerHandshakeOptions {
  /** Milliseconds for the S1 `time` field; default: ms since this handshake object was created. */
  readonly now?: () => number;
  /** Random bytes for S1's 1528-byte random field; default `crypto.randomBytes`. */
  readonly random?: (size: number) => Buffer;
}

/**
 * Incremental server handshake state machine (RTMP 1.0 §5.2.5, figure 4): feed it whatever the
 * socket delivers, in any split, and send `reply` when present.
 *
 * States: waiting for C0+C1 (1537 bytes) → reply S0+S1+S2 → waiting for C2 (1536 bytes) → done.
 *
 * @throws RtmpProtocolError `HANDSHAKE_BAD_VERSION` from `push` as soon as C0 is not 3.
 */
export class ServerHandshake {
  private readonly now: () => number;
  private readonly random: (size: number) => Buffer;
  private readonly epoch = Date.now();
  private state: 'c0c1' | 'c2' | 'done' = 'c0c1';
  private buf = Buffer.alloc(1 + HANDSHAKE_PACKET_SIZE);
  private filled = 0;

  constructor(opts: ServerHandshakeOptions = {}) {
    this.now = opts.now ?? (() => Date.now() - this.epoch);
    this.random = opts.random ?? randomBytes;
  }

  /** True once C2 has been read. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Feeds received bytes; see {@link HandshakeProgress}. Must not be called after `done`. */
  push(data: Buffer): HandshakeProgress {
    if (this.state === 'done') return { done: true, rest: data };
    let offset = 0;
    let reply: Buffer | undefined;
    while (offset < data.length || this.filled === this.buf.length) {
      if (this.filled === this.buf.length) {
        if (this.state === 'c0c1') {
          reply = this.answerC1();
          this.state = 'c2';
          this.buf = Buffer.alloc(HANDSHAKE_PACKET_SIZE);
          this.filled = 0;
          continue;
        }
        this.state = 'done';
        return { reply, done: true, rest: data.subarray(offset) };
      }
      const n = Math.min(this.buf.length - this.filled, data.length - offset);
      data.copy(this.buf, this.filled, offset, offset + n);
      if (this.state === 'c0c1' && this.filled === 0 && this.buf[0] !== RTMP_VERSION) {
        throw new RtmpProtocolError('HANDSHAKE_BAD_VERSION', `C0 version ${this.buf[0]} is not ${RTMP_VERSION}`);
      }
      this.filled += n;
      offset += n;
    }
    return reply ? { reply, done: false } : { done: false };
  }

  /** Builds S0+S1+S2 from C1 (RTMP 1.0 §5.2.2–§5.2.4). */
  private answerC1(): Buffer {
    const c1 = this.buf.subarray(1);
    const out = Buffer.alloc(1 + 2 * HANDSHAKE_PACKET_SIZE);
    out[0] = RTMP_VERSION; // S0
    const now = this.now() >>> 0;
    // S1: time (4) | zero (4) | random (1528)
    out.writeUInt32BE(now, 1);
    out.writeUInt32BE(0, 5);
    this.random(HANDSHAKE_PACKET_SIZE - 8).copy(out, 9);
    // S2: peer's C1 time (4) | time we read C1 (4) | C1 random echo (1528)
    const s2 = 1 + HANDSHAKE_PACKET_SIZE;
    c1.copy(out, s2, 0, 4);
    out.writeUInt32BE(now, s2 + 4);
    c1.copy(out, s2 + 8, 8);
    return out;
  }
}
