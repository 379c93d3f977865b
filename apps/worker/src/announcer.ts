/**
 * The packager's announcements on core NATS (`@live/events` media.ts): a {@link MediaAnnouncer}
 * for one session that encodes each written object and playlist and hands it to `publish`
 * (`messaging.nc.publish`), so that edges learn of a new part without polling storage.
 */
import { encodeMediaAnnouncement, MAX_MEDIA_BODY_BYTES, mediaSubject, type MediaAnnouncement } from '@live/events';
import type { MediaAnnouncer } from '@live/media';

/** Sends one encoded announcement on a subject (core NATS publish: buffered, never waits). */
export type PublishMedia = (subject: string, data: Uint8Array) => void;

/**
 * Creates the announcer of session `sessionId`: every object and playlist on `media.<sessionId>`,
 * with its bytes when they fit in {@link MAX_MEDIA_BODY_BYTES} (768 KiB with the header), else
 * without them (the edge reads storage). Parts, init segments and playlists carry their bytes;
 * full segments never do (edges serve them from storage and their own object cache: a segment is
 * the concatenation of parts they already received).
 * @param now clock in ms (tests).
 * @throws TypeError when `sessionId` is not a subject token.
 */
export function createMediaAnnouncer(sessionId: string, publish: PublishMedia, now: () => number = Date.now): MediaAnnouncer {
  const subject = mediaSubject(sessionId);
  const send = (a: MediaAnnouncement): void => publish(subject, encodeMediaAnnouncement(a));
  return {
    object(kind, path, size, bytes) {
      const body = kind !== 'segment' && bytes && bytes.length <= MAX_MEDIA_BODY_BYTES ? bytes : undefined;
      send({ kind, sessionId, path, size, at: now(), ...(body ? { body } : {}) });
    },
    playlist(path, text, live) {
      const body = new TextEncoder().encode(text);
      send({ kind: 'playlist', sessionId, path, size: body.length, at: now(), live, ...(body.length <= MAX_MEDIA_BODY_BYTES ? { body } : {}) });
    },
  };
}
