import { randomBytes } from 'node:crypto';
import { formatUuidV7 } from '@live/events';

export { maskStreamKey } from '@live/events';

/** A new UUIDv7 (RFC 9562 §5.7) for an RTMP session id, so ids sort by connection time. */
export function uuidv7(now: number = Date.now()): string {
  return formatUuidV7(now, randomBytes(10));
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
