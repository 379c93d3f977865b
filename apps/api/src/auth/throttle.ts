/**
 * Sign-in throttling that an attacker cannot turn against an account's owner (OWASP
 * Authentication Cheat Sheet, "Account lockout" and "Protect against automated attacks":
 * progressive delays, throttling by account + address rather than locking the account;
 * NIST SP 800-63B §5.2.2 rate limiting). Failed sign-ins are counted in `auth_login_failures`
 * on three keys per attempt:
 * - `pair:<account>|<address>` — one account from one address (online guessing). The owner
 *   signing in from another address never shares this key.
 * - `address:<ip>` — one address over every account (credential stuffing, password spraying).
 * - `account:<username_lower>` — one account from every address (a distributed attack), with a
 *   much higher threshold and a short delay cap: it slows such an attack down, it never locks
 *   the owner out for long.
 * Every key has a *progressive delay*: its first `freeFailures` failures cost nothing, then the
 * key waits 1 s, 2 s, 4 s … (doubling, at most `maxDelaySeconds`) after each further failure
 * ({@link throttleDelaySeconds}). An attempt involving a key that is still waiting is refused
 * with 429 LOGIN_THROTTLED and `Retry-After`, before any password is checked, and is not counted.
 * A key's failures are forgotten once it has seen no attempt for `windowSeconds` after its last
 * delay ended.
 *
 * Counting is atomic and concurrency-proof: an attempt *reserves* a failure on each of its keys
 * before the password is verified — one `INSERT … ON CONFLICT DO UPDATE … WHERE <not waiting>
 * RETURNING` per key, in one transaction, in key order — and the reservation already sets the
 * delay that failure would cost. Parallel attempts on one key queue on its row lock and see the
 * delay the previous one set, so a burst of guesses cannot all pass; a refused key rolls the
 * whole reservation back. A successful attempt then deletes its pair key and gives back its
 * reservation on the address and account keys ({@link recordLoginSuccess}).
 *
 * Row shape: `failures` counted (including reservations in flight); `blocked_until` the end of
 * the current delay (the source of truth: the key refuses attempts while `now < blocked_until`);
 * `window_start` when the current run of failures began (for operators).
 */
import { sql } from 'kysely';
import { normalizeAddress } from '@live/runtime';
import type { Db } from '@live/db';
import { ApiError } from '../errors.js';

/** Progressive-delay policy of one kind of key. */
export interface ThrottleDelayPolicy {
  /** Failures that cost no delay; the next one costs 1 s, then 2 s, 4 s … (≥ 0). */
  readonly freeFailures: number;
  /** Upper bound of one delay, seconds (≥ 1). */
  readonly maxDelaySeconds: number;
}

/** Limits of {@link reserveLoginAttempt} (from the `login*` settings of `ApiConfig`). */
export interface LoginThrottlePolicy {
  /** For `pair:` keys: one account from one address. */
  readonly pair: ThrottleDelayPolicy;
  /** For `address:` keys: one address over every account. */
  readonly address: ThrottleDelayPolicy;
  /** For `account:` keys: one account from every address (keep the cap short: it is not a lockout). */
  readonly account: ThrottleDelayPolicy;
  /** A key's failures are forgotten after this many seconds without an attempt once its delay ended. */
  readonly windowSeconds: number;
}

/** The three throttle keys of one sign-in attempt ({@link loginThrottleKeys}). */
export interface LoginThrottleKeys {
  /** `account:<username_lower>`. */
  readonly account: string;
  /** `address:<normalised ip>`. */
  readonly address: string;
  /** `pair:<username_lower>|<normalised ip>`. */
  readonly pair: string;
}

/** An admitted attempt: what {@link recordLoginSuccess} needs to give its reservation back. */
export interface LoginReservation {
  /** The keys the attempt reserved a failure on. */
  readonly keys: LoginThrottleKeys;
  /** `blocked_until` each key was given by this reservation (key → ms since the epoch). */
  readonly reservedUntil: ReadonlyMap<string, number>;
}

/** The throttle key of an account: `account:<lower-cased username>`. */
export function accountThrottleKey(usernameLower: string): string {
  return `account:${usernameLower.toLowerCase()}`;
}

/**
 * The throttle key of a client address: `address:<ip>`, the address as every per-client bound
 * counts it (`normalizeAddress` of `@live/runtime`: IPv4-mapped IPv6 as IPv4, IPv6 by its /64).
 */
export function addressThrottleKey(ip: string): string {
  return `address:${normalizeAddress(ip)}`;
}

/**
 * The throttle key of one account from one address: `pair:<lower-cased username>|<address>`
 * (address normalised as in {@link addressThrottleKey}).
 */
export function pairThrottleKey(usernameLower: string, ip: string): string {
  return `pair:${usernameLower.toLowerCase()}|${normalizeAddress(ip)}`;
}

/**
 * The keys of a sign-in attempt for the account `usernameLower` (or, for an unknown account,
 * the lower-cased identifier typed) from the client address `ip` (`request.ip`, which honours
 * `TRUST_PROXY`).
 */
export function loginThrottleKeys(usernameLower: string, ip: string): LoginThrottleKeys {
  return { account: accountThrottleKey(usernameLower), address: addressThrottleKey(ip), pair: pairThrottleKey(usernameLower, ip) };
}

/**
 * The delay a key waits after its `failures`-th failure, seconds: 0 for the first
 * `freeFailures`, then 1, 2, 4 … doubling, at most `maxDelaySeconds`. (The same formula runs in
 * SQL in {@link reserveLoginAttempt}.)
 */
export function throttleDelaySeconds(failures: number, policy: ThrottleDelayPolicy): number {
  if (failures <= policy.freeFailures) return 0;
  return Math.min(policy.maxDelaySeconds, 2 ** Math.min(failures - policy.freeFailures - 1, 30));
}

function policyOf(key: string, policy: LoginThrottlePolicy): ThrottleDelayPolicy {
  if (key.startsWith('pair:')) return policy.pair;
  if (key.startsWith('address:')) return policy.address;
  return policy.account;
}

function throttled(blockedUntilMs: number, nowMs: number): ApiError {
  const s = Math.max(1, Math.ceil((blockedUntilMs - nowMs) / 1000));
  return new ApiError('LOGIN_THROTTLED', `Too many failed sign-ins; try again in ${s} s.`, { retryAfterSeconds: s });
}

/** The latest `blocked_until` after `nowMs` among `keys`, ms; undefined when none is waiting. */
async function waitingUntil(db: Db, keys: readonly string[], nowMs: number): Promise<number | undefined> {
  const row = await db.selectFrom('auth_login_failures').select('blocked_until')
    .where('key', 'in', keys).where('blocked_until', '>', new Date(nowMs))
    .orderBy('blocked_until', 'desc').executeTakeFirst();
  return row?.blocked_until?.getTime();
}

/** Thrown inside the reservation transaction to roll it back. */
class KeyWaiting extends Error {}

/**
 * Admits one sign-in attempt or refuses it, before the password is checked:
 * 1. when any key still waits out a delay (`now < blocked_until`) → refused, nothing written;
 * 2. otherwise one failure is reserved on every key (a key whose failures are forgotten starts
 *    again at 1) and each key's `blocked_until` is set to now + the delay of its new count
 *    ({@link throttleDelaySeconds}), atomically with the check: if a parallel attempt got there
 *    first and set a delay, the whole reservation is rolled back and the attempt refused.
 * The reservation stays as the recorded failure unless the caller reports success with
 * {@link recordLoginSuccess}.
 * @param nowMs the current time, ms since the epoch (the app's clock).
 * @throws ApiError LOGIN_THROTTLED with `retryAfterSeconds` (sent as `Retry-After`): the longest
 *   remaining delay of the attempt's keys, whole seconds, at least 1.
 */
export async function reserveLoginAttempt(db: Db, keys: LoginThrottleKeys, policy: LoginThrottlePolicy, nowMs: number): Promise<LoginReservation> {
  const sorted = [...new Set([keys.account, keys.address, keys.pair])].sort(); // one lock order (no deadlocks)
  const waiting = await waitingUntil(db, sorted, nowMs);
  if (waiting !== undefined) throw throttled(waiting, nowMs);

  const now = new Date(nowMs);
  const forgotten = new Date(nowMs - policy.windowSeconds * 1000);
  const reservedUntil = new Map<string, number>();
  try {
    await db.transaction().execute(async (trx) => {
      for (const key of sorted) {
        const { freeFailures, maxDelaySeconds } = policyOf(key, policy);
        const ended = sql<boolean>`(coalesce(f.blocked_until, f.window_start) <= ${forgotten})`;
        const next = sql<number>`(case when ${ended} then 1 else f.failures + 1 end)`;
        const delay = sql<number>`(case when ${next} <= ${freeFailures}::int then 0::float8
          else least(${maxDelaySeconds}::float8, power(2::float8, least(${next} - ${freeFailures}::int - 1, 30))) end)`;
        const first = throttleDelaySeconds(1, { freeFailures, maxDelaySeconds });
        const r = await sql<{ blocked_until: Date }>`
          insert into auth_login_failures as f (key, window_start, failures, blocked_until)
          values (${key}, ${now}, 1, ${now}::timestamptz + make_interval(secs => ${first}::float8))
          on conflict (key) do update set
            window_start = case when ${ended} then ${now}::timestamptz else f.window_start end,
            failures = ${next},
            blocked_until = ${now}::timestamptz + make_interval(secs => ${delay})
          where f.blocked_until is null or f.blocked_until <= ${now}::timestamptz
          returning blocked_until`.execute(trx);
        const row = r.rows[0];
        if (!row) throw new KeyWaiting();
        reservedUntil.set(key, new Date(row.blocked_until).getTime());
      }
    });
  } catch (err) {
    if (!(err instanceof KeyWaiting)) throw err;
    throw throttled((await waitingUntil(db, sorted, nowMs)) ?? nowMs, nowMs);
  }
  return { keys, reservedUntil };
}

/**
 * Records that the attempt admitted by {@link reserveLoginAttempt} succeeded: the pair's
 * failures are deleted (that address proved it knows the password), and the reservation on the
 * address and account keys is given back (one failure less, and the delay it set lifted unless a
 * later attempt has set another).
 * @param nowMs the current time, ms since the epoch.
 */
export async function recordLoginSuccess(db: Db, reservation: LoginReservation, nowMs: number): Promise<void> {
  const { keys, reservedUntil } = reservation;
  await db.deleteFrom('auth_login_failures').where('key', '=', keys.pair).execute();
  for (const key of [...new Set([keys.account, keys.address])].sort()) {
    if (key === keys.pair) continue;
    const until = reservedUntil.get(key);
    await db.updateTable('auth_login_failures').set((eb) => ({
      failures: eb.fn<number>('greatest', [eb('failures', '-', 1), eb.lit(0)]),
      blocked_until: until === undefined
        ? eb.ref('blocked_until')
        : eb.case().when('blocked_until', '=', new Date(until)).then(new Date(nowMs)).else(eb.ref('blocked_until')).end(),
    })).where('key', '=', key).execute();
  }
}

/**
 * Deletes failure counters that are forgotten anyway: no delay running and no attempt for
 * `windowSeconds` (housekeeping; run periodically).
 * @param nowMs the current time, ms since the epoch.
 * @param windowSeconds `LOGIN_WINDOW_SECONDS`.
 * @returns how many rows were deleted.
 */
export async function deleteStaleLoginFailures(db: Db, nowMs: number, windowSeconds: number): Promise<number> {
  const r = await db.deleteFrom('auth_login_failures')
    .where(sql<Date>`coalesce(blocked_until, window_start)`, '<', new Date(nowMs - windowSeconds * 1000))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
