/**
 * Per-viewer throughput for `CMSD-Dynamic` (cmsd.ts): while media is being asked for, the edge
 * reads its connections' TCP statistics once a second with iproute2's `ss` (tcp-info.ts) and
 * keeps, per viewer address (`normalizeAddress`), the header its answers carry: the largest
 * delivery rate of that address's connections to the edge's port and their smallest round-trip
 * time. The kernel's figures are what the edge can honestly say: it does not time its own writes,
 * which the socket buffers absorb.
 *
 * Without `ss` (not Linux, or iproute2 missing) it logs once and the answers carry no header.
 */
import { execFile } from 'node:child_process';
import { normalizeAddress } from '@live/runtime';
import { renderCmsdDynamic } from './cmsd.js';
import { parseSsTcpInfo, type TcpConnectionInfo } from './tcp-info.js';

/** The `CMSD-Dynamic` values of the viewers connected now. */
export interface ViewerThroughput {
  /**
   * The header value for an answer on a TCP connection from `peer` (the socket's address in any
   * form Node or uWS gives it) to the client `clientIp` (`request.ip`), or undefined: when the
   * two differ (a proxy is between, and the edge's figures would describe the proxy's
   * connection), before {@link start}, or when the last reading has none for the address or is
   * older than three intervals. Asking keeps the readings going. Never throws.
   */
  headerFor(peer: string, clientIp: string): string | undefined;
  /** Starts reading the connections to local port `port` (the viewers' port, once listening). */
  start(port: number): void;
  /** Stops reading (idempotent). */
  close(): void;
}

/** Options of {@link createViewerThroughput}. */
export interface ViewerThroughputOptions {
  /** The server identifier of the header (an sf-string; printable ASCII). */
  readonly serverId: string;
  /** Between readings, ms (default 1000). */
  readonly intervalMs?: number;
  /** Reads the connections' statistics (default: runs `ss`); rejects when it cannot. */
  readonly read?: (port: number) => Promise<string>;
  /** The clock, ms (default `Date.now`). */
  readonly now?: () => number;
  readonly log: { warn(obj: object, msg: string): void };
}

/** Least time between readings when a viewer asked about is missing from the last one, ms. */
const MISS_READ_GAP_MS = 200;

/** Runs `ss -tinH state established sport = :<port>` (2 s timeout, 64 MiB of output at most). */
export function readSsTcpInfo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-tinH', 'state', 'established', 'sport', '=', `:${port}`], { timeout: 2000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout);
    });
  });
}

/**
 * The header value per viewer address from one reading: per address, the largest delivery rate
 * of its connections and the smallest round-trip time among them; addresses with no delivery
 * rate yet are left out. Pure.
 */
export function headersByAddress(connections: readonly TcpConnectionInfo[], serverId: string): Map<string, string> {
  const best = new Map<string, { rate: number; rtt: number | undefined }>();
  for (const c of connections) {
    if (c.deliveryRateBps === undefined) continue;
    const seen = best.get(c.peer);
    if (!seen) {
      best.set(c.peer, { rate: c.deliveryRateBps, rtt: c.rttMs });
      continue;
    }
    seen.rate = Math.max(seen.rate, c.deliveryRateBps);
    if (c.rttMs !== undefined) seen.rtt = seen.rtt === undefined ? c.rttMs : Math.min(seen.rtt, c.rttMs);
  }
  const out = new Map<string, string>();
  for (const [peer, { rate, rtt }] of best) out.set(peer, renderCmsdDynamic(serverId, { throughputBps: rate, rttMs: rtt }));
  return out;
}

/**
 * Makes the readings, idle until {@link ViewerThroughput.start}: then a reading runs at most once
 * per interval, and only when a header was asked for since the last one (an idle edge spawns
 * nothing); when a viewer is missing from the last reading, at most every 200 ms. A failed
 * reading is logged (once while failures repeat) and retried; `ENOENT` (no `ss`) stops the
 * readings for good.
 */
export function createViewerThroughput(opts: ViewerThroughputOptions): ViewerThroughput {
  const intervalMs = opts.intervalMs ?? 1000;
  const read = opts.read ?? readSsTcpInfo;
  const clock = opts.now ?? Date.now;
  let port: number | undefined;
  let headers = new Map<string, string>();
  /** `headers` by the raw address text asked with (normalized once per reading, not per request) */
  let byRaw = new Map<string, string | undefined>();
  let readAt = 0;
  let asked = false;
  let reading = false;
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;

  const readNow = (at: number): void => {
    reading = true;
    asked = false;
    read(at).then((text) => {
      headers = headersByAddress(parseSsTcpInfo(text), opts.serverId);
      byRaw = new Map();
      readAt = clock();
      failing = false;
    }, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        stopped = true;
        opts.log.warn({}, 'edge: `ss` (iproute2) not found: answers carry no CMSD-Dynamic throughput');
      } else if (!failing) {
        failing = true;
        opts.log.warn({ err: err.message }, 'edge: reading TCP statistics with `ss` failed; retrying');
      }
    }).finally(() => {
      reading = false;
      if (stopped) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (asked && !stopped) readNow(at);
      }, intervalMs);
      timer.unref();
    });
  };

  return {
    headerFor(peer, clientIp) {
      if (stopped || port === undefined) return undefined;
      if (peer !== clientIp && normalizeAddress(peer) !== normalizeAddress(clientIp)) return undefined;
      asked = true;
      const now = clock();
      let value: string | undefined;
      if (now - readAt <= 3 * intervalMs) {
        if (byRaw.has(peer)) value = byRaw.get(peer);
        else {
          value = headers.get(normalizeAddress(peer));
          byRaw.set(peer, value);
        }
      }
      // A viewer the last reading did not have (new, or before its first answer was acknowledged)
      // gets a reading sooner than the interval, so a player's first parts carry the figures.
      const due = value === undefined ? Math.min(intervalMs, MISS_READ_GAP_MS) : intervalMs;
      if (!reading && (timer === undefined || now - readAt >= due)) {
        if (timer) clearTimeout(timer);
        timer = undefined;
        readNow(port);
      }
      return value;
    },
    start(at) {
      port = at;
    },
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
