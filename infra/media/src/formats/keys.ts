/**
 * HLS full-segment encryption, METHOD=AES-128 (RFC 8216bis §4.4.4.4 EXT-X-KEY, §5.2 "AES-128"),
 * the format side: which key applies to a segment (rotation), its IV, and the EXT-X-KEY lines.
 * Every encrypted resource (Media Segment, and here also each Partial Segment on its own) is
 * encrypted with AES-128 in CBC mode with PKCS#7 padding under the 16-byte key at the tag's URI;
 * the cipher itself is `../encryption.ts` (Node's crypto). Keys are supplied by the caller (the
 * worker derives them from `CONTENT_KEY_SECRET` with `@live/auth`'s `deriveContentKey`).
 */

/** Bytes of an AES-128 key and of an AES block / CBC IV. */
export const AES_128_KEY_BYTES = 16;

/**
 * The EXT-X-KEY that applies to one segment (and its parts): `uri` of the key file as written in
 * the playlist (e.g. `/keys/<sessionId>/<keyIndex>.key`; the edge appends `token=`), and the
 * IV as written in the `IV` attribute: `0x` + 32 hex digits (RFC 8216bis §4.4.4.4 hexadecimal-sequence).
 * The METHOD is always `AES-128`.
 */
export interface SegmentKey {
  uri: string;
  iv: string;
}

/**
 * How the low-latency publisher encrypts (per session):
 *
 * - `rotateEverySegments`: a new key every N segments; the key index of the segment with Media
 *   Sequence Number `msn` is `floor(msn / N)`; 0 = one key (index 0) for the whole session;
 * - `keyFor(keyIndex)`: the 16-byte key of a key period (e.g. `deriveContentKey(secret, sessionId, keyIndex)`);
 * - `keyUri(keyIndex)`: the EXT-X-KEY URI of that key (e.g. `contentKeyPath(sessionId, keyIndex)`).
 */
export interface SegmentEncryption {
  rotateEverySegments: number;
  keyFor(keyIndex: number): Uint8Array;
  keyUri(keyIndex: number): string;
}

/** Bad encryption input: key not 16 bytes, IV not 16 bytes / not `0x` + 32 hex digits, bad rotation, ciphertext not decryptable. */
export class SegmentEncryptionError extends Error {
  override readonly name = 'SegmentEncryptionError';
}

/**
 * The key period of a segment: `floor(msn / rotateEverySegments)`, or 0 when
 * `rotateEverySegments` is 0 (one key per session).
 * @throws {SegmentEncryptionError} when `msn` or `rotateEverySegments` is not a non-negative safe integer.
 */
export function keyIndexFor(msn: number, rotateEverySegments: number): number {
  if (!Number.isSafeInteger(msn) || msn < 0) throw new SegmentEncryptionError(`media sequence number must be an integer >= 0, got ${msn}`);
  if (!Number.isSafeInteger(rotateEverySegments) || rotateEverySegments < 0) {
    throw new SegmentEncryptionError(`rotateEverySegments must be an integer >= 0, got ${rotateEverySegments}`);
  }
  return rotateEverySegments === 0 ? 0 : Math.floor(msn / rotateEverySegments);
}

/**
 * The IV of a segment: its Media Sequence Number as a 128-bit big-endian integer, the value
 * RFC 8216bis §5.2 implies when EXT-X-KEY has no IV attribute. The playlists therefore omit
 * `IV` (one EXT-X-KEY per key period, not per segment; `segmentHeadLines` in playlist.ts);
 * {@link SegmentKey} still carries it (`formatIv`) for whoever decrypts.
 * @returns 16 bytes.
 * @throws {SegmentEncryptionError} when `msn` is not a non-negative safe integer.
 */
export function ivForSequence(msn: number): Uint8Array {
  if (!Number.isSafeInteger(msn) || msn < 0) throw new SegmentEncryptionError(`media sequence number must be an integer >= 0, got ${msn}`);
  const iv = new Uint8Array(AES_128_KEY_BYTES);
  new DataView(iv.buffer).setBigUint64(8, BigInt(msn));
  return iv;
}

/** An IV as the EXT-X-KEY `IV` attribute writes it: `0x` + 32 lower-case hex digits. @throws {SegmentEncryptionError} unless 16 bytes. */
export function formatIv(iv: Uint8Array): string {
  if (iv.length !== AES_128_KEY_BYTES) throw new SegmentEncryptionError(`an AES-128 IV is 16 bytes, got ${iv.length}`);
  return `0x${Array.from(iv, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Reads an EXT-X-KEY `IV` attribute (`0x`/`0X` + 32 hex digits) into 16 bytes. @throws {SegmentEncryptionError} for any other form. */
export function parseIv(text: string): Uint8Array {
  if (!/^0[xX][0-9a-fA-F]{32}$/.test(text)) throw new SegmentEncryptionError(`IV must be 0x followed by 32 hex digits, got ${JSON.stringify(text)}`);
  return Uint8Array.from({ length: AES_128_KEY_BYTES }, (_, i) => parseInt(text.slice(2 + 2 * i, 4 + 2 * i), 16));
}

/**
 * The EXT-X-KEY line of a segment (RFC 8216bis §4.4.4.4): `#EXT-X-KEY:METHOD=AES-128,URI="<uri>",IV=<iv>`,
 * or without the `IV` attribute when `implicitIv` (§5.2: a key tag without IV means "the Media
 * Sequence Number of each segment is its IV", so one such line serves every following segment
 * under the same key; see {@link hasSequenceIv}).
 * @throws {SegmentEncryptionError} when the URI contains a double quote or a line break, or the IV is malformed.
 */
export function keyTagLine(key: SegmentKey, implicitIv = false): string {
  if (/["\r\n]/.test(key.uri) || key.uri === '') throw new SegmentEncryptionError(`EXT-X-KEY URI must be non-empty, without quotes or line breaks: ${JSON.stringify(key.uri)}`);
  parseIv(key.iv);
  return implicitIv ? `#EXT-X-KEY:METHOD=AES-128,URI="${key.uri}"` : `#EXT-X-KEY:METHOD=AES-128,URI="${key.uri}",IV=${key.iv}`;
}

/**
 * Is `key.iv` the IV RFC 8216bis §5.2 implies for the segment with Media Sequence Number `msn`
 * when EXT-X-KEY has no IV attribute ({@link ivForSequence})? Then its tag may omit `IV`.
 * False for a malformed IV or `msn` (never throws).
 */
export function hasSequenceIv(key: SegmentKey, msn: number): boolean {
  if (!Number.isSafeInteger(msn) || msn < 0) return false;
  return key.iv.toLowerCase() === formatIv(ivForSequence(msn));
}

/** `#EXT-X-KEY:METHOD=NONE`: ends the previous key's scope (RFC 8216bis §4.4.4.4), e.g. so that the next EXT-X-MAP stays clear. */
export const KEY_NONE_LINE = '#EXT-X-KEY:METHOD=NONE';

/**
 * Validates a {@link SegmentEncryption} and returns a function that gives the key material of a
 * segment: its {@link SegmentKey} (for the playlist), the 16-byte key and IV (for encrypting).
 * @throws {SegmentEncryptionError} when `rotateEverySegments` is not an integer >= 0.
 */
export function segmentKeying(enc: SegmentEncryption): (msn: number) => { tag: SegmentKey; key: Uint8Array; iv: Uint8Array; keyIndex: number } {
  if (!Number.isSafeInteger(enc.rotateEverySegments) || enc.rotateEverySegments < 0) {
    throw new SegmentEncryptionError(`rotateEverySegments must be an integer >= 0, got ${enc.rotateEverySegments}`);
  }
  return (msn: number) => {
    const keyIndex = keyIndexFor(msn, enc.rotateEverySegments);
    const key = enc.keyFor(keyIndex);
    if (key.length !== AES_128_KEY_BYTES) throw new SegmentEncryptionError(`keyFor(${keyIndex}) returned ${key.length} bytes, not 16`);
    const iv = ivForSequence(msn);
    return { tag: { uri: enc.keyUri(keyIndex), iv: formatIv(iv) }, key, iv, keyIndex };
  };
}
