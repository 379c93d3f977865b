/**
 * Subscriptions to the packager's media announcements (`media.<sessionId>`, core NATS), per
 * session on demand: the edge subscribes to a session when a viewer asks for it live and
 * unsubscribes when nobody has asked for `idleMs`. Why per session rather than `media.*`: an
 * announcement carries the part's bytes, so subscribing to all would send every edge every
 * rendition of every live session (the whole platform's output) whatever its viewers watch; per
 * session, an edge receives what it serves. Memory is bounded by the {@link LiveStore} and by
 * `maxSessions` subscriptions.
 */
import { decodeMediaAnnouncement, mediaSubject, MediaAnnouncementError, type MediaAnnouncement } from '@live/events';
import type { LiveStore } from './live-store.js';

/** A transport of announcements: subscribe to a subject, get each message's bytes. */
export interface AnnouncementSource {
  /** Subscribes to `subject`; `onMessage` gets each message's payload. */
  subscribe(subject: string, onMessage: (data: Uint8Array) => void): { unsubscribe(): void };
}

/**
 * An {@link AnnouncementSource} over a nats.js connection (`@live/messaging` `Messaging['nc']`):
 * core NATS subscriptions with a callback (no async iterator per session).
 */
export function natsAnnouncementSource(nc: { subscribe(subject: string, opts: { callback: (err: Error | null, msg: { data: Uint8Array }) => void }): { unsubscribe(): void } }): AnnouncementSource {
  return {
    subscribe(subject, onMessage) {
      return nc.subscribe(subject, { callback: (err, msg) => { if (!err) onMessage(msg.data); } });
    },
  };
}

/** Options of {@link createMediaFeed}. */
export interface MediaFeedOptions {
  readonly source: AnnouncementSource;
  readonly store: LiveStore;
  /** Most sessions subscribed at once (default the store's {@link DEFAULT_LIVE_SESSIONS}); one more unsubscribes the least recently touched. */
  readonly maxSessions?: number;
  /** A session nobody asked for in this many ms is unsubscribed and dropped (default 60,000). */
  readonly idleMs?: number;
  /**
   * A subscribed session counts as fed ({@link MediaFeed.isFed}) while its last announcement is
   * at most this old, ms, or its subscription is younger (default 5000: ten parts, two segments).
   * After that the edge polls storage for it again (a packager that does not announce, a lost
   * NATS connection).
   */
  readonly freshMs?: number;
  /** Called per message: the announcement (or the decoding error). For metrics and logs. */
  readonly onMessage?: (a: MediaAnnouncement | MediaAnnouncementError) => void;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** Per-session announcement subscriptions; see the module header. */
export interface MediaFeed {
  /** A viewer asked for live session `sessionId`: subscribes when not yet, marks it used. */
  touch(sessionId: string): void;
  /** Is the session subscribed and announced recently (see {@link MediaFeedOptions.freshMs})? */
  isFed(sessionId: string): boolean;
  /** Sessions subscribed. */
  sessions(): number;
  /** Unsubscribes everything and stops the idle sweep. */
  close(): void;
}

interface Subscribed {
  readonly sub: { unsubscribe(): void };
  readonly since: number;
  touched: number;
}

/** Default {@link MediaFeedOptions.maxSessions}. */
const DEFAULT_FEED_SESSIONS = 100;

/**
 * Creates a {@link MediaFeed} that applies every announcement it receives to `store`. A message
 * that does not decode, or names another session than its subject, is reported to `onMessage`
 * and ignored.
 * @throws TypeError when `maxSessions` is not a positive integer.
 */
export function createMediaFeed(opts: MediaFeedOptions): MediaFeed {
  const maxSessions = opts.maxSessions ?? DEFAULT_FEED_SESSIONS;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new TypeError('maxSessions must be a positive integer');
  const idleMs = opts.idleMs ?? 60_000;
  const freshMs = opts.freshMs ?? 5000;
  const now = opts.now ?? Date.now;
  /** Map order is touch order: the first is the least recently touched. */
  const subscribed = new Map<string, Subscribed>();

  function unsubscribe(sessionId: string): void {
    const s = subscribed.get(sessionId);
    if (!s) return;
    subscribed.delete(sessionId);
    s.sub.unsubscribe();
    opts.store.dropSession(sessionId);
  }

  function onData(sessionId: string, data: Uint8Array): void {
    let a: MediaAnnouncement;
    try {
      a = decodeMediaAnnouncement(data);
      if (a.sessionId !== sessionId) throw new MediaAnnouncementError(`announcement of session ${a.sessionId} on the subject of ${sessionId}`);
    } catch (err) {
      opts.onMessage?.(err instanceof MediaAnnouncementError ? err : new MediaAnnouncementError(String(err)));
      return;
    }
    if (!subscribed.has(sessionId)) return; // arrived after the unsubscribe
    opts.store.apply(a);
    opts.onMessage?.(a);
  }

  const sweep = setInterval(() => {
    const t = now();
    for (const [id, s] of subscribed) if (t - s.touched >= idleMs) unsubscribe(id);
  }, Math.max(50, Math.min(idleMs / 2, 10_000)));
  sweep.unref();

  return {
    touch(sessionId) {
      const t = now();
      const s = subscribed.get(sessionId);
      if (s) {
        s.touched = t;
        subscribed.delete(sessionId);
        subscribed.set(sessionId, s);
        return;
      }
      const subject = mediaSubject(sessionId);
      while (subscribed.size >= maxSessions) unsubscribe(subscribed.keys().next().value as string);
      const sub = opts.source.subscribe(subject, (data) => onData(sessionId, data));
      subscribed.set(sessionId, { sub, since: t, touched: t });
    },
    isFed(sessionId) {
      const s = subscribed.get(sessionId);
      if (!s) return false;
      const t = now();
      const last = opts.store.lastAnnouncementAt(sessionId);
      return t - s.since < freshMs || (last !== undefined && t - last < freshMs);
    },
    sessions: () => subscribed.size,
    close() {
      clearInterval(sweep);
      for (const id of [...subscribed.keys()]) unsubscribe(id);
    },
  };
}
