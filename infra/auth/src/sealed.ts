/**
 * Secrets stored encrypted at rest (restream destination keys): AES-256-GCM (NIST SP 800-38D)
 * with a 96-bit random IV per value and the 128-bit tag, under a 32-byte key derived from a
 * configured secret (`RESTREAM_KEY_SECRET`) with HKDF-SHA256 (RFC 5869) and a purpose label, so
 * one configured secret never keys two purposes. The sealed text is
 * `v1.<iv>.<ciphertext || tag>` in base64url: safe in JSON events and text columns.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** A key for {@link sealSecret} / {@link openSecret} (32 bytes, derived by {@link sealingKey}). */
export interface SealingKey {
  readonly key: Buffer;
}

/** Fewest bytes a configured sealing secret must decode to. */
export const SEALING_SECRET_MIN_BYTES = 16;

/** Thrown when a sealed value cannot be opened (malformed, tampered with, or sealed under another key). */
export class SealedSecretError extends Error {
  override readonly name = 'SealedSecretError';
}

/**
 * Derives the sealing key for one purpose from a configured secret.
 * @param secret base64, or `hex:<hex>`; at least {@link SEALING_SECRET_MIN_BYTES} bytes.
 * @param purpose HKDF `info`, e.g. `restream-key`.
 * @throws TypeError when the secret is too short.
 */
export function sealingKey(secret: string, purpose: string): SealingKey {
  const t = secret.trim();
  const ikm = t.startsWith('hex:') ? Buffer.from(t.slice(4), 'hex') : Buffer.from(t, 'base64');
  if (ikm.length < SEALING_SECRET_MIN_BYTES) throw new TypeError(`sealing secret must decode to at least ${SEALING_SECRET_MIN_BYTES} bytes (base64, or hex:<hex>)`);
  return { key: Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), `live-platform ${purpose}`, 32)) };
}

/** Encrypts `plain` (UTF-8) with AES-256-GCM under `k`; a new random IV each call. */
export function sealSecret(k: SealingKey, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k.key, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/**
 * Decrypts a value made by {@link sealSecret}.
 * @throws SealedSecretError when it is malformed or does not authenticate under `k`.
 */
export function openSecret(k: SealingKey, sealed: string): string {
  const [v, ivText, bodyText, ...rest] = sealed.split('.');
  if (v !== 'v1' || ivText === undefined || bodyText === undefined || rest.length > 0) throw new SealedSecretError('not a sealed value');
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== 12 || body.length < 16) throw new SealedSecretError('not a sealed value');
  try {
    const d = createDecipheriv('aes-256-gcm', k.key, iv);
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
  } catch {
    throw new SealedSecretError('sealed value does not authenticate under this key');
  }
}

/**
 * The sealing key of restream destination keys, from `RESTREAM_KEY_SECRET` (HKDF purpose
 * `restream-key`).
 * @throws TypeError when the secret is too short.
 */
export function restreamSealingKey(secret: string): SealingKey {
  return sealingKey(secret, 'restream-key');
}
