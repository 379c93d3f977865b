/**
 * Restreaming (simulcast): a channel's destinations, RTMP or RTMPS servers (Twitch, YouTube, a
 * Restream.io ingest, another platform) that receive the broadcast while it is live, copied
 * without re-encoding. Each type is registered in `EventDataByType` (catalogue.ts).
 *
 * - channel `evt.channel.<channelId>` (appended by the API): RestreamDestinationAdded,
 *   RestreamDestinationUpdated, RestreamDestinationRemoved. The destination's stream key travels
 *   and is stored only sealed (AES-256-GCM, `RESTREAM_KEY_SECRET`, `@live/auth` `sealSecret`),
 *   with its last four characters for display.
 * - stream `evt.stream.<channelId>` (appended by the ingest node that holds the publisher):
 *   RestreamStarted, RestreamReconnecting, RestreamStopped, per session and destination.
 *
 * The rules both the API and the ingest node apply (which URLs are destinations, how a key is
 * shown) live here, once.
 */

/** A destination was added to a channel. */
export interface RestreamDestinationAddedV1 {
  readonly channelId: string;
  readonly destinationId: string;
  /** Shown in the dashboard, e.g. `Twitch`; 1-64 characters. */
  readonly name: string;
  /** Server URL, `rtmp://` or `rtmps://` ({@link validateRestreamUrl}); the key is appended as the last path segment. */
  readonly url: string;
  /** The stream key sealed with AES-256-GCM (`v1.<iv>.<ciphertext+tag>`, base64url); never the key itself. */
  readonly keySealed: string;
  /** Last four characters of the key, for display. */
  readonly keyLast4: string;
  /** Pushed when the channel goes live. */
  readonly enabled: boolean;
}

/** A destination's settings now read as given (the key only when it was replaced). */
export interface RestreamDestinationUpdatedV1 {
  readonly channelId: string;
  readonly destinationId: string;
  readonly name: string;
  readonly url: string;
  readonly enabled: boolean;
  /** A new sealed key; absent: the key is unchanged. */
  readonly keySealed?: string;
  /** Last four characters of the new key; present with `keySealed`. */
  readonly keyLast4?: string;
}

/** A destination was removed from its channel. */
export interface RestreamDestinationRemovedV1 {
  readonly channelId: string;
  readonly destinationId: string;
}

/** A push to a destination is running: its server accepted the stream and media flows. `attempt` counts from 1 per session. */
export interface RestreamStartedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly destinationId: string;
  readonly attempt: number;
  /** The ingest node that pushes. */
  readonly ingestNodeId: string;
}

/**
 * A push failed (could not connect, or the connection dropped) and is retried after
 * `retryInMs` (exponential backoff, capped). `attempt` is the attempt that failed.
 */
export interface RestreamReconnectingV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly destinationId: string;
  readonly attempt: number;
  /** Why, for the streamer: ffmpeg's last error line (no key, no URL path). */
  readonly reason: string;
  /** Milliseconds until the next attempt. */
  readonly retryInMs: number;
  readonly ingestNodeId: string;
}

/** Why a push stopped. */
export type RestreamStopReason = 'session-ended' | 'publisher-disconnected' | 'disabled' | 'updated' | 'removed' | 'node-shutdown';

/**
 * A push to a destination stopped: the session ended (`session-ended`) or its publisher dropped
 * (`publisher-disconnected`; a reconnect within the window starts the push again), the
 * destination was disabled, changed (`updated`: restarted with the new settings) or removed, or
 * the node shut down.
 */
export interface RestreamStoppedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly destinationId: string;
  readonly reason: RestreamStopReason;
  readonly ingestNodeId: string;
}

/** The state of a destination as the dashboard shows it (the read model's `state`). */
export type RestreamState = 'idle' | 'live' | 'reconnecting' | 'stopped';

/** Most destinations a channel may have. */
export const MAX_RESTREAM_DESTINATIONS = 10;

/** Why a destination URL or key was refused (the API maps it to `INVALID_RESTREAM_DESTINATION`). */
export type RestreamUrlProblem = 'not-a-url' | 'scheme' | 'credentials' | 'query' | 'too-long' | 'key';

/**
 * Checks a destination server URL: an absolute `rtmp://` or `rtmps://` URL with a host, no user
 * info, query or fragment, at most 512 characters. Returns the URL without a trailing slash, or
 * the problem.
 */
export function validateRestreamUrl(input: string): { ok: true; url: string } | { ok: false; problem: RestreamUrlProblem } {
  if (input.length > 512) return { ok: false, problem: 'too-long' };
  let u: URL;
  try {
    u = new URL(input.trim());
  } catch {
    return { ok: false, problem: 'not-a-url' };
  }
  if (u.protocol !== 'rtmp:' && u.protocol !== 'rtmps:') return { ok: false, problem: 'scheme' };
  if (u.hostname === '') return { ok: false, problem: 'not-a-url' };
  if (u.username !== '' || u.password !== '') return { ok: false, problem: 'credentials' };
  if (u.search !== '' || u.hash !== '') return { ok: false, problem: 'query' };
  return { ok: true, url: u.toString().replace(/\/+$/, '') };
}

/** A destination stream key: 1-256 printable ASCII characters, no whitespace or `/`. */
export function isValidRestreamKey(key: string): boolean {
  return /^[\x21-\x2e\x30-\x7e]{1,256}$/.test(key);
}

/**
 * What is kept of a key for display: its last four characters, none for a key of 8 characters or
 * fewer (shown as `maskedStreamKeyFromLast4` of keys.ts shows stream keys).
 */
export function restreamKeyLast4(key: string): string {
  return key.length > 8 ? key.slice(-4) : '';
}

/** The URL a push is sent to: the server URL and the key as its last path segment (`rtmp://host/app/<key>`). */
export function restreamTargetUrl(url: string, key: string): string {
  return `${url.replace(/\/+$/, '')}/${key}`;
}
