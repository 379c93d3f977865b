/**
 * A scripted RTMP client for tests: does the simple handshake, sends chunked messages and
 * collects what the server answers (decoded with the production ChunkDecoder).
 */
import { connect, type Socket } from 'node:net';
import { ChunkDecoder, decodeAmf0, encodeAmf0, encodeMessage, type AmfValue, type RtmpMessage } from '../../src/rtmp/index.js';

export class TestRtmpClient {
  readonly messages: RtmpMessage[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new ChunkDecoder();
  private waiters: Array<() => void> = [];
  private isClosed = false;
  private chunkSize = 128;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.isClosed = true;
      this.wake();
      resolve();
    }));
    socket.on('error', () => undefined);
  }

  /**
   * Opens a TCP connection; with `handshake` (default) completes the RTMP handshake.
   * `opts.localAddress`: the address to connect from (another loopback address, e.g. 127.0.0.3);
   * `opts.prefix`: bytes sent first, before the handshake (a PROXY protocol header).
   */
  static async open(port: number, handshake = true, opts: { localAddress?: string; prefix?: Buffer } = {}): Promise<TestRtmpClient> {
    const socket = connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new TestRtmpClient(socket);
    if (opts.prefix) socket.write(opts.prefix);
    if (handshake) await client.handshake();
    return client;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async handshake(): Promise<void> {
    const c1 = Buffer.alloc(1536, 7);
    this.socket.write(Buffer.concat([Buffer.from([3]), c1]));
    const s0s1s2 = await this.readRaw(1 + 1536 * 2);
    this.socket.write(s0s1s2.subarray(1, 1537)); // C2 = echo of S1
    this.socket.on('data', (d: Buffer) => {
      try {
        this.messages.push(...this.decoder.push(d));
      } catch {
        this.socket.destroy();
      }
      this.wake();
    });
    if (this.pendingRaw.length) {
      const rest = this.pendingRaw;
      this.pendingRaw = Buffer.alloc(0);
      this.messages.push(...this.decoder.push(rest));
    }
  }

  private pendingRaw = Buffer.alloc(0);
  private readRaw(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer): void => {
        this.pendingRaw = Buffer.concat([this.pendingRaw, d]);
        if (this.pendingRaw.length >= n) {
          this.socket.off('data', onData);
          const out = this.pendingRaw.subarray(0, n);
          this.pendingRaw = this.pendingRaw.subarray(n);
          resolve(out);
        }
      };
      this.socket.on('data', onData);
      this.socket.once('close', () => reject(new Error('closed during handshake')));
    });
  }

  write(buf: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  send(typeId: number, payload: Buffer, opts: { csid?: number; streamId?: number; timestamp?: number } = {}): void {
    this.write(encodeMessage({ chunkStreamId: opts.csid ?? 3, timestamp: opts.timestamp ?? 0, typeId, messageStreamId: opts.streamId ?? 0, payload }, this.chunkSize));
  }

  setChunkSize(size: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(size, 0);
    this.send(1, b, { csid: 2 });
    this.chunkSize = size;
  }

  command(name: string, txId: number, ...rest: AmfValue[]): void {
    this.send(20, encodeAmf0(name, txId, ...rest));
  }

  streamCommand(streamId: number, name: string, txId: number, ...rest: AmfValue[]): void {
    this.send(20, encodeAmf0(name, txId, ...rest), { csid: 8, streamId });
  }

  /** Waits for a message satisfying `pred` (already received ones count). */
  async waitFor(pred: (m: RtmpMessage) => boolean, timeoutMs = 10_000): Promise<RtmpMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(pred);
      if (found) return found;
      if (this.isClosed) throw new Error('connection closed while waiting');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for a command message named `name` (optionally with a transaction id) and decodes it. */
  async waitForCommand(name: string, txId?: number, timeoutMs?: number): Promise<AmfValue[]> {
    const m = await this.waitFor((m) => {
      if (m.typeId !== 20) return false;
      const v = decodeAmf0(m.payload);
      return v[0] === name && (txId === undefined || v[1] === txId);
    }, timeoutMs);
    return decodeAmf0(m.payload);
  }

  /** Waits for an onStatus and returns its info object. */
  async waitForStatus(timeoutMs?: number): Promise<Record<string, AmfValue>> {
    const v = await this.waitForCommand('onStatus', undefined, timeoutMs);
    return v[3] as Record<string, AmfValue>;
  }

  /** connect → _result, releaseStream, FCPublish, createStream → stream id. */
  async connectAndCreateStream(app = 'live', key = 'good-key'): Promise<number> {
    this.setChunkSize(4096);
    this.command('connect', 1, { app, type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl: `rtmp://127.0.0.1/${app}` });
    await this.waitForCommand('_result', 1);
    this.command('releaseStream', 2, null, key);
    this.command('FCPublish', 3, null, key);
    this.command('createStream', 4, null);
    const res = await this.waitForCommand('_result', 4);
    return res[3] as number;
  }

  close(): void {
    this.socket.destroy();
  }
}
