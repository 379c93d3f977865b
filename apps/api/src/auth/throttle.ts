/**
 * Sign-in throttling (OWASP Authentication Cheat Sheet, "Protect against automated attacks";
 * NIST SP 800-63B §5.2.2 rate limiting): failed sign-ins are counted per account
 * (`account:<username_lower>`) and per client address (`address:<ip>`) in fixed windows in
 * `auth_login_failures`. When a key reaches the limit it is blocked until its window ends, and a
 * sign-in involving a blocked key is refused before any password is checked.
 *
 * Counting is atomic and concurrency-proof: an attempt *reserves* one failure on each key with
 * one `INSERT … ON CONFLICT DO UPDATE … RETURNING` before the password is verified, so a burst
 * of parallel guesses cannot all pass the check before any failure is recorded. A successful
 * attempt then clears its account key and gives its address reservation back.
 *
 * A key is blocked while `failures >= maxFailures` and its window has not ended; that pair is
 * the source of truth. `blocked_until` (the window's end) is written when a key reaches the
 * limit, for operators reading the table.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Db } from '@live/db';
import { ApiError } from '../errors.js';

/** Limits of {@link reserveLoginAttempt} (from `ApiConfig.loginMaxFailures` / `loginWindowSeconds`). */
export interface LoginThrottleLimits {
  /** Failed sign-ins allowed per key within a window. */
  readonly maxFailures: number;
  /** Window length, seconds. */
  readonly windowSeconds: number;
}

/** The throttle key of an account: `account:<lower-cased username>`. */
export function accountThrottleKey(usernameLower: string): string {
  return `account:${usernameLower.toLowerCase()}`;
}

/**
 * The throttle key of a client address: `address:<ip>`. IPv4-mapped IPv6 addresses count as
 * their IPv4 address, and an IPv6 address counts as its /64 (one subscriber's LAN usually
 * holds a whole /64, so counting single IPv6 addresses would be trivially evaded).
 */
export function addressThrottleKey(ip: string): string {
  return `address:${normalizeAddress(ip)}`;
}

/** See {@link addressThrottleKey}: `1.2.3.4` → itself; `2001:db8:0:1:a::1` → `2001:db8:0:1::/64`. */
export function normalizeAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  let addr = ip.split('%')[0]!;
  if (addr.includes('.')) {
    // Embedded IPv4 tail (RFC 4291 §2.2 form 3): turn it into two hextets.
    const i = addr.lastIndexOf(':');
    const b = addr.slice(i + 1).split('.').map(Number);
    addr = `${addr.slice(0, i + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Seconds until `blockedUntil`, at least 1. */
function secondsUntil(blockedUntil: Date, nowMs: number): number {
  return Math.max(1, Math.ceil((blockedUntil.getTime() - nowMs) / 1000));
}

function throttled(blockedUntil: Date, nowMs: number): ApiError {
  const s = secondsUntil(blockedUntil, nowMs);
  return new ApiError('LOGIN_THROTTLED', `Too many failed sign-ins; try again in ${s} s.`, { retryAfterSeconds: s });
}

/**
 * Admits one sign-in attempt or refuses it, before the password is checked:
 * 1. when any of `keys` is blocked (at least `maxFailures` failures in its current window) →
 *    refused, nothing written;
 * 2. otherwise one failure is reserved on every key with one atomic upsert (a new window, with
 *    `failures = 1`, starts when the key's window has ended); if that pushed a key past the limit
 *    (concurrent attempts) the reservation is undone and the attempt refused.
 * A key that reaches the limit is blocked until its window ends (`blocked_until` records it).
 * The reservation stays as the recorded failure unless the caller reports success with
 * {@link recordLoginSuccess}.
 * @param nowMs the current time, ms since the epoch.
 * @throws ApiError LOGIN_THROTTLED with `retryAfterSeconds` (sent as `Retry-After`).
 */
export async function reserveLoginAttempt(db: Db, keys: readonly string[], limits: LoginThrottleLimits, nowMs: number): Promise<void> {
  const sorted = [...new Set(keys)].sort(); // one lock order for every statement (no deadlocks)
  if (sorted.length === 0) return;
  const now = new Date(nowMs);
  const windowMs = limits.windowSeconds * 1000;
  // A window that started at or before `cutoff` has ended.
  const cutoff = new Date(nowMs - windowMs);
  const blocked = await db.selectFrom('auth_login_failures').select(['key', 'window_start'])
    .where('key', 'in', sorted).where('window_start', '>', cutoff).where('failures', '>=', limits.maxFailures)
    .orderBy('window_start', 'desc').executeTakeFirst();
  if (blocked) throw throttled(new Date(blocked.window_start.getTime() + windowMs), nowMs);

  const rows = await db.insertInto('auth_login_failures')
    .values(sorted.map((key) => ({ key, window_start: now, failures: 1, blocked_until: null })))
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => {
      const ended = eb('auth_login_failures.window_start', '<=', cutoff);
      return {
        window_start: eb.case().when(ended).then(now).else(eb.ref('auth_login_failures.window_start')).end(),
        failures: eb.case().when(ended).then(1).else(eb('auth_login_failures.failures', '+', 1)).end(),
      };
    }))
    .returning(['key', 'failures', 'window_start'])
    .execute();
  const over = rows.find((r) => r.failures > limits.maxFailures);
  if (over) {
    await releaseReservation(db, sorted, limits);
    throw throttled(new Date(over.window_start.getTime() + windowMs), nowMs);
  }
  for (const r of rows) {
    if (r.failures < limits.maxFailures) continue;
    await db.updateTable('auth_login_failures').set({ blocked_until: new Date(r.window_start.getTime() + windowMs) })
      .where('key', '=', r.key).where('window_start', '=', r.window_start).execute();
  }
}

/** Gives back one reserved failure on each key (never below 0; a key back under the limit is unblocked). */
async function releaseReservation(db: Db, keys: readonly string[], limits: LoginThrottleLimits): Promise<void> {
  if (keys.length === 0) return;
  await db.updateTable('auth_login_failures').set((eb) => ({
    failures: eb.fn<number>('greatest', [eb('failures', '-', 1), eb.lit(0)]),
    blocked_until: eb.case().when('failures', '>', limits.maxFailures).then(eb.ref('blocked_until')).else(null).end(),
  })).where('key', 'in', [...keys].sort()).execute();
}

/**
 * Records that the attempt admitted by {@link reserveLoginAttempt} succeeded: the account's
 * failures are cleared (OWASP: a successful sign-in resets the account's counter) and the
 * address's reservation is given back (a success is not a failure of that address).
 */
export async function recordLoginSuccess(
  db: Db,
  keys: { readonly account: string; readonly address?: string | undefined },
  limits: LoginThrottleLimits,
): Promise<void> {
  await db.deleteFrom('auth_login_failures').where('key', '=', keys.account).execute();
  if (keys.address) await releaseReservation(db, [keys.address], limits);
}

/**
 * Deletes failure counters whose window ended more than `windowSeconds` ago and that block
 * nobody any more (housekeeping; run periodically).
 * @returns how many rows were deleted.
 */
export async function deleteStaleLoginFailures(db: Db, nowMs: number, windowSeconds: number): Promise<number> {
  const r = await db.deleteFrom('auth_login_failures')
    .where('window_start', '<', new Date(nowMs - 2 * windowSeconds * 1000))
    .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', new Date(nowMs))]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
