/**
 * Webhook signatures (webhooks.ts): a vector computed independently (Python's hmac), round trip,
 * and every refusal of `verifyWebhook`: missing, malformed, stale (both directions), forged,
 * altered body; several `v1` values (one matching suffices).
 */
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook, verifyWebhook, webhookSignature, WebhookSignatureError, type WebhookSignatureErrorCode } from '../src/index.js';

const SECRET = 'whsec_test_secret';
const BODY = '{"id":"e1","type":"stream.started"}';
const T = 1_700_000_000;
// python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test_secret", b"1700000000.{\"id\":\"e1\",\"type\":\"stream.started\"}", hashlib.sha256).hexdigest())'
const VECTOR = '3a3deb88d0ac58bc4eb6a6ecd80da307c0389a10376a38ea531e14bacd2341b6';

function code(fn: () => unknown): WebhookSignatureErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof WebhookSignatureError) return err.code;
    throw err;
  }
}

describe('webhook signatures', () => {
  it('is HMAC-SHA256 over "<t>.<body>" keyed with the secret, in the t=…,v1=… header', () => {
    expect(webhookSignature(SECRET, T, BODY)).toBe(VECTOR);
    expect(webhookSignature(SECRET, T, new TextEncoder().encode(BODY))).toBe(VECTOR);
    expect(signWebhook(SECRET, BODY, T)).toBe(`t=${T},v1=${VECTOR}`);
    expect(() => signWebhook(SECRET, BODY, -1)).toThrow(RangeError);
    expect(() => signWebhook(SECRET, BODY, 1.5)).toThrow(RangeError);
  });

  it('verifies within the tolerance and returns the timestamp', () => {
    const header = signWebhook(SECRET, BODY, T);
    expect(verifyWebhook(BODY, header, SECRET, { nowMs: T * 1000 })).toBe(T);
    expect(verifyWebhook(BODY, header, SECRET, { nowMs: (T + 300) * 1000 })).toBe(T);
    expect(verifyWebhook(Buffer.from(BODY), ` t=${T} , v1=${VECTOR} `, SECRET, { nowMs: T * 1000 })).toBe(T);
  });

  it('refuses stale timestamps (replays) both ways, by the tolerance given', () => {
    const header = signWebhook(SECRET, BODY, T);
    expect(code(() => verifyWebhook(BODY, header, SECRET, { nowMs: (T + 301) * 1000 }))).toBe('SIGNATURE_STALE');
    expect(code(() => verifyWebhook(BODY, header, SECRET, { nowMs: (T - 301) * 1000 }))).toBe('SIGNATURE_STALE');
    expect(code(() => verifyWebhook(BODY, header, SECRET, { nowMs: (T + 30) * 1000, toleranceSeconds: 10 }))).toBe('SIGNATURE_STALE');
  });

  it('refuses forged signatures and altered bodies', () => {
    const now = { nowMs: T * 1000 };
    expect(code(() => verifyWebhook(BODY, signWebhook('whsec_other', BODY, T), SECRET, now))).toBe('SIGNATURE_MISMATCH');
    expect(code(() => verifyWebhook(BODY.replace('e1', 'e2'), signWebhook(SECRET, BODY, T), SECRET, now))).toBe('SIGNATURE_MISMATCH');
    // The timestamp is signed too: moving it forward breaks the signature.
    expect(code(() => verifyWebhook(BODY, `t=${T + 1},v1=${VECTOR}`, SECRET, now))).toBe('SIGNATURE_MISMATCH');
    expect(code(() => verifyWebhook(BODY, `t=${T},v1=${'0'.repeat(64)}`, SECRET, now))).toBe('SIGNATURE_MISMATCH');
  });

  it('accepts any one matching v1 of several (as during a secret change on the sender\'s side)', () => {
    expect(verifyWebhook(BODY, `t=${T},v1=${'a'.repeat(64)},v1=${VECTOR}`, SECRET, { nowMs: T * 1000 })).toBe(T);
  });

  it('refuses missing and malformed headers', () => {
    const now = { nowMs: T * 1000 };
    expect(code(() => verifyWebhook(BODY, undefined, SECRET, now))).toBe('SIGNATURE_MISSING');
    expect(code(() => verifyWebhook(BODY, '', SECRET, now))).toBe('SIGNATURE_MISSING');
    expect(code(() => verifyWebhook(BODY, `t=${T}`, SECRET, now))).toBe('SIGNATURE_MISSING');
    expect(code(() => verifyWebhook(BODY, `v1=${VECTOR}`, SECRET, now))).toBe('SIGNATURE_MISSING');
    expect(code(() => verifyWebhook(BODY, `t=soon,v1=${VECTOR}`, SECRET, now))).toBe('SIGNATURE_MALFORMED');
    expect(code(() => verifyWebhook(BODY, `t=${T},v1=${VECTOR.toUpperCase()}`, SECRET, now))).toBe('SIGNATURE_MALFORMED');
    expect(code(() => verifyWebhook(BODY, `t=${T},v1=abc`, SECRET, now))).toBe('SIGNATURE_MALFORMED');
    expect(code(() => verifyWebhook(BODY, `garbage`, SECRET, now))).toBe('SIGNATURE_MALFORMED');
  });

  it('makes secrets of 32 random bytes', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});
