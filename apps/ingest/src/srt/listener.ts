/**
 * The SRT listener of an ingest node: libsrt (Debian's `libsrt1.5-gnutls`, bound with koffi in
 * libsrt.ts) in live mode with the configured latency and optional passphrase (AES; a caller
 * with a wrong or missing passphrase is rejected in the handshake by libsrt itself). Sockets are
 * non-blocking and polled from the event loop (srt_epoll_uwait with a 0 ms timeout every
 * `pollIntervalMs`, at once again while data keeps coming), so no libsrt call blocks Node and no
 * libsrt thread calls into JavaScript. Each accepted socket becomes an {@link SrtConnection}
 * (connection.ts) publishing through the gate. Bounds: connections per address and in total
 * (closed right after accept), and the per-connection limits of connection.ts. Metrics (on the
 * node's registry): `ingest_srt_connections`, `ingest_srt_connections_closed_total{reason}`,
 * `ingest_srt_packets_lost_total`, `ingest_srt_packets_dropped_total` (srt_bstats receiver
 * totals of ended connections plus the open ones' last reading).
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PublishSessions } from '../publish-session.js';
import { DEFAULT_SRT_CONNECTION_LIMITS, openSrtConnection, type SrtCloseReason, type SrtConnection, type SrtConnectionLimits } from './connection.js';
import { addressOfSockaddr, loadLibsrt, SRT_EPOLL_ERR, SRT_EPOLL_IN, SRTO, SRTT_LIVE, type Libsrt, type SrtReceiveStats, type SrtSocket } from './libsrt.js';

/** Bounds of the SRT listener. */
export interface SrtLimits extends SrtConnectionLimits {
  /** Most SRT connections open at once on the node. */
  readonly maxConnections: number;
  /** Most SRT connections open at once from one address. */
  readonly maxConnectionsPerAddress: number;
}

/** Defaults of {@link SrtLimits}. */
export const DEFAULT_SRT_LIMITS: SrtLimits = { ...DEFAULT_SRT_CONNECTION_LIMITS, maxConnections: 200, maxConnectionsPerAddress: 10 };

/** Options of {@link startSrtListener}. */
export interface SrtListenerOptions {
  /** UDP port (0 picks a free one) and the IP address to bind (an IP literal: `0.0.0.0`, `::`, `127.0.0.1`). */
  readonly port: number;
  readonly host: string;
  /** SRT receiver latency (SRTO_LATENCY), ms; the larger of both sides' wins. */
  readonly latencyMs: number;
  /** SRTO_PASSPHRASE (10–79 characters): callers must encrypt with it. Unset: no encryption. */
  readonly passphrase?: string;
  readonly limits?: Partial<SrtLimits>;
  readonly sessions: PublishSessions;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Poll period while idle, ms (default 10). */
  readonly pollIntervalMs?: number;
}

/** A running SRT listener. */
export interface SrtListener {
  /** The bound UDP port. */
  readonly port: number;
  /** Open connections. */
  connections(): number;
  /** Closes every connection (their publishes end `disconnected`) and the listening socket. */
  close(): Promise<void>;
}

const CLEAN_CLOSE_MS = 1500;
const READS_PER_TURN = 512;

/**
 * Binds the listener (see the module comment).
 * @throws SrtError when libsrt is missing or the port cannot be bound, or the passphrase is refused.
 */
export function startSrtListener(opts: SrtListenerOptions): SrtListener {
  const srt = loadLibsrt();
  const limits: SrtLimits = { ...DEFAULT_SRT_LIMITS, ...opts.limits };
  const listener = srt.createSocket();
  const eid = srt.epollCreate();
  try {
    srt.setInt(listener, SRTO.TRANSTYPE, SRTT_LIVE);
    srt.setInt(listener, SRTO.LATENCY, opts.latencyMs);
    if (opts.passphrase) srt.setString(listener, SRTO.PASSPHRASE, opts.passphrase);
    srt.bindListen(listener, opts.host, opts.port, 64);
    srt.epollAdd(eid, listener, SRT_EPOLL_IN | SRT_EPOLL_ERR);
  } catch (err) {
    srt.close(listener);
    srt.epollRelease(eid);
    throw err;
  }
  const port = srt.localPort(listener);
  const open = new Map<SrtSocket, OpenSocket>();
  const perAddress = new Map<string, number>();
  const metrics = srtMetrics(opts.registry, open);
  const buf = Buffer.alloc(1500);
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  let stopped = false;

  const drop = (s: SrtSocket, reason: SrtCloseReason) => {
    const o = open.get(s);
    if (!o) return;
    open.delete(s);
    const n = (perAddress.get(o.address) ?? 1) - 1;
    if (n > 0) perAddress.set(o.address, n);
    else perAddress.delete(o.address);
    o.stats = srt.receiveStats(s) ?? o.stats;
    metrics.ended(o);
    metrics.closed.inc({ reason });
    srt.epollRemove(eid, s);
    srt.close(s);
  };

  const accept = () => {
    for (;;) {
      const a = srt.accept(listener);
      if (!a) return;
      const address = addressOfSockaddr(a.peer) ?? 'unknown';
      const cap = open.size >= limits.maxConnections ? 'total' : (perAddress.get(address) ?? 0) >= limits.maxConnectionsPerAddress ? 'per_address' : undefined;
      if (cap) {
        opts.logger.warn({ remoteAddress: address, cap }, 'SRT connection over the cap; closed');
        metrics.closed.inc({ reason: cap });
        srt.close(a.socket);
        continue;
      }
      const o: OpenSocket = { address, lastData: Date.now(), reading: true, connection: undefined, stats: undefined };
      open.set(a.socket, o);
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      srt.epollAdd(eid, a.socket, SRT_EPOLL_IN | SRT_EPOLL_ERR);
      o.connection = openSrtConnection(srt.streamId(a.socket), address, {
        sessions: opts.sessions, logger: opts.logger, limits,
        setReading: (reading) => setReading(a.socket, reading),
        onClose: (reason) => queueMicrotask(() => drop(a.socket, reason)),
      });
    }
  };

  const setReading = (s: SrtSocket, reading: boolean) => {
    const o = open.get(s);
    if (!o || o.reading === reading) return;
    o.reading = reading;
    if (!reading) return srt.epollRemove(eid, s);
    try {
      srt.epollAdd(eid, s, SRT_EPOLL_IN | SRT_EPOLL_ERR);
    } catch (err) {
      // The socket is gone (closed by libsrt): its connection ends as disconnected.
      opts.logger.debug({ err }, 'SRT socket could not be polled again');
      o.connection?.broken(false);
    }
  };

  const poll = () => {
    timer = undefined;
    if (stopped) return;
    let more = false;
    try {
      for (const ev of srt.epollPoll(eid)) {
        if (ev.socket === listener) {
          accept();
          continue;
        }
        const o = open.get(ev.socket);
        const r = o ? readSocket(srt, ev.socket, o, buf) : 'idle';
        if (r === 'more') more = true;
        else if (r === 'broken') setReading(ev.socket, false);
      }
      metrics.sample(srt);
    } catch (err) {
      // A libsrt call failed unexpectedly (not "nothing yet"): logged; the loop goes on.
      opts.logger.error({ err }, 'SRT poll failed');
    }
    timer = more ? setImmediate(poll) : setTimeout(poll, opts.pollIntervalMs ?? 10);
  };
  poll();
  opts.logger.info({ port, host: opts.host, latencyMs: opts.latencyMs, encrypted: !!opts.passphrase }, 'SRT listener started');

  return {
    port,
    connections: () => open.size,
    async close() {
      stopped = true;
      if (timer) {
        clearTimeout(timer as NodeJS.Timeout);
        clearImmediate(timer as NodeJS.Immediate);
      }
      for (const [s, o] of [...open]) {
        o.connection?.close();
        drop(s, 'ended');
      }
      srt.epollRelease(eid);
      srt.close(listener);
    },
  };
}

interface OpenSocket {
  readonly address: string;
  lastData: number;
  reading: boolean;
  connection: SrtConnection | undefined;
  stats: SrtReceiveStats | undefined;
}

/** Reads what one socket has (at most READS_PER_TURN messages): `more` when it may have more. */
function readSocket(srt: Libsrt, s: SrtSocket, o: OpenSocket, buf: Buffer): 'more' | 'idle' | 'broken' {
  for (let i = 0; i < READS_PER_TURN; i++) {
    if (!o.reading) return 'idle';
    const n = srt.recv(s, buf);
    if (n > 0) {
      o.lastData = Date.now();
      o.connection?.data(Buffer.from(buf.subarray(0, n)));
      continue;
    }
    if (n < 0) {
      // Broken: the caller closed (SRT shutdown, right after its last data) or went silent (peer idle timeout).
      o.connection?.broken(Date.now() - o.lastData < CLEAN_CLOSE_MS);
      return 'broken';
    }
    return 'idle';
  }
  return 'more';
}

function srtMetrics(registry: Registry, open: ReadonlyMap<SrtSocket, OpenSocket>) {
  const closed = new Counter({ name: 'ingest_srt_connections_closed_total', help: 'SRT connections closed by the node, by reason (total, per_address: over a cap at accept; bad_stream_id; refused: the key; not_mpegts; idle_timeout; start_timeout; buffer_overflow; kicked; ended: the publish ended)', labelNames: ['reason'], registers: [registry] });
  for (const reason of ['total', 'per_address', 'bad_stream_id', 'refused', 'not_mpegts', 'idle_timeout', 'start_timeout', 'buffer_overflow', 'kicked', 'ended']) closed.inc({ reason }, 0);
  const ended = { lost: 0, dropped: 0 };
  const sum = (field: 'packetsLost' | 'packetsDropped') => [...open.values()].reduce((n, o) => n + (o.stats?.[field] ?? 0), 0);
  new Gauge({ name: 'ingest_srt_connections', help: 'Open SRT connections counted against the caps', registers: [registry], collect() { this.set(open.size); } });
  new Counter({ name: 'ingest_srt_packets_lost_total', help: 'SRT packets the node\'s receivers reported lost (srt_bstats pktRcvLossTotal), all connections', registers: [registry], collect() { this.reset(); this.inc(ended.lost + sum('packetsLost')); } });
  new Counter({ name: 'ingest_srt_packets_dropped_total', help: 'SRT packets dropped as too late to play (srt_bstats pktRcvDropTotal), all connections', registers: [registry], collect() { this.reset(); this.inc(ended.dropped + sum('packetsDropped')); } });
  let lastSample = 0;
  return {
    closed,
    /** A connection is closed: its last totals move to the ended sums. */
    ended(o: OpenSocket) {
      ended.lost += o.stats?.packetsLost ?? 0;
      ended.dropped += o.stats?.packetsDropped ?? 0;
    },
    /** Reads the open sockets' receiver totals, at most once a second. */
    sample(srt: Libsrt) {
      const now = Date.now();
      if (now - lastSample < 1000) return;
      lastSample = now;
      for (const [s, o] of open) o.stats = srt.receiveStats(s) ?? o.stats;
    },
  };
}
