import { randomBytes } from 'node:crypto';

/**
 * A UUIDv7 string (RFC 9562 §5.7): 48-bit Unix time in milliseconds, version 7, variant 10,
 * 74 random bits. Used for RTMP session ids, so they sort by connection time.
 */
export function uuidv7(now: number = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Masks a stream key for logs: everything but the last 4 characters becomes `*` (at most 8 stars,
 * so the length is not revealed exactly). Keys of 8 characters or fewer are fully masked, because
 * showing 4 of them would reveal half the secret.
 */
export function maskStreamKey(key: string): string {
  if (key.length <= 8) return '********';
  return `********${key.slice(-4)}`;
}

/**
 * The stream key from a `publish` stream name (RTMP 1.0 §7.2.2.6): anything from the first `?`
 * on (OBS/ffmpeg query parameters) is dropped, and surrounding whitespace trimmed.
 */
export function streamKeyFromPublishName(name: string): string {
  const q = name.indexOf('?');
  return (q >= 0 ? name.slice(0, q) : name).trim();
}

/**
 * The application name from the `connect` command object's `app` (RTMP 1.0 §7.2.1.1): query
 * string and leading/trailing slashes removed, e.g. `live/?x=1` → `live`.
 */
export function normalizeAppName(app: string): string {
  const q = app.indexOf('?');
  return (q >= 0 ? app.slice(0, q) : app).replace(/^\/+|\/+$/g, '');
}
