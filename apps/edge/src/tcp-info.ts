/**
 * The kernel's TCP statistics of the edge's connections, as iproute2's `ss -tinH` prints them
 * (Linux `tcp_info`, include/uapi/linux/tcp.h): per connection the peer address, the delivery
 * rate (`delivery_rate`, the rate the last round of acknowledged data was delivered at, in
 * bits/s; a lower bound when the sender was application-limited) and the smoothed round-trip time
 * (`rtt:<srtt>/<rttvar>`, ms). Parsing only, pure; the sampling loop is throughput.ts.
 */
import { normalizeAddress } from '@live/runtime';

/** One established connection as `ss -tinH` describes it. */
export interface TcpConnectionInfo {
  /** The peer's address as `normalizeAddress` keys it (IPv4-mapped IPv6 as IPv4, other IPv6 by its /64), no port. */
  readonly peer: string;
  /** The peer's port. */
  readonly peerPort: number;
  /** `delivery_rate`, bits per second; undefined when ss printed none (no data acknowledged yet). */
  readonly deliveryRateBps: number | undefined;
  /** Smoothed round-trip time, milliseconds; undefined when ss printed none. */
  readonly rttMs: number | undefined;
}

const RATE_UNITS: Record<string, number> = { '': 1, K: 1e3, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/**
 * Splits `host:port` as ss prints a socket address: `127.0.0.1:4369`, `[::1]:8081`,
 * `[::ffff:10.0.0.7]:51234`, `[fe80::1%eth0]:80` (the scope is dropped). Null when it is not one.
 */
export function parseSocketAddress(text: string): { host: string; port: number } | null {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  const port = Number(text.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const scope = host.indexOf('%');
  if (scope >= 0) host = host.slice(0, scope);
  if (host === '' || host === '*') return null;
  return { host: normalizeAddress(host), port };
}

/**
 * Parses the output of `ss -tinH state established …` (no header line; with the state filter,
 * no state column): each connection is a line `Recv-Q Send-Q Local:Port Peer:Port [Process]`
 * followed by an indented line of `tcp_info` fields. Lines it cannot read are skipped; a
 * connection without an info line is returned with both figures undefined. Pure; never throws.
 */
export function parseSsTcpInfo(text: string): TcpConnectionInfo[] {
  const out: TcpConnectionInfo[] = [];
  let current: { host: string; port: number } | null = null;
  const flush = (info: string | undefined): void => {
    if (!current) return;
    const rate = info === undefined ? null : /(?:^|\s)delivery_rate (\d+(?:\.\d+)?)([kKMGT]?)bps(?:\s|$)/.exec(info);
    const rtt = info === undefined ? null : /(?:^|\s)rtt:(\d+(?:\.\d+)?)\//.exec(info);
    out.push({
      peer: current.host,
      peerPort: current.port,
      deliveryRateBps: rate ? Number(rate[1]) * RATE_UNITS[rate[2]!]! : undefined,
      rttMs: rtt ? Number(rtt[1]) : undefined,
    });
    current = null;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('\t') || line.startsWith(' ')) {
      flush(line);
      continue;
    }
    flush(undefined);
    const fields = line.trim().split(/\s+/);
    current = fields.length >= 4 ? parseSocketAddress(fields[3]!) : null;
  }
  flush(undefined);
  return out;
}
