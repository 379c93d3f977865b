/**
 * The RTMP ingest server: one {@link RtmpSession} per connection, accepted on plain RTMP (`net`)
 * and/or RTMPS (`tls`) listeners that share the session registry and the live-channel rule.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { uuidv7 } from './ids.js';
import { ConnectionCounter, normalizeAddress, OffenderLog } from '@live/runtime';
import { createByteBudget, type RtmpLimitReason } from './limits.js';
import { resolveLimits, type RtmpServerOptions } from './options.js';
import { RtmpSession, type RtmpSessionInfo, type RtmpTransport } from './session.js';
import { createTlsAcceptor } from './tls-listener.js';
import { readProxyHeader, type ProxyHeaderError } from '../proxy/read.js';

/** An RTMPS listener started by {@link RtmpServer.listenTls}. */
export interface RtmpTlsListener {
  /** The bound address. */
  readonly address: AddressInfo;
  /**
   * Replaces the certificate/key for connections accepted from now on; established sessions keep
   * theirs (Node.js `tls.Server#setSecureContext`). Fits `applyTlsReloads` of `@live/runtime`.
   * @throws when OpenSSL refuses the options (e.g. a key that does not match the certificate).
   */
  setSecureContext(options: SecureContextOptions): void;
}

/** A running (or not yet listening) RTMP ingest server. */
export interface RtmpServer {
  /**
   * Starts accepting plain RTMP connections on `port` (0 = any free port) and `host` (default
   * all interfaces). May be called more than once (e.g. one listener per interface). Resolves
   * with the bound address; rejects on e.g. EADDRINUSE, or once the server is closed.
   */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Starts accepting RTMPS connections (RTMP inside TLS; port 443 or 1936 by convention) on
   * `port`/`host`, with the certificate chain and key of `tls` (e.g. `loadTlsFiles` of
   * `@live/runtime`). Sessions of every listener share one registry: `sessions()`, `kick()` and
   * "one live publish per channel" span plain and TLS connections alike.
   * The TLS handshake must finish within `limits.handshakeTimeoutMs`, then the RTMP handshake
   * gets the same again. A failed TLS handshake is logged at info as `RTMPS TLS handshake
   * failed` (with `remoteAddress`, `reason`) and closes only that connection.
   * @throws (rejects) on a bind error, when OpenSSL refuses `tls`, or once the server is closed.
   */
  listenTls(port: number, host: string | undefined, tls: SecureContextOptions): Promise<RtmpTlsListener>;
  /**
   * Stops accepting connections on every listener, closes connections still in their TLS
   * handshake, kicks every session (publishes end with reason `kicked`, detail `ingest server
   * shutting down`) and resolves once every socket is closed and every pending
   * `authorizePublish`/`onPublishStarted`/`onPublishEnded` call has settled.
   */
  close(): Promise<void>;
  /** Snapshot of the open sessions, keyed by sessionId (UUIDv7). */
  sessions(): ReadonlyMap<string, RtmpSessionInfo>;
  /**
   * Disconnects a session (its publisher gets an error onStatus first); its publish ends with
   * reason `kicked` and `detail` = `reason`. Returns false for an unknown/closed session.
   */
  kick(sessionId: string, reason: string): boolean;
  /** Current use of the server-wide bounds (for gauges). */
  stats(): RtmpServerStats;
}

/** See {@link RtmpServer.stats}. */
export interface RtmpServerStats {
  /** TCP connections counted against `maxConnections` (RTMPS ones from before their TLS handshake). */
  readonly connections: number;
  /** Bytes all sessions hold in partial RTMP messages (counted against `maxPendingBytes`). */
  readonly pendingBytes: number;
}

/**
 * Creates the RTMP ingest server (RTMP 1.0; see `session.ts` for the command flow); call
 * `listen` and/or `listenTls` to accept connections. Each connection gets a UUIDv7 sessionId,
 * logged as `sessionId` on every line together with `remoteAddress` and `transport`
 * (`rtmp`/`rtmps`). A connection that sends malformed bytes, fails or times out the handshake,
 * or breaks the protocol is closed alone, with `logger.warn({ reason })`. One channelId can be
 * live only once per server, across all its listeners: a second accepted publish for it is
 * refused with ALREADY_LIVE.
 *
 * Server-wide bounds (see {@link RtmpLimits}): connections over `maxConnections` or
 * `maxConnectionsPerAddress` are destroyed at TCP accept (before any handshake, no session);
 * sessions whose partial messages exceed their budget or the node's `maxPendingBytes`, or that
 * have no publish accepted within `unpublishedTimeoutMs`, are closed. Each such connection is
 * reported to `onLimit` and logged at warn as `RTMP connection refused: limit` /
 * `closing RTMP connection: limit` with `reason` (an {@link RtmpLimitReason}) and
 * `remoteAddress` — once per reason and address per `limitLogWindowMs` (once per window in all
 * for the node-wide `total` and `node_pending_bytes`), with `suppressed` counting the
 * occurrences not logged since the previous line.
 *
 * Wiring the HTTP-FLV relay: `createRtmpServer({ ..., mediaSink: createRelay({ logger }) })`.
 */
export function createRtmpServer(opts: RtmpServerOptions): RtmpServer {
  const limits = resolveLimits(opts.limits);
  const sessions = new Map<string, RtmpSession>();
  const liveChannels = new Map<string, string>();
  const inflight = new Set<Promise<unknown>>();
  const listeners: Array<{ server: Server; closeHandshaking?: () => void }> = [];
  let closing = false;
  /** Plain connections still sending their PROXY header (destroyed on close). */
  const readingHeader = new Set<Socket>();
  const counter = new ConnectionCounter({ maxTotal: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerAddress });
  const pendingBudget = createByteBudget(limits.maxPendingBytes);
  const offenders = new OffenderLog({ windowMs: limits.limitLogWindowMs });
  // The bound each reason names (pending_bytes depends on the session's phase: see `detail`).
  const LIMIT_VALUE: Partial<Record<RtmpLimitReason, number>> = {
    per_address: limits.maxConnectionsPerAddress,
    total: limits.maxConnections,
    node_pending_bytes: limits.maxPendingBytes,
    unpublished_timeout: limits.unpublishedTimeoutMs,
  };

  /** Counts (onLimit) and logs, throttled per offender, a connection refused or closed by a bound. */
  const limitHit = (reason: RtmpLimitReason, action: 'refused' | 'closed', address: string, transport: RtmpTransport, detail?: string): void => {
    try {
      opts.onLimit?.({ reason, action, remoteAddress: address, transport });
    } catch (err) {
      opts.logger.error({ err }, 'onLimit failed');
    }
    // Node-wide conditions (the node is full) are one offence whoever hits them: keyed without the
    // address, so a flood from many addresses still writes one line per window.
    const d = offenders.record(reason === 'total' || reason === 'node_pending_bytes' ? reason : `${reason}|${address}`);
    if (!d.log) return;
    opts.logger.warn(
      { reason, remoteAddress: address, transport, limit: LIMIT_VALUE[reason], suppressed: d.suppressed, logWindowMs: limits.limitLogWindowMs, ...(detail !== undefined ? { detail } : {}) },
      action === 'refused' ? 'RTMP connection refused: limit' : 'closing RTMP connection: limit',
    );
  };

  /**
   * Counts a new TCP connection against the connection caps; false (socket destroyed, no slot
   * kept) when over one. The slot is given back when the socket closes.
   */
  const admit = (socket: Socket, transport: RtmpTransport, clientAddress = socket.remoteAddress): boolean => {
    if (closing || socket.destroyed || clientAddress === undefined) {
      socket.destroy(); // shutting down, or the peer is already gone
      return false;
    }
    const address = normalizeAddress(clientAddress);
    const refused = counter.tryOpen(address);
    if (refused !== undefined) {
      socket.destroy();
      limitHit(refused, 'refused', address, transport);
      return false;
    }
    let released = false;
    socket.once('close', () => {
      if (released) return;
      released = true;
      counter.release(address);
    });
    return true;
  };

  const track = (p: Promise<unknown>): void => {
    inflight.add(p);
    const done = (): void => {
      inflight.delete(p);
    };
    p.then(done, done);
  };

  /**
   * Starts a session on `socket`; plain RTMP sockets are admitted here, RTMPS ones before TLS.
   * `clientAddress`: the publisher's address named by a PROXY protocol header (else the peer's).
   */
  const accept = (socket: Socket, transport: RtmpTransport, clientAddress?: string): void => {
    try {
      if (closing) {
        socket.destroy();
        return;
      }
      if (transport === 'rtmp' && !admit(socket, transport, clientAddress ?? socket.remoteAddress)) return;
      const sessionId = uuidv7();
      const remoteAddress = clientAddress ?? socket.remoteAddress ?? 'unknown';
      const session = new RtmpSession(socket, {
        sessionId,
        transport,
        remoteAddress,
        logger: opts.logger.child({ sessionId, remoteAddress, transport }),
        options: opts,
        limits,
        liveChannels,
        track,
        pendingBudget,
        onLimit: (reason, detail) => limitHit(reason, 'closed', normalizeAddress(remoteAddress), transport, detail),
        onClose: () => sessions.delete(sessionId),
      });
      if (!socket.destroyed) sessions.set(sessionId, session);
    } catch (err) {
      opts.logger.error({ err, transport }, 'failed to set up RTMP connection');
      socket.destroy();
    }
  };

  /**
   * Finds the client of a new connection: from a trusted load balancer (`opts.proxyProtocol`)
   * its PROXY protocol header is read first and names the publisher (the socket is left paused,
   * the bytes after the header unread); a connection from there without a valid header within
   * the handshake timeout is closed and logged (once per window and address). Other peers
   * proceed at once, with no address (their own stands).
   */
  const withClient = (socket: Socket, transport: RtmpTransport, proceed: (clientAddress?: string) => void): void => {
    const peer = normalizeAddress(socket.remoteAddress);
    if (!opts.proxyProtocol || closing || !opts.proxyProtocol.trusts(peer)) {
      proceed();
      return;
    }
    socket.on('error', () => undefined); // until the session's own handlers; readProxyHeader reports it
    readingHeader.add(socket);
    socket.once('close', () => readingHeader.delete(socket));
    const reading = readProxyHeader(socket, limits.handshakeTimeoutMs).finally(() => readingHeader.delete(socket)).then(
      (header) => proceed(header.source?.address),
      (err: ProxyHeaderError) => {
        socket.destroy();
        const d = offenders.record(`proxy_header|${peer}`);
        if (d.log) opts.logger.warn({ remoteAddress: peer, transport, reason: err.reason, suppressed: d.suppressed }, 'closing RTMP connection: no valid PROXY protocol header from the load balancer');
      },
    );
    track(reading);
  };

  /** A plain RTMP connection (see {@link withClient}). */
  const acceptPlain = (socket: Socket): void => withClient(socket, 'rtmp', (clientAddress) => {
    accept(socket, 'rtmp', clientAddress);
    socket.resume(); // a header read left it paused: the session's 'data' handler is attached now
  });

  const bind = (server: Server, port: number, host: string | undefined): Promise<AddressInfo> =>
    new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve(server.address() as AddressInfo);
      });
    });

  return {
    async listen(port, host) {
      if (closing) throw new Error('RTMP server is closed');
      const server = createServer({ noDelay: true }, acceptPlain);
      server.on('error', (err) => opts.logger.error({ err }, 'RTMP server error'));
      listeners.push({ server });
      const addr = await bind(server, port, host);
      opts.logger.info({ port: addr.port, host: addr.address }, 'RTMP ingest listening');
      return addr;
    },
    async listenTls(port, host, tls) {
      if (closing) throw new Error('RTMP server is closed');
      const acceptor = createTlsAcceptor({
        secureContext: tls,
        handshakeTimeoutMs: limits.handshakeTimeoutMs,
        logger: opts.logger.child({ transport: 'rtmps' }),
        onSecureConnection: (socket, clientAddress) => accept(socket, 'rtmps', clientAddress),
        admit: (raw, clientAddress) => admit(raw, 'rtmps', clientAddress ?? raw.remoteAddress),
        ...(opts.proxyProtocol ? { preface: (raw: Socket, proceed: (clientAddress?: string) => void) => withClient(raw, 'rtmps', proceed) } : {}),
      });
      const { server, listener } = acceptor;
      server.on('error', (err) => opts.logger.error({ err }, 'RTMPS server error'));
      if (listener !== server) listener.on('error', (err) => opts.logger.error({ err }, 'RTMPS server error'));
      listeners.push({ server: listener, closeHandshaking: () => acceptor.destroyHandshaking() });
      const address = await bind(listener, port, host);
      opts.logger.info({ port: address.port, host: address.address }, 'RTMPS ingest listening');
      return {
        address,
        setSecureContext: (options) => server.setSecureContext(options),
      };
    },
    async close() {
      closing = true;
      const closed = listeners
        .filter((l) => l.server.listening)
        .map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
      for (const l of listeners) l.closeHandshaking?.();
      for (const socket of readingHeader) socket.destroy();
      for (const s of [...sessions.values()]) s.kick('ingest server shutting down');
      await Promise.all(closed);
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
    sessions() {
      return new Map([...sessions].map(([id, s]) => [id, s.info()]));
    },
    kick(sessionId, reason) {
      return sessions.get(sessionId)?.kick(reason) ?? false;
    },
    stats() {
      return { connections: counter.total, pendingBytes: pendingBudget.used };
    },
  };
}
