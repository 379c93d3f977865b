/**
 * The pure parts of authentication: the password policy and argon2id parameters, access-token
 * signing and verification over a key ring, refresh-token shape, throttle keys, URL redaction.
 */
import { describe, expect, it } from 'vitest';
import { base64url, SignJWT } from 'jose';
import { ApiError } from '../src/errors.js';
import { checkPasswordPolicy, hashPassword, PasswordHasher, verifyDummyPassword, verifyPassword } from '../src/auth/passwords.js';
import { assertKeyRing, signAccessToken, verifyAccessToken } from '../src/auth/tokens.js';
import { hashRefreshToken, newRefreshToken, REFRESH_TOKEN_PATTERN } from '../src/auth/refresh.js';
import { accountThrottleKey, addressThrottleKey, loginThrottleKeys, pairThrottleKey, throttleDelaySeconds } from '../src/auth/throttle.js';
import { redactAccessToken } from '../src/auth/plugin.js';

const K1 = { kid: 'k1', secret: 'unit-k1-secret-0123456789abcdefghijklmn' };
const K2 = { kid: 'k2', secret: 'unit-k2-secret-0123456789abcdefghijklmn' };
const user = { userId: '01999999-0000-7000-8000-000000000001', username: 'Ann', roles: ['viewer', 'streamer'] as const };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.code : `not an ApiError: ${String(err)}`;
  }
  return undefined;
}

async function asyncCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof ApiError ? err.code : `not an ApiError: ${String(err)}`;
  }
  return undefined;
}

describe('password policy', () => {
  it.each([
    ['seven c', 'VALIDATION_FAILED'],
    ['eight ch', undefined],
    ['🙂🙂🙂🙂🙂🙂🙂🙂', undefined], // 8 code points (16 UTF-16 units)
    ['p'.repeat(128), undefined],
    ['p'.repeat(129), 'VALIDATION_FAILED'],
    ['with\ttab pw', 'VALIDATION_FAILED'],
    ['with\u0000nul pw', 'VALIDATION_FAILED'],
    ['with\u0085nel pw', 'VALIDATION_FAILED'],
    ['lone \ud800 surrogate', 'VALIDATION_FAILED'],
    ['spaces   are fine', undefined],
  ])('%j → %s', (pw, expected) => {
    expect(code(() => checkPasswordPolicy(pw))).toBe(expected);
  });

  it('hashes with argon2id (m=19456, t=2, p=1), verifies, and normalises to NFC', async () => {
    const h = await hashPassword('Cafe\u0301 au lait'); // decomposed é
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword(h, 'Café au lait')).toBe(true); // precomposed é
    expect(await verifyPassword(h, 'Cafe au lait')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
    expect(await hashPassword('same')).not.toBe(await hashPassword('same')); // salted
    expect(await verifyDummyPassword('anything')).toBe(false);
  });
});

describe('bounded password hashing', () => {
  it('hashes and verifies through the bound', async () => {
    const hasher = new PasswordHasher(1);
    const [a, b] = await Promise.all([hasher.hash('correct horse battery'), hasher.hash('another password')]);
    expect(await hasher.verify(a, 'correct horse battery')).toBe(true);
    expect(await hasher.verify(b, 'correct horse battery')).toBe(false);
    expect(await hasher.verifyDummy('whatever it is')).toBe(false);
  });
});

describe('access tokens', () => {
  it('signs with the first key of the ring and verifies with any key of it', async () => {
    const { accessToken, expiresIn } = await signAccessToken({ jwtKeys: [K1], accessTokenTtlSeconds: 900 }, user);
    expect(expiresIn).toBe(900);
    expect(await verifyAccessToken({ jwtKeys: [K1] }, accessToken)).toEqual({ userId: user.userId, username: 'Ann', roles: ['viewer', 'streamer'] });
    expect(await verifyAccessToken({ jwtKeys: [K2, K1] }, accessToken)).toMatchObject({ userId: user.userId });
    expect(await asyncCode(verifyAccessToken({ jwtKeys: [K2] }, accessToken))).toBe('TOKEN_INVALID');
  });

  it('expires exactly at exp, and only an authentic token is reported as expired', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const { accessToken } = await signAccessToken({ jwtKeys: [K1], accessTokenTtlSeconds: 60 }, user, t0);
    expect(await verifyAccessToken({ jwtKeys: [K1] }, accessToken, t0 + 59_000)).toMatchObject({ username: 'Ann' });
    expect(await asyncCode(verifyAccessToken({ jwtKeys: [K1] }, accessToken, t0 + 60_000))).toBe('TOKEN_EXPIRED');
    const forged = `${accessToken.slice(0, accessToken.lastIndexOf('.'))}.${base64url.encode(new Uint8Array(32))}`;
    expect(await asyncCode(verifyAccessToken({ jwtKeys: [K1] }, forged, t0 + 120_000))).toBe('TOKEN_INVALID');
  });

  it('refuses alg none, other HMAC algorithms, and malformed tokens', async () => {
    const enc = (v: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(v)));
    const now = Math.floor(Date.now() / 1000);
    const payload = { sub: 'u', name: 'n', roles: ['admin'], iss: 'live-platform', aud: 'live-api', iat: now, exp: now + 60, jti: 'j' };
    const hs512 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512', typ: 'at+jwt', kid: 'k1' }).sign(new TextEncoder().encode(K1.secret));
    for (const token of [`${enc({ alg: 'none', kid: 'k1', typ: 'at+jwt' })}.${enc(payload)}.`, hs512, '', 'a.b', 'a.b.c', '...', 'x'.repeat(5000)]) {
      expect(await asyncCode(verifyAccessToken({ jwtKeys: [K1] }, token))).toBe('TOKEN_INVALID');
    }
  });

  it('refuses a bad key ring at start-up', () => {
    expect(() => assertKeyRing([])).toThrow(TypeError);
    expect(() => assertKeyRing([{ kid: 'k1', secret: 'short' }])).toThrow(/32 bytes/);
    expect(() => assertKeyRing([{ kid: 'bad kid', secret: K1.secret }])).toThrow(/kid/);
    expect(() => assertKeyRing([K1, { ...K2, kid: 'k1' }])).toThrow(/twice/);
    expect(() => assertKeyRing([K1, K2])).not.toThrow();
  });
});

describe('refresh tokens, throttle keys, redaction', () => {
  it('makes 256-bit rt_ tokens and stores only their SHA-256', () => {
    const a = newRefreshToken();
    expect(a).toMatch(REFRESH_TOKEN_PATTERN);
    expect(newRefreshToken()).not.toBe(a);
    expect(hashRefreshToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2 vector
    expect(hashRefreshToken(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('builds throttle keys', () => {
    expect(accountThrottleKey('Ann')).toBe('account:ann');
    expect(addressThrottleKey('::ffff:10.0.0.1')).toBe('address:10.0.0.1');
    expect(pairThrottleKey('Ann', '2001:db8:1:2::9')).toBe('pair:ann|2001:db8:1:2::/64');
    expect(loginThrottleKeys('ann@example.com', '203.0.113.9')).toEqual({
      account: 'account:ann@example.com', address: 'address:203.0.113.9', pair: 'pair:ann@example.com|203.0.113.9',
    });
  });

  it('delays progressively: free failures, then 1 s, 2 s, 4 s … up to the cap', () => {
    const policy = { freeFailures: 5, maxDelaySeconds: 300 };
    expect([1, 5, 6, 7, 8, 9, 13, 14, 15, 1000].map((n) => throttleDelaySeconds(n, policy))).toEqual([0, 0, 1, 2, 4, 8, 128, 256, 300, 300]);
    expect([1, 2, 3].map((n) => throttleDelaySeconds(n, { freeFailures: 0, maxDelaySeconds: 2 }))).toEqual([1, 2, 2]);
    expect(throttleDelaySeconds(2 ** 31, { freeFailures: 0, maxDelaySeconds: 86_400 })).toBe(86_400); // no overflow
  });

  it('redacts access tokens in URLs', () => {
    expect(redactAccessToken('/api/notifications/stream?access_token=eyJ.a.b&x=1')).toBe('/api/notifications/stream?access_token=[REDACTED]&x=1');
    expect(redactAccessToken('/a?x=1&ACCESS_TOKEN=t')).toBe('/a?x=1&ACCESS_TOKEN=[REDACTED]');
    expect(redactAccessToken('/a?my_access_token=t')).toBe('/a?my_access_token=t');
  });
});
