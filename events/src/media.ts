/**
 * Media announcements: the packager tells the edges, on core NATS (not stored), that it has just
 * written a part, a segment, an init segment or a playlist of a live session, so that an edge
 * answers blocking playlist reloads (RFC 8216bis §6.2.5.2) when the part exists instead of polling
 * storage, and serves the live playlists and recent parts from memory. Announcements are a hint
 * with a copy of the bytes: storage stays the record (an edge that missed one reads storage).
 * Pure: subject builders and the wire format, no I/O.
 *
 * Subject: `media.<sessionId>` (one subject per session, every rendition: an edge subscribes to
 * the sessions its viewers watch, and one publisher's messages on one subject arrive in order).
 *
 * Wire format, version 1 (all integers big-endian):
 *
 * | bytes | field |
 * |---|---|
 * | 0 | format version, `1` |
 * | 1 | kind: `1` playlist, `2` part, `3` segment, `4` init segment |
 * | 2–3 | header length `h` (uint16, at most {@link MAX_MEDIA_HEADER_BYTES}) |
 * | 4 … 4+h | header: UTF-8 JSON `{"s":sessionId,"p":path,"n":size,"t":at,"l":live?,"b":hasBody}` |
 * | 4+h … | body: the object's stored bytes (a playlist's UTF-8 text), present when `b` is true |
 *
 * A whole message is at most {@link MAX_MEDIA_ANNOUNCEMENT_BYTES} (768 KiB, well under NATS's
 * default `max_payload` of 1 MiB); an object too large to ride along is announced without its
 * body (`b: false`) and the edge reads it from storage. A decoder meeting a newer version
 * refuses it ({@link MediaAnnouncementError}), so a version 2 needs edges that read it first.
 */
import { subjectToken } from './subjects.js';

/** Subject prefix of media announcements (core NATS, never in a stream). */
export const MEDIA_SUBJECT_PREFIX = 'media';

/** `media.<sessionId>`: every announcement of one live session (all renditions, in publish order). */
export function mediaSubject(sessionId: string): string {
  return `${MEDIA_SUBJECT_PREFIX}.${subjectToken(sessionId)}`;
}

/** Filter matching the announcements of every session: `media.*` (permissions). */
export const ALL_MEDIA_SUBJECTS = `${MEDIA_SUBJECT_PREFIX}.*`;

/** The wire format version this module writes (and the newest it reads). */
export const MEDIA_ANNOUNCEMENT_VERSION = 1;
/** Largest encoded announcement, bytes (768 KiB: NATS's default `max_payload` is 1 MiB). */
export const MAX_MEDIA_ANNOUNCEMENT_BYTES = 768 * 1024;
/** Largest header, bytes. */
export const MAX_MEDIA_HEADER_BYTES = 1024;
/**
 * Largest body an announcement carries, bytes: {@link MAX_MEDIA_ANNOUNCEMENT_BYTES} minus room
 * for the largest header. Larger objects are announced without their bytes.
 */
export const MAX_MEDIA_BODY_BYTES = MAX_MEDIA_ANNOUNCEMENT_BYTES - 4 - MAX_MEDIA_HEADER_BYTES;

/** What was written: a media playlist or master (`playlist`), a partial segment, a full segment, an init segment. */
export type MediaAnnouncementKind = 'playlist' | 'part' | 'segment' | 'init';

const KIND_CODES: Readonly<Record<MediaAnnouncementKind, number>> = { playlist: 1, part: 2, segment: 3, init: 4 };
const KINDS: readonly (MediaAnnouncementKind | undefined)[] = [undefined, 'playlist', 'part', 'segment', 'init'];

/** One announcement: an object of a live session is in storage (see the module header). */
export interface MediaAnnouncement {
  readonly kind: MediaAnnouncementKind;
  /** The session (a subject token: `[A-Za-z0-9_-]{1,128}`). */
  readonly sessionId: string;
  /**
   * The object's path below the session's storage prefix (`sessions/<sessionId>/`): `master.m3u8`,
   * `480p/index.m3u8`, `480p/seg_00012.part3.m4s`. 1 to 4 segments of `[A-Za-z0-9_-][A-Za-z0-9._-]*`,
   * at most 256 characters, no `..`.
   */
  readonly path: string;
  /** Size of the stored object, bytes (also when the body is left out). */
  readonly size: number;
  /** Publisher's clock when the object was in storage, ms since the Unix epoch. */
  readonly at: number;
  /** Playlists only: written as a live playlist (short Cache-Control) rather than a final one (ENDLIST). */
  readonly live?: boolean;
  /** The stored bytes (a playlist's UTF-8 text), or undefined when the object did not fit ({@link MAX_MEDIA_BODY_BYTES}). */
  readonly body?: Uint8Array;
}

/** An announcement could not be encoded or decoded (bad field, too large, unknown version or kind). */
export class MediaAnnouncementError extends Error {
  override readonly name = 'MediaAnnouncementError';
}

const SESSION = /^[A-Za-z0-9_-]{1,128}$/;
const PATH_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Whether `path` is a valid {@link MediaAnnouncement.path}. */
export function isMediaPath(path: string): boolean {
  if (path.length === 0 || path.length > 256) return false;
  const parts = path.split('/');
  return parts.length <= 4 && parts.every((p) => PATH_SEGMENT.test(p) && !p.includes('..'));
}

function check(a: MediaAnnouncement): void {
  if (!(a.kind in KIND_CODES)) throw new MediaAnnouncementError(`unknown kind ${JSON.stringify(a.kind)}`);
  if (!SESSION.test(a.sessionId)) throw new MediaAnnouncementError(`invalid session id ${JSON.stringify(a.sessionId)}`);
  if (!isMediaPath(a.path)) throw new MediaAnnouncementError(`invalid path ${JSON.stringify(a.path)}`);
  if (!Number.isSafeInteger(a.size) || a.size < 0) throw new MediaAnnouncementError(`invalid size ${String(a.size)}`);
  if (!Number.isSafeInteger(a.at) || a.at < 0) throw new MediaAnnouncementError(`invalid time ${String(a.at)}`);
  if (a.live !== undefined && typeof a.live !== 'boolean') throw new MediaAnnouncementError('live must be a boolean');
  if (a.body !== undefined && !(a.body instanceof Uint8Array)) throw new MediaAnnouncementError('body must be bytes');
  if (a.body !== undefined && a.body.length !== a.size) throw new MediaAnnouncementError(`body is ${a.body.length} bytes but size says ${a.size}`);
}

/**
 * Encodes `a` in wire format version 1.
 * @throws MediaAnnouncementError when a field is invalid (see {@link MediaAnnouncement}), the body
 *   is over {@link MAX_MEDIA_BODY_BYTES} (announce without it), or its length differs from `size`.
 */
export function encodeMediaAnnouncement(a: MediaAnnouncement): Uint8Array {
  check(a);
  if (a.body && a.body.length > MAX_MEDIA_BODY_BYTES) throw new MediaAnnouncementError(`body of ${a.body.length} bytes is over ${MAX_MEDIA_BODY_BYTES}: announce without it`);
  const header = new TextEncoder().encode(JSON.stringify({ s: a.sessionId, p: a.path, n: a.size, t: a.at, ...(a.live !== undefined ? { l: a.live } : {}), b: a.body !== undefined }));
  if (header.length > MAX_MEDIA_HEADER_BYTES) throw new MediaAnnouncementError('header too long');
  const out = new Uint8Array(4 + header.length + (a.body?.length ?? 0));
  out[0] = MEDIA_ANNOUNCEMENT_VERSION;
  out[1] = KIND_CODES[a.kind];
  out[2] = header.length >> 8;
  out[3] = header.length & 0xff;
  out.set(header, 4);
  if (a.body) out.set(a.body, 4 + header.length);
  return out;
}

/**
 * Decodes a message of wire format version 1. The body is a view into `data` (no copy).
 * @throws MediaAnnouncementError when the message is over {@link MAX_MEDIA_ANNOUNCEMENT_BYTES},
 *   truncated, of another version or an unknown kind, its header is not the JSON described in the
 *   module header, a field is invalid, or the body's length is not `size`.
 */
export function decodeMediaAnnouncement(data: Uint8Array): MediaAnnouncement {
  if (data.length > MAX_MEDIA_ANNOUNCEMENT_BYTES) throw new MediaAnnouncementError(`announcement of ${data.length} bytes is over ${MAX_MEDIA_ANNOUNCEMENT_BYTES}`);
  if (data.length < 4) throw new MediaAnnouncementError('truncated announcement');
  if (data[0] !== MEDIA_ANNOUNCEMENT_VERSION) throw new MediaAnnouncementError(`unsupported announcement version ${data[0]}`);
  const kind = KINDS[data[1]!];
  if (!kind) throw new MediaAnnouncementError(`unknown announcement kind ${data[1]}`);
  const h = (data[2]! << 8) | data[3]!;
  if (h > MAX_MEDIA_HEADER_BYTES || 4 + h > data.length) throw new MediaAnnouncementError('bad header length');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(4, 4 + h)));
  } catch {
    throw new MediaAnnouncementError('header is not UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new MediaAnnouncementError('header is not an object');
  const f = header as Record<string, unknown>;
  if (typeof f.s !== 'string' || typeof f.p !== 'string' || typeof f.n !== 'number' || typeof f.t !== 'number' || typeof f.b !== 'boolean') {
    throw new MediaAnnouncementError('header misses s, p, n, t or b');
  }
  const body = data.subarray(4 + h);
  if (!f.b && body.length > 0) throw new MediaAnnouncementError('body present but b is false');
  const a: MediaAnnouncement = {
    kind, sessionId: f.s, path: f.p, size: f.n, at: f.t,
    ...(f.l !== undefined ? { live: f.l as boolean } : {}),
    ...(f.b ? { body } : {}),
  };
  check(a);
  return a;
}
