/** Secrets sealed at rest (sealed.ts): AES-256-GCM round trip, refusals, key derivation. */
import { describe, expect, it } from 'vitest';
import { openSecret, restreamSealingKey, sealingKey, sealSecret, SealedSecretError } from '../src/index.js';

const secret = Buffer.alloc(32, 7).toString('base64');

describe('sealSecret / openSecret', () => {
  it('round-trips, with a new IV each time and no plaintext in the sealed text', () => {
    const k = restreamSealingKey(secret);
    const a = sealSecret(k, 'live_abcdef123456');
    const b = sealSecret(k, 'live_abcdef123456');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('abcdef');
    expect(openSecret(k, a)).toBe('live_abcdef123456');
  });
  it('refuses a tampered value, another key, another purpose and junk', () => {
    const k = restreamSealingKey(secret);
    const sealed = sealSecret(k, 'key');
    const body = sealed.split('.')[2]!;
    const flipped = `${sealed.slice(0, sealed.length - body.length)}${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`;
    expect(() => openSecret(k, flipped)).toThrow(SealedSecretError);
    expect(() => openSecret(restreamSealingKey(Buffer.alloc(32, 8).toString('base64')), sealed)).toThrow(SealedSecretError);
    expect(() => openSecret(sealingKey(secret, 'other'), sealed)).toThrow(SealedSecretError);
    expect(() => openSecret(k, 'v1.abc')).toThrow(SealedSecretError);
    expect(() => openSecret(k, 'plain-key')).toThrow(SealedSecretError);
  });
  it('refuses a secret shorter than 16 bytes; takes hex:', () => {
    expect(() => restreamSealingKey(Buffer.alloc(8).toString('base64'))).toThrow(TypeError);
    expect(openSecret(restreamSealingKey(`hex:${'07'.repeat(32)}`), sealSecret(restreamSealingKey(secret), 'x'))).toBe('x');
  });
});
