/**
 * Password storage: argon2id (RFC 9106) with the OWASP Password Storage Cheat Sheet's minimum
 * parameters, the password policy, and a dummy verification that makes "no such user" take as
 * long as "wrong password" (no account enumeration by timing).
 *
 * Passwords are normalised to Unicode NFC before hashing and before verifying (NIST SP 800-63B
 * §5.1.1.2: normalise so the same typed password always hashes alike, whatever the input method
 * composed). Nothing here logs; callers must never log a password or a hash.
 */
import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';
import { ConcurrencyLimit } from '@live/runtime';
import { ApiError } from '../errors.js';

// `Algorithm` is an ambient `const enum` in @node-rs/argon2's typings, which TypeScript refuses to
// read under `verbatimModuleSyntax`; 2 is its `Argon2id` member (index.d.ts).
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id parameters: 19 MiB of memory (`memoryCost` in KiB), 2 passes, 1 lane — the first
 * configuration the OWASP Password Storage Cheat Sheet lists (RFC 9106 §4 leaves the choice to
 * the deployment; these fit a 2-core API node: ~20 ms per hash).
 */
export const ARGON2_OPTIONS: Readonly<Options> = Object.freeze({
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/** Shortest password accepted, in code points (OWASP: at least 8 when there is no MFA). */
export const PASSWORD_MIN_LENGTH = 8;
/** Longest password accepted, in code points (OWASP: allow at least 64; cap to bound hashing cost). */
export const PASSWORD_MAX_LENGTH = 128;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;

/**
 * The password policy: 8..128 code points after NFC normalisation; no C0/C1 control characters
 * (tab, newline, NUL… cannot be typed reliably and break some clients) and no unpaired UTF-16
 * surrogate (it would be replaced by U+FFFD when encoded, so different inputs would collide).
 * Spaces and every other Unicode character are allowed; there are no composition rules
 * (OWASP / NIST SP 800-63B §5.1.1.2).
 * @param field the field's name for the error message (`password`, `newPassword`).
 * @throws ApiError VALIDATION_FAILED naming the rule broken (never echoing the password).
 */
export function checkPasswordPolicy(password: string, field = 'password'): void {
  if (LONE_SURROGATE.test(password)) throw new ApiError('VALIDATION_FAILED', `${field} contains an unpaired UTF-16 surrogate`);
  if (CONTROL.test(password)) throw new ApiError('VALIDATION_FAILED', `${field} contains control characters`);
  const length = [...password.normalize('NFC')].length;
  if (length < PASSWORD_MIN_LENGTH) throw new ApiError('VALIDATION_FAILED', `${field} must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) throw new ApiError('VALIDATION_FAILED', `${field} must be at most ${PASSWORD_MAX_LENGTH} characters`);
}

/**
 * Hashes a password with argon2id ({@link ARGON2_OPTIONS}, a fresh 16-byte salt) into a PHC
 * string such as `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (RFC 9106; PHC string format).
 * Does not apply the policy: call {@link checkPasswordPolicy} first.
 */
export async function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFC'), ARGON2_OPTIONS);
}

/**
 * True when `password` matches the argon2 PHC string `passwordHash` (constant-time comparison
 * inside the library). A malformed hash answers false rather than throwing.
 */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password.normalize('NFC'));
  } catch {
    return false;
  }
}

/**
 * A fixed argon2id hash with exactly {@link ARGON2_OPTIONS}, of a password no account has. Only
 * used to spend the time of a real verification when the account does not exist.
 */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$zCsYqiZhacXhpWT9Q+OxFg$Dr2a+Wk8i5U5TYE5tBCF5H8WXOWEUWNiL2JYyx3YlOY';

/**
 * Verifies `password` against a fixed dummy hash and answers false: called when the sign-in
 * names no account, so that the answer takes as long as a wrong password for a real account
 * (OWASP Authentication Cheat Sheet, "authentication responses" / timing).
 */
export async function verifyDummyPassword(password: string): Promise<false> {
  await verifyPassword(DUMMY_HASH, password);
  return false;
}

/**
 * The API's password hashing with a bound on how many argon2 computations run at once
 * (`PASSWORD_HASH_CONCURRENCY`): each takes about 20 ms of a core and 19 MiB, on libuv's thread
 * pool, so without a bound a password spray (every wrong password is a full verification) takes
 * every core from the requests of everyone else. Sign-ins beyond the bound wait their turn; the
 * sign-in throttle (auth/throttle.ts) bounds how many one address gets to make.
 */
export class PasswordHasher {
  private readonly limit: ConcurrencyLimit;

  /** @throws RangeError when `concurrency` is not a positive integer. */
  constructor(concurrency: number) {
    this.limit = new ConcurrencyLimit(concurrency);
  }

  /** {@link hashPassword} within the bound. */
  hash(password: string): Promise<string> {
    return this.limit.run(() => hashPassword(password));
  }

  /** {@link verifyPassword} within the bound. */
  verify(passwordHash: string, password: string): Promise<boolean> {
    return this.limit.run(() => verifyPassword(passwordHash, password));
  }

  /** {@link verifyDummyPassword} within the bound (an unknown account costs what a wrong password does, queue included). */
  verifyDummy(password: string): Promise<false> {
    return this.limit.run(() => verifyDummyPassword(password));
  }
}
