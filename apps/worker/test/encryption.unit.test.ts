/**
 * The worker's content keys are exactly the edge's: `deriveContentKey(CONTENT_KEY_SECRET,
 * sessionId, keyIndex)` behind `contentKeyPath(sessionId, keyIndex)`, and a VOD finds the key of
 * each EXT-X-KEY URI of its own session only.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentKeyPath, deriveContentKey } from '@live/auth';
import { decryptAes128, encryptAes128, ivForSequence, segmentKeying } from '@live/media';
import { contentKeyForUri, sessionEncryption } from '../src/activities.js';

const secret = Buffer.from('a secret of at least 16 bytes, here 41 b');

describe('session encryption', () => {
  it('derives the edge keys and key paths, rotating every N segments', () => {
    const enc = sessionEncryption(secret, 'sess_1', 3);
    const keying = segmentKeying(enc);
    const k = keying(7);
    expect(k.keyIndex).toBe(2);
    expect(Buffer.from(k.key).equals(deriveContentKey(secret, 'sess_1', 2))).toBe(true);
    // the construction documented in @live/auth (and replicated by the media integration test)
    expect(Buffer.from(k.key).equals(createHmac('sha256', secret).update('hls-aes128\0sess_1\x002').digest().subarray(0, 16))).toBe(true);
    expect(k.tag).toEqual({ uri: contentKeyPath('sess_1', 2), iv: '0x00000000000000000000000000000007' });
    const plain = Buffer.from('a segment');
    expect(decryptAes128(encryptAes128(plain, k.key, k.iv), deriveContentKey(secret, 'sess_1', 2), ivForSequence(7)).equals(plain)).toBe(true);
  });

  it('finds the key of a VOD EXT-X-KEY URI, only for its own session', () => {
    expect(contentKeyForUri(secret, 'sess_1', '/keys/sess_1/4.key').equals(deriveContentKey(secret, 'sess_1', 4))).toBe(true);
    expect(() => contentKeyForUri(secret, 'sess_1', '/keys/other/4.key')).toThrow(/not a key of session sess_1/);
    expect(() => contentKeyForUri(secret, 'sess_1', '/keys/sess_1/x.key')).toThrow(/not a key/);
  });

  it('refuses an invalid session id or a short secret', () => {
    expect(() => sessionEncryption(secret, 'bad/id', 0)).toThrow(TypeError);
    expect(() => sessionEncryption(Buffer.alloc(4), 'sess_1', 0).keyFor(0)).toThrow(/at least 16 bytes/);
  });
});
