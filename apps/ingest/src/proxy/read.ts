/**
 * Reading the PROXY protocol header ({@link parseProxyHeader}) off a freshly accepted socket,
 * before the protocol it carries (RTMP) sees a byte.
 */
import type { Socket } from 'node:net';
import { parseProxyHeader, PROXY_V2_MAX_PAYLOAD, type ProxyEndpoint } from './header.js';

/** The header was missing, malformed, late or cut off; `reason` is for the log line. */
export class ProxyHeaderError extends Error {
  override readonly name = 'ProxyHeaderError';
  constructor(readonly reason: string) {
    super(`PROXY protocol header: ${reason}`);
  }
}

/** What {@link readProxyHeader} read. */
export interface ProxyHeaderRead {
  /** The client named by the header; undefined for `LOCAL`/`UNKNOWN` (the peer itself stands). */
  readonly source?: ProxyEndpoint;
}

/**
 * Reads one PROXY protocol header (v1 or v2) from `socket` and gives back, with
 * `socket.unshift`, whatever followed it in the same reads, so the next reader gets the
 * connection's own bytes from the first. The socket is left paused (explicitly: a new 'data'
 * listener does not resume it): the caller attaches its reader, then calls `socket.resume()`.
 * @param timeoutMs the header must be complete within this many ms.
 * @throws {ProxyHeaderError} on a missing or malformed header, on a timeout, or when the peer
 *   closes or errors first; the socket is not destroyed (the caller decides, and logs).
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeaderRead> {
  return new Promise<ProxyHeaderRead>((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: ProxyHeaderError | null, value?: ProxyHeaderRead): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.kind === 'incomplete') {
        if (buf.length > 16 + PROXY_V2_MAX_PAYLOAD) finish(new ProxyHeaderError('too long'));
        return;
      }
      if (r.kind === 'invalid') {
        finish(new ProxyHeaderError(r.reason));
        return;
      }
      finish(null, r.source ? { source: r.source } : {});
      if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
    };
    const onEnd = (): void => finish(new ProxyHeaderError('connection closed before the header'));
    const onError = (err: NodeJS.ErrnoException): void => finish(new ProxyHeaderError(`socket error ${err.code ?? err.message}`));
    const timer = setTimeout(() => finish(new ProxyHeaderError(`no complete header within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}
