/**
 * A channel's recordings and retention as the dashboard shows them (RecordingsLibrary.tsx): the
 * shapes of `GET /api/channels/{channelId}/recordings` and `…/recording-retention`, the API
 * paths, and the retention text box.
 */
import { ApiError } from './api';

/** One recording (a finished session). */
export interface Recording {
  readonly sessionId: string;
  readonly title: string;
  readonly status: 'ended' | 'vod' | 'failed';
  /** ISO 8601. */
  readonly startedAt: string;
  readonly endedAt: string | null;
  /** Seconds of media in the VOD (its playlists), null until packaged. */
  readonly durationSeconds: number | null;
}

const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null);

function isRecording(v: unknown): v is Recording {
  const o = obj(v);
  return !!o && typeof o.sessionId === 'string' && typeof o.title === 'string' && (o.status === 'ended' || o.status === 'vod' || o.status === 'failed') &&
    typeof o.startedAt === 'string' && (o.endedAt === null || typeof o.endedAt === 'string') && (o.durationSeconds === null || typeof o.durationSeconds === 'number');
}

/**
 * Validates a `GET …/recordings` body; items of another shape are dropped.
 * @throws ApiError `shape` when there is no `items` array.
 */
export function parseRecordings(body: unknown): Recording[] {
  const items = obj(body)?.items;
  if (!Array.isArray(items)) throw new ApiError('GET …/recordings: response has no "items" array', 'shape');
  return items.filter(isRecording);
}

/**
 * Validates a `GET/PUT …/recording-retention` body: the retention in days, null = forever.
 * @throws ApiError `shape` otherwise.
 */
export function parseRetention(body: unknown): number | null {
  const d = obj(body)?.retentionDays;
  if (d === null || (typeof d === 'number' && Number.isInteger(d) && d > 0)) return d;
  throw new ApiError('GET …/recording-retention: unexpected response', 'shape');
}

/** Bounds of the retention, days (the API's). */
export const RETENTION_DAYS_MAX = 3650;

/**
 * The retention typed in the box: '' keeps recordings forever (null), else whole days 1..3650.
 * Returns an error sentence for anything else.
 */
export function parseRetentionInput(text: string): { days: number | null } | { error: string } {
  const t = text.trim();
  if (t === '') return { days: null };
  if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > RETENTION_DAYS_MAX) return { error: `Retention: a whole number of days from 1 to ${RETENTION_DAYS_MAX}, or empty to keep recordings forever.` };
  return { days: Number(t) };
}

/** API path of a channel's recordings. */
export function recordingsPath(channelId: string): string {
  return `/api/channels/${encodeURIComponent(channelId)}/recordings`;
}

/** API path of one recording (PATCH rename, DELETE). */
export function recordingPath(sessionId: string): string {
  return `/api/recordings/${encodeURIComponent(sessionId)}`;
}

/** API path of a channel's retention setting. */
export function retentionPath(channelId: string): string {
  return `/api/channels/${encodeURIComponent(channelId)}/recording-retention`;
}

/** What the list says of a recording's state besides its duration. */
export function recordingStateLabel(r: Recording): string {
  return r.status === 'vod' ? 'Ready' : r.status === 'ended' ? 'Processing' : 'Failed (partial recording)';
}
