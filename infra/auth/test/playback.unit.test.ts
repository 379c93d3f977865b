/**
 * Playback tokens and content keys: round trip, every refusal code, tampering, rotation, and
 * the derived AES-128 keys.
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import {
  constantTimeEqual, contentKeyPath, deriveContentKey, normaliseClientAddress, parseContentKeySecret, parseJwtKeys,
  PlaybackTokenError, playbackKeysFromSettings, signPlaybackToken, verifyPlaybackToken, type PlaybackTokenErrorCode,
} from '../src/index.js';

const ring = parseJwtKeys('p1:playback-secret-0123456789abcdef-0123456789');
const now = Date.UTC(2026, 0, 1);
const exp = now + 600_000;

function code(fn: () => unknown): PlaybackTokenErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof PlaybackTokenError) return err.code;
    throw err;
  }
}

describe('playback tokens', () => {
  it('round-trips the claims and is URL-safe', () => {
    const t = signPlaybackToken({ channelId: 'alice', sessionId: 's1', expiresAt: exp, viewerId: 'u1', clientAddress: '192.0.2.1' }, ring);
    expect(t).toMatch(/^p1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/); // HMAC-SHA-256-128
    expect(t).not.toContain('192.0.2.1');
    expect(verifyPlaybackToken(t, ring, { channelId: 'alice', sessionId: 's1', clientAddress: '::ffff:192.0.2.1', now }))
      .toEqual({ kid: 'p1', channelId: 'alice', sessionId: 's1', exp: exp / 1000, viewerId: 'u1', addressBound: true, policyVersion: 0 });
    const anon = signPlaybackToken({ channelId: 'alice', expiresAt: new Date(exp) }, ring);
    expect(verifyPlaybackToken(anon, ring, { channelId: 'alice', sessionId: 'any', clientAddress: '198.51.100.7', now }))
      .toEqual({ kid: 'p1', channelId: 'alice', sessionId: null, exp: exp / 1000, viewerId: null, addressBound: false, policyVersion: 0 });
  });

  it('refuses missing, expired, wrong-stream and wrong-address tokens with their codes', () => {
    const t = signPlaybackToken({ channelId: 'alice', sessionId: 's1', expiresAt: exp, clientAddress: '192.0.2.1' }, ring);
    const scope = { channelId: 'alice', sessionId: 's1', clientAddress: '192.0.2.1', now };
    expect(code(() => verifyPlaybackToken(undefined, ring, scope))).toBe('PLAYBACK_TOKEN_MISSING');
    expect(code(() => verifyPlaybackToken('', ring, scope))).toBe('PLAYBACK_TOKEN_MISSING');
    expect(code(() => verifyPlaybackToken(t, ring, { ...scope, now: exp }))).toBe('PLAYBACK_TOKEN_EXPIRED');
    expect(code(() => verifyPlaybackToken(t, ring, { ...scope, now: exp - 1 }))).toBe('ok');
    expect(code(() => verifyPlaybackToken(t, ring, { ...scope, channelId: 'bob' }))).toBe('PLAYBACK_TOKEN_WRONG_STREAM');
    expect(code(() => verifyPlaybackToken(t, ring, { ...scope, sessionId: 's2' }))).toBe('PLAYBACK_TOKEN_WRONG_STREAM');
    expect(code(() => verifyPlaybackToken(t, ring, { ...scope, clientAddress: '192.0.2.2' }))).toBe('PLAYBACK_TOKEN_WRONG_ADDRESS');
    const e = (() => { try { verifyPlaybackToken(t, ring, { ...scope, channelId: 'bob' }); } catch (err) { return err as PlaybackTokenError; } })();
    expect([e?.status, e?.message]).toEqual([403, 'The playback token is for another stream.']);
  });

  it('carries the policy version and refuses a token older than the channel\'s policy as PLAYBACK_TOKEN_STALE', () => {
    const scope = { channelId: 'alice', clientAddress: '192.0.2.1', now };
    const v2 = signPlaybackToken({ channelId: 'alice', expiresAt: exp, policyVersion: 2 }, ring);
    expect(verifyPlaybackToken(v2, ring, { ...scope, policyVersion: 2 }).policyVersion).toBe(2);
    expect(code(() => verifyPlaybackToken(v2, ring, { ...scope, policyVersion: 1 }))).toBe('ok'); // a lagging verifier
    expect(code(() => verifyPlaybackToken(v2, ring, scope))).toBe('ok'); // a verifier that does not know the version
    expect(code(() => verifyPlaybackToken(v2, ring, { ...scope, policyVersion: 3 }))).toBe('PLAYBACK_TOKEN_STALE');
    // Without a version (signed before versions existed, or version 0): valid only at version 0.
    const v0 = signPlaybackToken({ channelId: 'alice', expiresAt: exp }, ring);
    expect(JSON.parse(Buffer.from(v0.split('.')[1]!, 'base64url').toString())).not.toHaveProperty('p');
    expect(code(() => verifyPlaybackToken(v0, ring, { ...scope, policyVersion: 0 }))).toBe('ok');
    expect(code(() => verifyPlaybackToken(v0, ring, { ...scope, policyVersion: 1 }))).toBe('PLAYBACK_TOKEN_STALE');
    const e = (() => { try { verifyPlaybackToken(v0, ring, { ...scope, policyVersion: 1 }); } catch (err) { return err as PlaybackTokenError; } })();
    expect(e?.status).toBe(403);
    // The version is signed: raising it in the payload breaks the signature.
    const [kid, , sig] = v0.split('.') as [string, string, string];
    const raised = Buffer.from(JSON.stringify({ c: 'alice', e: exp / 1000, p: 9 })).toString('base64url');
    expect(code(() => verifyPlaybackToken(`${kid}.${raised}.${sig}`, ring, scope))).toBe('PLAYBACK_TOKEN_INVALID');
    expect(() => signPlaybackToken({ channelId: 'alice', expiresAt: exp, policyVersion: -1 }, ring)).toThrow(TypeError);
    expect(() => signPlaybackToken({ channelId: 'alice', expiresAt: exp, policyVersion: 1.5 }, ring)).toThrow(TypeError);
  });

  it('refuses tampered, malformed and unknown-key tokens as PLAYBACK_TOKEN_INVALID', () => {
    const t = signPlaybackToken({ channelId: 'alice', expiresAt: exp }, ring);
    const [kid, payload, sig] = t.split('.') as [string, string, string];
    const scope = { channelId: 'alice', clientAddress: '192.0.2.1', now };
    const forged = Buffer.from(JSON.stringify({ c: 'alice', e: exp / 1000 + 86_400 })).toString('base64url');
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const other = signPlaybackToken({ channelId: 'alice', expiresAt: exp }, parseJwtKeys('p1:another-secret-0123456789abcdef-0123456789'));
    const bad = [
      `${kid}.${forged}.${sig}`, // payload changed
      `${kid}.${payload}.${flip(sig, 0)}`, // signature changed
      `${kid}.${payload}.${sig.slice(0, -1)}${sig.endsWith('A') ? 'E' : 'A'}`,
      `${kid}.${payload}.${sig.slice(0, -1)}`, // truncated
      `${kid}.${payload}.${sig}A`,
      `p2.${payload}.${sig}`, // unknown key id
      other, // same kid, other secret
      `${kid}.${payload}`, `${kid}..${sig}`, `.${payload}.${sig}`, `${t}.x`, 'not a token', 'a.b.c', `${kid}.${payload}.${sig.replace(/.$/, '=')}`,
      'x'.repeat(5000),
      `${kid}.${Buffer.from('[1]').toString('base64url')}.${sig}`,
    ];
    for (const b of bad) expect(code(() => verifyPlaybackToken(b, ring, scope)), b).toBe('PLAYBACK_TOKEN_INVALID');
  });

  it('accepts the full 32-byte signature of tokens signed before truncation, and only an exact one', () => {
    const t = signPlaybackToken({ channelId: 'alice', expiresAt: exp }, ring);
    const [kid, payload] = t.split('.') as [string, string, string];
    const full = createHmac('sha256', 'playback-secret-0123456789abcdef-0123456789').update(`pt1.${kid}.${payload}`).digest();
    const scope = { channelId: 'alice', clientAddress: '192.0.2.1', now };
    expect(t.endsWith(`.${full.subarray(0, 16).toString('base64url')}`)).toBe(true);
    expect(code(() => verifyPlaybackToken(`${kid}.${payload}.${full.toString('base64url')}`, ring, scope))).toBe('ok');
    const tail = Buffer.from(full);
    tail.writeUInt8(tail.readUInt8(31) ^ 0x10, 31); // the bytes past the truncation are checked too
    expect(code(() => verifyPlaybackToken(`${kid}.${payload}.${tail.toString('base64url')}`, ring, scope))).toBe('PLAYBACK_TOKEN_INVALID');
    const nonCanonical = full.toString('base64url').replace(/.$/, (c) => String.fromCharCode(c.charCodeAt(0) + 1));
    expect(code(() => verifyPlaybackToken(`${kid}.${payload}.${nonCanonical}`, ring, scope))).toBe('PLAYBACK_TOKEN_INVALID');
  });

  it('verifies tokens of every key of the ring (rotation) and signs with the first', () => {
    const old = parseJwtKeys('p1:playback-secret-0123456789abcdef-0123456789');
    const rotated = parseJwtKeys('p2:new-playback-secret-0123456789abcdef-01234,p1:playback-secret-0123456789abcdef-0123456789');
    const t = signPlaybackToken({ channelId: 'alice', expiresAt: exp }, old);
    expect(verifyPlaybackToken(t, rotated, { channelId: 'alice', clientAddress: '::1', now }).kid).toBe('p1');
    expect(signPlaybackToken({ channelId: 'alice', expiresAt: exp }, rotated).startsWith('p2.')).toBe(true);
  });

  it('reads a process\'s ring from PLAYBACK_KEYS, else JWT_KEYS, and names the variable that does not parse', () => {
    const jwt = 'a1:access-secret-0123456789abcdef-0123456789';
    const playback = 'p1:playback-secret-0123456789abcdef-0123456789';
    expect(playbackKeysFromSettings({ PLAYBACK_KEYS: playback, JWT_KEYS: jwt })?.map((k) => k.kid)).toEqual(['p1']);
    expect(playbackKeysFromSettings({ JWT_KEYS: jwt })?.map((k) => k.kid)).toEqual(['a1']);
    expect(playbackKeysFromSettings({})).toBeUndefined();
    expect(() => playbackKeysFromSettings({ PLAYBACK_KEYS: 'p1:short', JWT_KEYS: jwt })).toThrow(/^PLAYBACK_KEYS/);
    expect(() => playbackKeysFromSettings({ JWT_KEYS: 'no-colon' })).toThrow(/^JWT_KEYS/);
  });

  it('compares in constant time only equal-length byte strings', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
    expect(normaliseClientAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(normaliseClientAddress('fe80::1%eth0')).toBe('fe80::1');
  });
});

describe('content keys', () => {
  const secret = parseContentKeySecret(Buffer.alloc(32, 7).toString('base64'));

  it('derives 16-byte keys, distinct per session and index, stable for the same input', () => {
    const k = deriveContentKey(secret, 's1', 0);
    expect(k).toHaveLength(16);
    expect(deriveContentKey(secret, 's1', 0).equals(k)).toBe(true);
    expect(deriveContentKey(secret, 's1', 1).equals(k)).toBe(false);
    expect(deriveContentKey(secret, 's2', 0).equals(k)).toBe(false);
    expect(deriveContentKey(Buffer.alloc(32, 8), 's1', 0).equals(k)).toBe(false);
    expect(contentKeyPath('s1', 3)).toBe('/keys/s1/3.key');
  });

  it('encrypts a whole segment with AES-128-CBC PKCS#7 that decrypts with the served key', () => {
    const key = deriveContentKey(secret, 's1', 2);
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(42, 12); // media sequence number as a 128-bit big-endian IV (RFC 8216bis §5.2)
    const segment = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const c = createCipheriv('aes-128-cbc', key, iv);
    const enc = Buffer.concat([c.update(segment), c.final()]);
    expect(enc.length).toBe(1008); // PKCS#7 pads to the next 16-byte block
    const d = createDecipheriv('aes-128-cbc', key, iv);
    expect(Buffer.concat([d.update(enc), d.final()]).equals(segment)).toBe(true);
  });

  it('refuses short secrets and bad indexes', () => {
    expect(() => deriveContentKey(Buffer.alloc(8), 's1', 0)).toThrow(TypeError);
    expect(() => deriveContentKey(secret, 's1', -1)).toThrow(TypeError);
    expect(() => deriveContentKey(secret, 's1', 1.5)).toThrow(TypeError);
    expect(() => deriveContentKey(secret, '', 0)).toThrow(TypeError);
    expect(() => contentKeyPath('../x', 0)).toThrow(TypeError);
    expect(() => parseContentKeySecret('c2hvcnQ=')).toThrow(TypeError);
    expect(parseContentKeySecret(`hex:${'ab'.repeat(16)}`)).toHaveLength(16);
  });
});
