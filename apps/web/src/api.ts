import { liveManifestPath, liveMasterPath, vodManifestPath, vodMasterPath } from '@live/media/formats';
/**
 * Client for the platform's HTTP API as seen from the browser (same origin; Vite proxies
 * `/api/*` to the API service): the `/api/streams` listing, and {@link callApi}, the one JSON
 * request helper every other call goes through (errors are the API's `{ code, message }`).
 */

/** Lifecycle of one publishing session, as reported by the API. */
export type StreamStatus = 'starting' | 'live' | 'reconnecting' | 'ended' | 'vod' | 'failed';

/** One publishing session of a channel (live now, or finished and kept as VOD). */
export interface StreamItem {
  readonly sessionId: string;
  readonly channelId: string;
  readonly channelName: string;
  readonly title: string;
  readonly status: StreamStatus;
  /** ISO 8601 timestamp. */
  readonly startedAt: string;
  /** ISO 8601 timestamp, null while the session runs. */
  readonly endedAt: string | null;
  /** Live master playlist, e.g. `/live/<channelId>/master.m3u8`; null when not live. */
  readonly playbackUrl: string | null;
  /** WHEP endpoint for real-time (WebRTC) playback while live; null or absent when not offered. */
  readonly whepUrl?: string | null;
  /** VOD master playlist, e.g. `/sessions/<sessionId>/vod.m3u8`; null until recorded. */
  readonly vodUrl: string | null;
  /** Progressive MP4 download of the recording; null when not (yet) available. */
  readonly vodMp4Url: string | null;
  /** Rendition names of the ladder, e.g. `["720p", "480p", "360p"]`. */
  readonly renditions: readonly string[];
  /** The recording's media duration in seconds (the VOD's playlist), null until recorded; absent from older APIs. */
  readonly durationSeconds?: number | null;
}

/** Response body of `GET /api/streams`. */
export interface StreamsResponse {
  readonly items: readonly StreamItem[];
}

/**
 * Why an API call failed: `network` (no response: API or proxy unreachable), `http` (non-2xx;
 * `status` is set, and `code` when the body was the API's `{ code, message }`, whose `message`
 * then is this error's message), `shape` (2xx but not the documented JSON).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly kind: 'network' | 'http' | 'shape',
    readonly status?: number,
    /** The API's error code, e.g. `USERNAME_TAKEN`, `TOKEN_EXPIRED`. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** True when `v` is the API's error body `{ code, message }`. */
export function isErrorBody(v: unknown): v is { code: string; message: string } {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.code === 'string' && typeof o.message === 'string';
}

/** A `fetch` as {@link callApi} uses it (injectable for tests). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Options of {@link callApi}. */
export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Sent as JSON when defined. */
  readonly body?: unknown;
  /** Access token sent as `Authorization: Bearer`; none when null/undefined. */
  readonly token?: string | null;
  readonly signal?: AbortSignal | undefined;
  /** Default: the global `fetch`. */
  readonly fetch?: FetchLike;
}

/**
 * One JSON request to the API: returns the parsed body (null for 204 No Content).
 * @throws ApiError `network` when there is no response, `http` for a non-2xx status (with the
 *   API's `code` and `message` when the body is `{ code, message }`), `shape` for a 2xx body
 *   that is not JSON.
 * @throws DOMException `AbortError` when `signal` aborts.
 */
export async function callApi(path: string, opts: CallOptions = {}): Promise<unknown> {
  const method = opts.method ?? 'GET';
  const what = `${method} ${path.split('?')[0]}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const doFetch: FetchLike = opts.fetch ?? ((input, init) => fetch(input, init));
  let res: Response;
  let text: string;
  try {
    res = await doFetch(path, {
      method,
      headers,
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
      signal: opts.signal ?? null,
    });
    text = await res.text();
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new ApiError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, 'network');
  }
  let body: unknown = undefined;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: handled below
  }
  if (!res.ok) {
    if (isErrorBody(body)) throw new ApiError(body.message, 'http', res.status, body.code);
    throw new ApiError(`${what} answered HTTP ${res.status}`, 'http', res.status);
  }
  if (res.status === 204) return null;
  if (body === undefined) throw new ApiError(`${what} did not return JSON`, 'shape', res.status);
  return body;
}

/** The message to show for a failed call: the API's own message, or the error's text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const STATUSES: ReadonlySet<string> = new Set<StreamStatus>(['starting', 'live', 'reconnecting', 'ended', 'vod', 'failed']);

function isStringOrNull(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

/** True when `v` has the shape of a {@link StreamItem}. */
export function isStreamItem(v: unknown): v is StreamItem {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.sessionId === 'string' &&
    typeof o.channelId === 'string' &&
    typeof o.channelName === 'string' &&
    typeof o.title === 'string' &&
    typeof o.status === 'string' &&
    STATUSES.has(o.status) &&
    typeof o.startedAt === 'string' &&
    isStringOrNull(o.endedAt) &&
    isStringOrNull(o.playbackUrl) &&
    (o.whepUrl === undefined || isStringOrNull(o.whepUrl)) &&
    isStringOrNull(o.vodUrl) &&
    isStringOrNull(o.vodMp4Url) &&
    Array.isArray(o.renditions) &&
    o.renditions.every((r) => typeof r === 'string')
  );
}

/** True while the session is (about to be) on air and the live playlist is the thing to play. */
export function isLive(item: StreamItem): boolean {
  return item.status === 'live' || item.status === 'starting' || item.status === 'reconnecting';
}

/**
 * Orders items the way the home page lists them: live (and starting) sessions first, then the
 * rest, each group newest `startedAt` first. Stable; does not mutate its input.
 */
export function sortStreams(items: readonly StreamItem[]): StreamItem[] {
  const time = (i: StreamItem): number => {
    const t = Date.parse(i.startedAt);
    return Number.isNaN(t) ? 0 : t;
  };
  return [...items].sort((a, b) => Number(isLive(b)) - Number(isLive(a)) || time(b) - time(a));
}

/**
 * `GET /api/streams` (or, with `channelId`, `GET /api/streams?channelId=`: that channel's sessions
 * only) → the items, validated and sorted with {@link sortStreams}.
 * Items that do not have the documented shape are dropped (a newer API may add statuses).
 * @throws ApiError on network failure, non-2xx status, or a body without an `items` array.
 * @throws DOMException `AbortError` when `signal` aborts.
 */
export async function fetchStreams(signal?: AbortSignal, channelId?: string): Promise<StreamItem[]> {
  let res: Response;
  const url = channelId === undefined ? '/api/streams' : `/api/streams?channelId=${encodeURIComponent(channelId)}`;
  try {
    res = await fetch(url, { signal: signal ?? null, headers: { accept: 'application/json' } });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(`GET /api/streams failed: ${err instanceof Error ? err.message : String(err)}`, 'network');
  }
  if (!res.ok) {
    // Vite's proxy answers 5xx when the API is down; surface the status either way.
    throw new ApiError(`GET /api/streams answered HTTP ${res.status}`, 'http', res.status);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new ApiError('GET /api/streams did not return JSON', 'shape', res.status);
  }
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) {
    throw new ApiError('GET /api/streams: response has no "items" array', 'shape', res.status);
  }
  return sortStreams(items.filter(isStreamItem));
}

/** Same-origin URL of a channel's live master playlist (served by the edge). */
export function liveMasterUrl(channelId: string): string {
  return liveMasterPath(channelId);
}

/** Same-origin URL of a channel's live MPEG-DASH manifest (rendered by the edge). */
export function liveManifestUrl(channelId: string): string {
  return liveManifestPath(channelId);
}

/** Same-origin URL of a session's VOD MPEG-DASH manifest (rendered by the edge). */
export function vodManifestUrl(sessionId: string): string {
  return vodManifestPath(sessionId);
}

/** Same-origin URL of a session's VOD master playlist (served by the edge). */
export function vodMasterUrl(sessionId: string): string {
  return vodMasterPath(sessionId);
}

/** Answer of `POST /api/streams/{id}/playback-token`: the signed token and when it expires (ISO 8601). */
export interface PlaybackToken {
  readonly token: string;
  readonly expiresAt: string;
}

/** True when `v` has the shape of a {@link PlaybackToken} (non-empty token, parsable expiry). */
export function isPlaybackToken(v: unknown): v is PlaybackToken {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.token === 'string' && o.token !== '' && typeof o.expiresAt === 'string' && Number.isFinite(Date.parse(o.expiresAt));
}

/** API path of the playback-token route for a channel id (live) or a session id (VOD). */
export function playbackTokenPath(id: string): string {
  return `/api/streams/${encodeURIComponent(id)}/playback-token`;
}

/**
 * Asks the API for a playback token (`POST /api/streams/{id}/playback-token`, body `{}`) through
 * `request`, e.g. the app session's `request` (which sends the viewer's access token when signed in).
 * @throws ApiError as `request` does (403 `PLAYBACK_FOLLOWERS_ONLY`, 401 `UNAUTHENTICATED` …),
 *   or `shape` when the answer is not a {@link PlaybackToken}.
 */
export async function requestPlaybackToken(
  id: string,
  request: (path: string, opts: { method: 'POST'; body: unknown; signal?: AbortSignal | undefined }) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<PlaybackToken> {
  const path = playbackTokenPath(id);
  const body = await request(path, { method: 'POST', body: {}, signal });
  if (!isPlaybackToken(body)) throw new ApiError(`POST ${path}: unexpected response`, 'shape');
  return body;
}

/**
 * `url` with its `token` query parameter set to `token` (added, or replaced when the edge's
 * playlist rewriting put an older one there). Only same-origin URLs and those of `origins` are
 * touched, so a token never leaves for another origin; `url` unchanged when `token` is null.
 * @param base the page URL relative URLs resolve against (default `window.location.href`).
 * @param origins further origins that get the token: the other edges a same-origin master
 *   playlist lists for content steering ({@link pathwayOrigins}).
 */
export function withPlaybackToken(url: string, token: string | null, base: string = window.location.href, origins: ReadonlySet<string> = NO_ORIGINS): string {
  if (!token) return url;
  let u: URL;
  try {
    u = new URL(url, base);
  } catch {
    return url;
  }
  if (u.origin !== new URL(base).origin && !origins.has(u.origin)) return url;
  u.searchParams.set('token', token);
  return u.href;
}

const NO_ORIGINS: ReadonlySet<string> = new Set();

/**
 * The origins of a master playlist's variant URLs other than the page's (`urls` as hls.js
 * resolved them, e.g. `ManifestLoadedData.levels[].url`): with HLS Content Steering the edge
 * lists every edge's variants, absolute on the other edges (RFC 8216bis §4.4.6.6 Pathways), and
 * the player may move to any of them. Only for a master playlist loaded from the page's own
 * origin (`masterUrl`), whose edge is trusted with the token anyway; otherwise none.
 * Unparsable URLs are skipped.
 */
export function pathwayOrigins(masterUrl: string, urls: readonly string[], base: string = window.location.href): Set<string> {
  const page = new URL(base).origin;
  const out = new Set<string>();
  try {
    if (new URL(masterUrl, base).origin !== page) return out;
  } catch {
    return out;
  }
  for (const url of urls) {
    try {
      const o = new URL(url, base).origin;
      if (o !== page && o !== 'null') out.add(o);
    } catch {
      // not a URL: hls.js will fail on it too
    }
  }
  return out;
}

/** Renew a playback token this long before it expires, or at 80% of its life when that comes first. */
const TOKEN_RENEW_LEAD_MS = 60_000;

/** When to renew a playback token that expires at `expiresAtMs` (ms since the epoch), as a delay in ms from `nowMs`; at least 5 s. */
export function tokenRenewDelayMs(expiresAtMs: number, nowMs: number): number {
  const life = expiresAtMs - nowMs;
  return Math.max(5_000, Math.min(life - TOKEN_RENEW_LEAD_MS, life * 0.8));
}
