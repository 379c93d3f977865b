/**
 * The TLS side of RTMPS: a `node:tls` server that terminates TLS and hands each connection whose
 * handshake completed to the RTMP server, and that logs — as one line, at info — each connection
 * whose TLS handshake failed (untrusted certificate alert, not TLS at all, a client that hangs up
 * or says nothing for `handshakeTimeoutMs`), closing only that connection.
 *
 * RTMPS is RTMP 1.0 carried inside TLS (port 443 or 1936 by convention); once the TLS handshake
 * is done the bytes are those of plain RTMP, starting with the RTMP handshake (§5.2).
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';

/** Options of {@link createTlsAcceptor}. */
export interface TlsAcceptorOptions {
  /** Certificate chain and key (e.g. `loadTlsFiles(...)` of `@live/runtime`). */
  secureContext: SecureContextOptions;
  /** A connection must finish the TLS handshake within this many ms (Node's `handshakeTimeout`). */
  handshakeTimeoutMs: number;
  logger: Logger;
  /**
   * Called with each connection whose TLS handshake completed, and the client's address when a
   * {@link TlsAcceptorOptions.preface} named one; must not throw.
   */
  onSecureConnection(socket: TLSSocket, clientAddress: string | undefined): void;
  /**
   * Called with each TCP connection before its TLS handshake (optional; must not throw): false
   * destroys it at once, unlogged (the caller logs and counts it), so a refused peer costs no
   * TLS work. The caller releases whatever it keeps per connection on the socket's `close`.
   * `clientAddress`: as for `onSecureConnection`.
   */
  admit?(raw: Socket, clientAddress: string | undefined): boolean;
  /**
   * Called with each TCP connection before anything else (optional; must not throw), to read
   * what precedes TLS (a PROXY protocol header): it calls `proceed` once with the client's
   * address (or none), leaving any bytes after the preface unread (`socket.unshift`), or
   * destroys the socket. With it, {@link TlsAcceptor.listener} is a plain TCP server in front
   * of the TLS one.
   */
  preface?(raw: Socket, proceed: (clientAddress?: string) => void): void;
}

/** A TLS server in front of the RTMP sessions (see {@link createTlsAcceptor}). */
export interface TlsAcceptor {
  /** The `tls.Server`; `setSecureContext` is called on it by the owner. */
  readonly server: Server;
  /** The server the owner calls `listen`/`close` on: the TLS server, or the TCP server reading a preface in front of it. */
  readonly listener: NetServer;
  /** Destroys the connections still in their TLS handshake (server shutdown). */
  destroyHandshaking(): void;
}

interface Pending {
  raw: Socket;
  /** The client's address: from the preface, else the peer's. */
  remoteAddress: string;
  /** The address the preface named, if any. */
  clientAddress: string | undefined;
  /** Handshake completed: the RTMP session owns the connection and its log lines. */
  secured: boolean;
  /** A handshake failure line was written for this connection. */
  logged: boolean;
}

/** First line of an OpenSSL error, without its `8000F...:error:0A00010B:SSL routines:` prefix. */
function shortReason(err: Error): string {
  const m = /:SSL routines:[^:]*:([^:]+)/.exec(err.message);
  return (m?.[1] ?? err.message).split('\n')[0]!.slice(0, 200);
}

const keyOf = (address: string | undefined, port: number | undefined): string | undefined =>
  address !== undefined && port !== undefined ? `${address}|${port}` : undefined;

/**
 * Creates the TLS server of an RTMPS listener. Bookkeeping per TCP connection (keyed by the
 * peer's address and port, which identify a live connection to one listening socket): a failed
 * handshake is logged once, at info, as `RTMPS TLS handshake failed` with `remoteAddress`,
 * `reason` (Node's error code, e.g. `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, `ERR_SSL_WRONG_VERSION_NUMBER`,
 * `ERR_TLS_HANDSHAKE_TIMEOUT`, or `ECONNRESET` for a peer that hung up) and `detail`; the socket
 * is destroyed. Other connections are never affected.
 */
export function createTlsAcceptor(opts: TlsAcceptorOptions): TlsAcceptor {
  const { logger } = opts;
  const pending = new Map<string, Pending>();

  const fail = (p: Pending, reason: string, detail: string): void => {
    if (p.logged || p.secured) return;
    p.logged = true;
    logger.info({ remoteAddress: p.remoteAddress, reason, detail }, 'RTMPS TLS handshake failed');
  };

  const server = createServer({ ...opts.secureContext, handshakeTimeout: opts.handshakeTimeoutMs, noDelay: true }, (socket) => {
    const key = keyOf(socket.remoteAddress, socket.remotePort);
    const p = key === undefined ? undefined : pending.get(key);
    if (p) {
      p.secured = true;
      pending.delete(key!);
    }
    opts.onSecureConnection(socket, p?.clientAddress);
  });
  // Addresses the preface named, until the TLS server's 'connection' handler takes them.
  const named = new WeakMap<Socket, string>();
  // Connections still in their preface (destroyed at shutdown).
  const inPreface = new Set<Socket>();
  const { preface } = opts;
  const listener: NetServer = preface
    ? createNetServer({ noDelay: true }, (raw) => {
      inPreface.add(raw);
      raw.once('close', () => inPreface.delete(raw));
      preface(raw, (clientAddress) => {
        inPreface.delete(raw);
        if (raw.destroyed) return;
        if (clientAddress !== undefined) named.set(raw, clientAddress);
        server.emit('connection', raw); // Node's TLS socket also reads what the preface left unshifted
      });
    })
    : server;

  // 'connection' carries the TCP socket before the handshake: the only moment its peer address
  // is sure to be readable (a TLSSocket that was reset has none left by the time of the error).
  server.on('connection', (raw: Socket) => {
    const clientAddress = named.get(raw);
    if (opts.admit && !opts.admit(raw, clientAddress)) {
      raw.destroy(); // not in `pending`: the TLS error this causes is only logged at debug
      return;
    }
    const key = keyOf(raw.remoteAddress, raw.remotePort);
    if (key === undefined) return; // already gone
    const p: Pending = { raw, remoteAddress: clientAddress ?? raw.remoteAddress ?? 'unknown', clientAddress, secured: false, logged: false };
    pending.set(key, p);
    logger.debug({ remoteAddress: p.remoteAddress }, 'RTMPS connection accepted; TLS handshake');
    raw.once('close', () => {
      if (pending.get(key) === p) pending.delete(key);
      // A peer that hangs up mid-handshake surfaces as a tlsClientError without an address, after
      // this event: log it here instead, where the address is known.
      fail(p, 'ECONNRESET', 'connection closed during the TLS handshake');
    });
  });

  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    try {
      const key = keyOf(socket.remoteAddress, socket.remotePort);
      const p = key === undefined ? undefined : pending.get(key);
      if (p) fail(p, err.code ?? 'TLS_ERROR', shortReason(err));
      // Otherwise the TCP connection is already closed and its 'close' handler wrote the line.
      else logger.debug({ reason: err.code ?? 'TLS_ERROR', detail: shortReason(err) }, 'RTMPS TLS error after the connection closed');
    } finally {
      // Node does not close the socket on a handshake timeout: do it (idempotent otherwise).
      socket.destroy();
    }
  });

  return {
    server,
    listener,
    destroyHandshaking() {
      for (const raw of inPreface) raw.destroy();
      inPreface.clear();
      for (const p of pending.values()) {
        p.logged = true; // shutdown, not a client failure
        p.raw.destroy();
      }
      pending.clear();
    },
  };
}
