/**
 * Pure helpers of the dashboard's stream controls (StreamControls.tsx): the stream key as the
 * page holds it, the answer of the key-rotation route, and the API paths of the controls.
 */

/** The channel's publishing key as the dashboard knows it: the key itself only right after it was issued. */
export interface KnownStreamKey {
  readonly keyId: string;
  /** `********` and the last 4 characters (what the API returns for a stored key). */
  readonly maskedKey: string;
  /** The key in clear text, known only in the answer that issued it (start, rotate); else null. */
  readonly streamKey: string | null;
  /** RTMP server URL (OBS “Server”). */
  readonly ingestUrl: string;
  /** The SRT listener, `srt://host:port` (the key goes in the `streamid`), when the platform offers SRT. */
  readonly srtUrl?: string;
  /** The channel's WHIP endpoint (the key is the Bearer token), when the platform offers WHIP. */
  readonly whipUrl?: string;
}

/** The optional SRT and WHIP URLs of an API answer (`srtUrl`, `whipUrl`), those that are strings. */
export function otherIngestUrls(o: Record<string, unknown>): { srtUrl?: string; whipUrl?: string } {
  return { ...(typeof o.srtUrl === 'string' ? { srtUrl: o.srtUrl } : {}), ...(typeof o.whipUrl === 'string' ? { whipUrl: o.whipUrl } : {}) };
}

/** What the page shows in place of a hidden key: bullets, never any of its characters. */
export const HIDDEN_KEY = '••••••••••••••••';

const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null);

/**
 * The new key from the answer of `POST /api/channels/{channelId}/stream-keys/{keyId}/rotate`
 * (`{ streamKey, key: { keyId, masked }, ingestUrl }`), or null when the body has another shape.
 */
export function parseIssuedKey(body: unknown): KnownStreamKey | null {
  const o = obj(body);
  const key = obj(o?.key);
  if (!o || !key || typeof o.streamKey !== 'string' || typeof o.ingestUrl !== 'string' || typeof key.keyId !== 'string' || typeof key.masked !== 'string') return null;
  return { keyId: key.keyId, maskedKey: key.masked, streamKey: o.streamKey, ingestUrl: o.ingestUrl, ...otherIngestUrls(o) };
}

/** API path of the rotation of key `keyId` of channel `channelId`. */
export function rotateKeyPath(channelId: string, keyId: string): string {
  return `/api/channels/${encodeURIComponent(channelId)}/stream-keys/${encodeURIComponent(keyId)}/rotate`;
}

/** API path of the stop request of channel `channelId`'s live session. */
export function stopStreamPath(channelId: string): string {
  return `/api/streams/${encodeURIComponent(channelId)}/stop`;
}

/**
 * The key to keep after a `POST /api/streams/start` answer: that answer's key, with the clear
 * text of `prev` kept when it is the same key (the API returns it only once).
 */
export function mergeKnownKey(prev: KnownStreamKey | null, next: KnownStreamKey): KnownStreamKey {
  return next.streamKey === null && prev?.streamKey && prev.keyId === next.keyId ? { ...next, streamKey: prev.streamKey } : next;
}
