/**
 * UUID version 7 (RFC 9562 §5.7): 48-bit big-endian Unix epoch milliseconds,
 * 4-bit version (0b0111), 12 bits of random, 2-bit variant (0b10), 62 bits of random.
 *
 * This is a pure formatter: the caller supplies the clock and the random bytes, so the
 * same function serves Node code (crypto random) and Temporal workflow code (whose
 * `Date.now()` and `Math.random()` are deterministic inside the sandbox).
 *
 * @param unixMs milliseconds since the Unix epoch, 0 ≤ unixMs < 2^48.
 * @param random at least 10 random bytes (only the first 10 are used).
 * @returns the canonical lowercase 8-4-4-4-12 string.
 * @throws RangeError when unixMs is out of range or fewer than 10 random bytes are given.
 */
export function formatUuidV7(unixMs: number, random: Uint8Array): string {
  if (!Number.isInteger(unixMs) || unixMs < 0 || unixMs >= 2 ** 48) {
    throw new RangeError(`uuidv7: timestamp out of range: ${unixMs}`);
  }
  if (random.length < 10) throw new RangeError('uuidv7: need 10 random bytes');
  const b = new Uint8Array(16);
  let ms = unixMs;
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b.set(random.subarray(0, 10), 6);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // variant 10xx
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Matches any RFC 9562 version-7 UUID string (lowercase or uppercase hex). */
export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Extracts the embedded Unix millisecond timestamp of a UUIDv7 (RFC 9562 §5.7).
 * @throws TypeError when `id` is not a UUIDv7.
 */
export function uuidV7Time(id: string): number {
  if (!UUID_V7_PATTERN.test(id)) throw new TypeError(`not a UUIDv7: ${id}`);
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
