import type { DomainEvent, RenditionSummary } from './catalogue.js';

/**
 * Status of one broadcast session, as derived from its events:
 * `starting` (publishing, no renditions yet) → `live` (renditions ready) → `ended`
 * (publisher gone, VOD being packaged) → `vod` (VOD ready); `failed` from any state.
 * `reconnecting`: the publisher's connection dropped and the session waits for it within the
 * reconnect window (StreamPublishInterrupted); StreamPublishResumed makes it `live` again (or
 * `starting` when no rendition was ready yet), StreamPublishEnded `ended`.
 */
export type SessionStatus = 'starting' | 'live' | 'reconnecting' | 'ended' | 'vod' | 'failed';

/** Statuses of a session that is still broadcasting (its channel is live). */
export const LIVE_SESSION_STATUSES: readonly SessionStatus[] = ['starting', 'live', 'reconnecting'];

/** The read model of one broadcast session (what the stream list and player need). */
export interface SessionView {
  readonly sessionId: string;
  readonly channelId: string;
  readonly status: SessionStatus;
  /** ISO-8601 timestamps. */
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly renditions: readonly RenditionSummary[];
  readonly masterPlaylistKey: string | null;
  readonly vodMasterPlaylistKey: string | null;
  readonly vodMp4Key: string | null;
  /** Seconds, once the VOD is packaged. */
  readonly durationSeconds: number | null;
  readonly failureReason: string | null;
}

/**
 * Pure projection step: applies one lifecycle event to the session's current view
 * (`null` before its first event) and returns the new view. Every transition is idempotent
 * (applying an event twice equals applying it once), so a redelivered or replayed event
 * changes nothing twice. Status never moves backwards: a late `RenditionsReady` after
 * `StreamPublishEnded` does not make a session live again, and `failed` is final except that a
 * VOD packaged after all still records its keys.
 */
export function evolveSession(view: SessionView | null, event: DomainEvent): SessionView | null {
  const at = event.occurredAt;
  switch (event.type) {
    case 'StreamPublishStarted':
      if (view) return view;
      return {
        sessionId: event.data.sessionId,
        channelId: event.data.channelId,
        status: 'starting',
        startedAt: at,
        endedAt: null,
        renditions: [],
        masterPlaylistKey: null,
        vodMasterPlaylistKey: null,
        vodMp4Key: null,
        durationSeconds: null,
        failureReason: null,
      };
    case 'TranscodeStarted':
      return view ? { ...view } : null;
    case 'RenditionsReady':
      if (!view) return null;
      return {
        ...view,
        status: view.status === 'starting' ? 'live' : view.status,
        renditions: event.data.renditions,
        masterPlaylistKey: event.data.masterPlaylistKey
      };
    case 'StreamPublishInterrupted':
      if (!view) return null;
      return view.status === 'starting' || view.status === 'live' ? { ...view, status: 'reconnecting' } : view;
    case 'StreamPublishResumed':
      if (!view) return null;
      return view.status === 'reconnecting' ? { ...view, status: view.masterPlaylistKey ? 'live' : 'starting' } : view;
    case 'StreamPublishEnded':
      if (!view) return null;
      return {
        ...view,
        status: view.status === 'starting' || view.status === 'live' || view.status === 'reconnecting' ? 'ended' : view.status,
        endedAt: view.endedAt ?? at
      };
    case 'VodReady':
      if (!view) return null;
      return {
        ...view,
        status: view.status === 'failed' ? 'failed' : 'vod',
        vodMasterPlaylistKey: event.data.masterPlaylistKey,
        vodMp4Key: event.data.mp4Key,
        durationSeconds: event.data.durationSeconds,
        endedAt: view.endedAt ?? at
      };
    case 'StreamFailed':
      if (!view) return null;
      return { ...view, status: 'failed', failureReason: event.data.reason, endedAt: view.endedAt ?? at };
    default:
      // Events of other aggregates (and StreamStopRequested, which the ingest node acts on and
      // whose effect arrives as StreamPublishEnded) do not change a session's view.
      return view;
  }
}
