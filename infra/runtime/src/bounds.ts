/**
 * Bookkeeping of per-client bounds that every listener shares (RTMP ingest, chat gateway, edge):
 * the key a peer address is counted under, open connections per address and in total, and a log
 * throttle that writes one line per offender per time window. Pure: no sockets, no timers.
 *
 * The bounds are those servers commonly enforce (SRS and nginx-rtmp `max_connections`, MediaMTX
 * read/write timeouts, nginx `limit_conn`): a peer can only make a node hold the sockets it is
 * allowed to, and one abuser costs one log line a minute, not one per attempt.
 */

import { isIPv4, isIPv6 } from 'node:net';

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The IPv4 address an IPv4-mapped IPv6 address carries (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2),
 * from its eight 16-bit groups, as `a.b.c.d`; null for any other address. Pure.
 */
export function mappedIPv4(g: readonly number[]): string | null {
  if (g.length !== 8 || !g.slice(0, 5).every((x) => x === 0) || g[5] !== 0xffff) return null;
  return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, embedded IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let addr = address.split('%')[0]!;
  if (addr.includes('.')) {
    // Embedded IPv4 tail (RFC 4291 §2.2 form 3): two more groups.
    const i = addr.lastIndexOf(':');
    const b = addr.slice(i + 1).split('.').map(Number);
    addr = `${addr.slice(0, i + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key a peer address is counted under, by every per-client bound (connection caps, parked
 * requests, sign-in throttling, offender logs):
 * - IPv4: itself (`203.0.113.7`);
 * - IPv4-mapped IPv6 (`::ffff:203.0.113.7` or `::ffff:cb00:7107`, RFC 4291 §2.5.5.2, what a
 *   dual-stack listener reports for IPv4 peers): its IPv4 form;
 * - other IPv6: its /64 (`2001:db8:0:1:a::1` → `2001:db8:0:1::/64`): one subscriber's LAN
 *   usually holds a whole /64 (RFC 6177), so counting single IPv6 addresses would be evaded by
 *   taking a new one per connection;
 * - missing (a socket already reset): `unknown`; anything else unparseable: as given.
 */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = IPV4_MAPPED.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const g = ipv6Groups(address);
  const v4 = mappedIPv4(g);
  if (v4 !== null) return v4;
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** Caps of a {@link ConnectionCounter}. */
export interface ConnectionCounterLimits {
  /** Most connections open at once, all addresses together (≥ 1). */
  readonly maxTotal: number;
  /** Most connections open at once from one address (after {@link normalizeAddress}; ≥ 1). */
  readonly maxPerAddress: number;
}

/**
 * Counts open connections (or anything else a peer holds open, e.g. the edge's parked blocking
 * reloads) per peer address and in total. `tryOpen` either takes a slot or says
 * which cap refused it; every successful `tryOpen` must be matched by exactly one `release` of
 * the same address. Memory: one map entry per address with open connections.
 */
export class ConnectionCounter {
  private readonly perAddress = new Map<string, number>();
  private open = 0;

  constructor(private readonly limits: ConnectionCounterLimits) {}

  /** Connections currently counted, all addresses. */
  get total(): number {
    return this.open;
  }

  /** Connections currently counted for `address` (normalized here). */
  countOf(address: string | undefined): number {
    return this.perAddress.get(normalizeAddress(address)) ?? 0;
  }

  /**
   * Takes a slot for a new connection from `address`, or returns the cap that refuses it
   * (`per_address` is checked first, so a single flooding peer is named as such).
   */
  tryOpen(address: string | undefined): 'per_address' | 'total' | undefined {
    const key = normalizeAddress(address);
    const n = this.perAddress.get(key) ?? 0;
    if (n >= this.limits.maxPerAddress) return 'per_address';
    if (this.open >= this.limits.maxTotal) return 'total';
    this.perAddress.set(key, n + 1);
    this.open++;
    return undefined;
  }

  /** Gives back the slot a successful {@link tryOpen} of `address` took. */
  release(address: string | undefined): void {
    const key = normalizeAddress(address);
    const n = this.perAddress.get(key);
    if (n === undefined) return;
    if (n <= 1) this.perAddress.delete(key);
    else this.perAddress.set(key, n - 1);
    this.open--;
  }
}

/** Options of {@link OffenderLog}. */
export interface OffenderLogOptions {
  /** One line per offender per this many ms. */
  readonly windowMs: number;
  /** Most offenders remembered; beyond it the oldest is forgotten (default 10 000). */
  readonly maxEntries?: number;
  /** Clock, ms (default `Date.now`). */
  readonly now?: () => number;
}

/** Answer of {@link OffenderLog.record}. */
export interface OffenderLogDecision {
  /** Write a log line for this occurrence. */
  readonly log: boolean;
  /** Occurrences of this offender not logged since its previous line (only when `log`). */
  readonly suppressed: number;
}

/**
 * Decides which occurrences of a per-offender event to log: the first of each key (e.g.
 * `per_address|203.0.113.7`), then nothing for that key until `windowMs` has passed, when the
 * next occurrence is logged with how many were suppressed meanwhile. Memory is bounded by
 * `maxEntries`; expired keys are dropped as new ones arrive. O(1) amortized per call.
 */
export class OffenderLog {
  private readonly entries = new Map<string, { since: number; suppressed: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: OffenderLogOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Offenders currently remembered. */
  get size(): number {
    return this.entries.size;
  }

  /** Records one occurrence for `key` and says whether to log it. */
  record(key: string): OffenderLogDecision {
    const t = this.now();
    const e = this.entries.get(key);
    if (e && t - e.since < this.opts.windowMs) {
      e.suppressed++;
      return { log: false, suppressed: 0 };
    }
    const suppressed = e?.suppressed ?? 0;
    // Entries are kept in order of their window start (re-inserted on renewal): expired ones
    // are at the front.
    this.entries.delete(key);
    for (const [k, old] of this.entries) {
      if (t - old.since < this.opts.windowMs && this.entries.size < this.maxEntries) break;
      this.entries.delete(k);
    }
    this.entries.set(key, { since: t, suppressed: 0 });
    return { log: true, suppressed };
  }
}
