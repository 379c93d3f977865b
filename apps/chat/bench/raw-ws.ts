/**
 * A minimal WebSocket client (RFC 6455) for the chat benchmark's load generator: one TCP socket,
 * the opening handshake (section 4.1), masked client frames (5.3), and a frame parser that hands
 * every complete text message to a callback as a Buffer slice without copying or decoding it.
 *
 * Why not `ws`: a load generator on the same 2-core machine as the servers must spend as little
 * CPU per received frame as possible; this parser does a few byte reads per frame and no stream
 * machinery (reads land in one shared buffer through `net.connect({ onread })`), UTF-8
 * validation or per-message events. It supports what the chat servers send:
 * unfragmented or fragmented text/binary messages, ping (answered with pong), close (answered
 * and the socket ended). No extensions (no permessage-deflate is offered). `bench/load.ts`
 * can use `ws` instead (LOAD_CLIENT=ws) to cross-check the counts.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/** Read buffer shared by every {@link RawWebSocket} of the process (reads are handled synchronously, one at a time). */
const sharedReadBuffer = Buffer.allocUnsafe(256 * 1024);

/** Callbacks of a {@link RawWebSocket}. */
export interface RawWebSocketHandlers {
  /** The handshake completed (HTTP 101 with the right Sec-WebSocket-Accept). */
  onOpen(): void;
  /**
   * A complete text (or binary) message: `buf[start..end)`. `buf` is only valid during the call
   * (it is the shared read buffer, which also holds other frames: read only inside the range).
   */
  onMessage(buf: Buffer, start: number, end: number): void;
  /** The connection ended; `code` is the peer's close code (1006 when there was no close frame). */
  onClose(code: number, reason: string): void;
  /** A socket or handshake error (onClose follows). */
  onError(err: Error): void;
}

/** One client connection; see the module comment. */
export class RawWebSocket {
  private readonly socket: net.Socket;
  private readonly key = randomBytes(16).toString('base64');
  private open = false;
  private handshaken = false;
  private closed = false;
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private closeCode = 1006;
  private closeReason = '';

  /**
   * Connects to `url` (`ws://host:port/path`; `wss` is not supported) and starts the handshake.
   * @throws TypeError when the URL is not `ws:`.
   */
  constructor(url: string, private readonly handlers: RawWebSocketHandlers) {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new TypeError(`RawWebSocket supports ws: URLs only, got ${url}`);
    const port = Number(u.port || 80);
    // `onread` (Node >= 12.x): data goes straight from libuv into a buffer shared by every
    // socket of the process, with no Readable-stream machinery and no allocation per read.
    this.socket = net.connect({
      host: u.hostname, port,
      onread: { buffer: sharedReadBuffer, callback: (nread: number, buf: Uint8Array): boolean => { this.onData(buf as Buffer, nread); return true; } },
    });
    this.socket.setNoDelay(true);
    this.socket.once('connect', () => {
      this.socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.socket.on('error', (err) => this.handlers.onError(err));
    this.socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      const why = this.closeCode === 1006 ? `no close frame; ${this.handshaken ? 'after' : 'before'} the handshake, ${this.socket.bytesRead} bytes read` : this.closeReason;
      this.open = false;
      this.handlers.onClose(this.closeCode, why);
    });
  }

  /** True between the handshake and the close. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Sends one masked text frame (RFC 6455 5.2, 5.3). Ignored when not open. */
  send(text: string): void {
    if (!this.open) return;
    this.socket.write(frame(0x1, Buffer.from(text, 'utf8')));
  }

  /** Sends a close frame (1000) and ends the socket; destroys it if the peer does not finish within 2 s. */
  close(): void {
    if (this.closed) return;
    if (this.open) {
      const body = Buffer.alloc(2);
      body.writeUInt16BE(1000);
      this.socket.end(frame(0x8, body));
      this.open = false;
    } else {
      this.socket.destroy();
    }
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Destroys the socket at once (no close frame). */
  terminate(): void {
    this.socket.destroy();
  }

  /** `shared[0..nread)` is new data; `shared` is reused for the next read of any socket, so whatever is kept is copied. */
  private onData(shared: Buffer, nread: number): void {
    let buf = this.pending ? Buffer.concat([this.pending, shared.subarray(0, nread)]) : shared.subarray(0, nread);
    this.pending = null;
    if (!this.open) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = Buffer.from(buf);
        return;
      }
      const head = buf.subarray(0, end).toString('latin1');
      const accept = createHash('sha1').update(this.key + WS_GUID).digest('base64');
      if (!/^HTTP\/1\.1 101 /.test(head) || !new RegExp(`\r\nsec-websocket-accept: *${accept.replace(/[+/=]/g, '\\$&')}`, 'i').test(head)) {
        this.handlers.onError(new Error(`WebSocket handshake refused: ${head.split('\r\n')[0] ?? ''}`));
        this.socket.destroy();
        return;
      }
      this.open = true;
      this.handshaken = true;
      this.handlers.onOpen();
      buf = buf.subarray(end + 4);
    }
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
        hdr = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) hdr += 4;
      if (n - off < hdr + len) break;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (!masked && fin && (opcode === 0x1 || opcode === 0x2)) {
        // The hot path: a whole unmasked message, handed over in place.
        const start = off + hdr;
        off = start + len;
        this.handlers.onMessage(buf, start, off);
        if (this.closed) return;
        continue;
      }
      let payload = buf.subarray(off + hdr, off + hdr + len);
      if (masked) {
        // A server must not mask (RFC 6455 5.1); unmask a copy anyway rather than misread it.
        const mask = buf.subarray(off + hdr - 4, off + hdr);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      }
      off += hdr + len;
      this.onFrame(opcode, fin, payload);
      if (this.closed) return;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
  }

  private onFrame(opcode: number, fin: boolean, payload: Buffer): void {
    switch (opcode) {
      case 0x0: // continuation
        if (!this.fragments) return;
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.handlers.onMessage(whole, 0, whole.length);
        }
        return;
      case 0x1:
      case 0x2:
        if (fin) this.handlers.onMessage(payload, 0, payload.length);
        else this.fragments = [Buffer.from(payload)];
        return;
      case 0x8:
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.subarray(2).toString('utf8');
        if (this.open) {
          this.open = false;
          this.socket.end(frame(0x8, payload.subarray(0, 2)));
        }
        return;
      case 0x9:
        this.socket.write(frame(0xa, payload));
        return;
      default: // pong and reserved opcodes: nothing to do
        return;
    }
  }
}

/** A masked client frame with FIN set: header, 4-byte mask key, masked payload (RFC 6455 5.2). */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const mask = randomBytes(4);
  mask.copy(out, hdr);
  for (let i = 0; i < len; i++) out[hdr + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}
