/** The RTMP ingest server: a `net` server running one {@link RtmpSession} per TCP connection. */
import { createServer, type AddressInfo } from 'node:net';
import { uuidv7 } from './ids.js';
import { resolveLimits, type RtmpServerOptions } from './options.js';
import { RtmpSession, type RtmpSessionInfo } from './session.js';

/** A running (or not yet listening) RTMP ingest server. */
export interface RtmpServer {
  /**
   * Starts accepting RTMP connections on `port` (0 = any free port) and `host` (default all
   * interfaces). Resolves with the bound address; rejects on e.g. EADDRINUSE.
   */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections, kicks every session (publishes end with reason `kicked`,
   * detail `ingest server shutting down`) and resolves once every socket is closed and every
   * pending `authorizePublish`/`onPublishStarted`/`onPublishEnded` call has settled.
   */
  close(): Promise<void>;
  /** Snapshot of the open sessions, keyed by sessionId (UUIDv7). */
  sessions(): ReadonlyMap<string, RtmpSessionInfo>;
  /**
   * Disconnects a session (its publisher gets an error onStatus first); its publish ends with
   * reason `kicked` and `detail` = `reason`. Returns false for an unknown/closed session.
   */
  kick(sessionId: string, reason: string): boolean;
}

/**
 * Creates the RTMP ingest server (RTMP 1.0; see `session.ts` for the command flow). Each TCP
 * connection gets a UUIDv7 sessionId, logged as `sessionId` on every line together with
 * `remoteAddress`. A connection that sends malformed bytes, fails or times out the handshake, or
 * exceeds a limit is closed alone, with `logger.warn({ reason })`. One channelId can be live only
 * once per server: a second accepted publish for it is refused with ALREADY_LIVE.
 *
 * Wiring the HTTP-FLV relay: `createRtmpServer({ ..., mediaSink: createRelay({ logger }) })`.
 */
export function createRtmpServer(opts: RtmpServerOptions): RtmpServer {
  const limits = resolveLimits(opts.limits);
  const sessions = new Map<string, RtmpSession>();
  const liveChannels = new Map<string, string>();
  const inflight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    inflight.add(p);
    const done = (): void => {
      inflight.delete(p);
    };
    p.then(done, done);
  };

  const server = createServer({ noDelay: true }, (socket) => {
    try {
      const sessionId = uuidv7();
      const remoteAddress = socket.remoteAddress ?? 'unknown';
      const session = new RtmpSession(socket, {
        sessionId,
        logger: opts.logger.child({ sessionId, remoteAddress }),
        options: opts,
        limits,
        liveChannels,
        track,
        onClose: () => sessions.delete(sessionId),
      });
      if (!socket.destroyed) sessions.set(sessionId, session);
    } catch (err) {
      opts.logger.error({ err }, 'failed to set up RTMP connection');
      socket.destroy();
    }
  });
  server.on('error', (err) => opts.logger.error({ err }, 'RTMP server error'));

  return {
    listen(port, host) {
      return new Promise<AddressInfo>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const addr = server.address() as AddressInfo;
          opts.logger.info({ port: addr.port, host: addr.address }, 'RTMP ingest listening');
          resolve(addr);
        });
      });
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of [...sessions.values()]) s.kick('ingest server shutting down');
      if (server.listening) await closed;
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
    sessions() {
      return new Map([...sessions].map(([id, s]) => [id, s.info()]));
    },
    kick(sessionId, reason) {
      return sessions.get(sessionId)?.kick(reason) ?? false;
    },
  };
}
