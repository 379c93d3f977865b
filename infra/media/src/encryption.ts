/**
 * AES-128-CBC of segments and parts (RFC 8216bis §4.4.4.4, §5.2: PKCS#7 padding) with Node's
 * crypto: the I/O side of `formats/keys.ts`, which holds the key tags, IVs and rotation rules.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AES_128_KEY_BYTES, SegmentEncryptionError } from './formats/keys.js';

function check(key: Uint8Array, iv: Uint8Array) {
  if (key.length !== AES_128_KEY_BYTES) throw new SegmentEncryptionError(`an AES-128 key is 16 bytes, got ${key.length}`);
  if (iv.length !== AES_128_KEY_BYTES) throw new SegmentEncryptionError(`an AES-128 IV is 16 bytes, got ${iv.length}`);
}

/**
 * Encrypts one whole resource (a segment or a part) as RFC 8216bis §5.2 METHOD=AES-128 says:
 * AES-128-CBC with PKCS#7 padding (the output is 1-16 bytes longer, a multiple of 16).
 * @throws {SegmentEncryptionError} when the key or IV is not 16 bytes.
 */
export function encryptAes128(plain: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(key, iv);
  const c = createCipheriv('aes-128-cbc', key, iv); // Node's default auto padding is PKCS#7
  return Buffer.concat([c.update(plain), c.final()]);
}

/**
 * Decrypts what {@link encryptAes128} produced (what a player does after fetching the key).
 * @throws {SegmentEncryptionError} when the key or IV is not 16 bytes, or the ciphertext is not a
 *   multiple of 16 bytes / has bad padding (wrong key or IV).
 */
export function decryptAes128(cipher: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(key, iv);
  try {
    const d = createDecipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([d.update(cipher), d.final()]);
  } catch (err) {
    throw new SegmentEncryptionError(`AES-128 decryption failed (wrong key or IV?): ${(err as Error).message}`);
  }
}

