/**
 * The SRT stream id (`SRTO_STREAMID`, at most 512 bytes) of a publisher: where its stream key
 * travels. Two forms are accepted:
 *
 * - the plain stream key (`live_…`), or `live/<key>`;
 * - the SRT Access Control form (Haivision, "SRT Access Control (Stream ID) Guidelines"):
 *   `#!::` then comma-separated `key=value` pairs in any order, e.g. `#!::r=live/<key>,m=publish`.
 *   `r` (resource) is `live/<key>` (or just `<key>`); `m` (mode), when present, must be `publish`
 *   (the spec's default `request` is taken as publish here: this listener only ingests, and many
 *   encoders omit it; an explicit `request` or `bidirectional` is refused). Other standard keys
 *   (`u`, `s`, `t`, `h`) and custom ones are ignored. A key given twice is refused.
 *
 * A percent-encoded stream id (`%23%21%3A%3Ar%3D…`: ffmpeg 5.1 passes the `streamid` of an
 * `srt://` URL on undecoded) is decoded first; keys never contain `%`.
 *
 * Pure: the listener reads the bytes with srt_getsockflag and authorizes the key through the gate.
 */

/** Longest stream id SRT carries (SRTO_STREAMID), bytes. */
export const MAX_STREAM_ID_BYTES = 512;
/** Longest stream key taken from a stream id, characters (keys are ~37). */
export const MAX_STREAM_KEY_LENGTH = 256;

/** The outcome of {@link parseSrtStreamId}. */
export type SrtStreamId =
  | { readonly ok: true; readonly app: string; readonly streamKey: string }
  | { readonly ok: false; readonly reason: string };

const AC_PREFIX = '#!::';

/** Parses a publisher's stream id (see the module comment); never throws. */
export function parseSrtStreamId(raw: Buffer | string): SrtStreamId {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  if (bytes.length === 0) return { ok: false, reason: 'no stream id: put the stream key in the SRT streamid' };
  if (bytes.length > MAX_STREAM_ID_BYTES) return { ok: false, reason: `stream id longer than ${MAX_STREAM_ID_BYTES} bytes` };
  const text = percentDecoded(bytes.toString('utf8'));
  if (/[\u0000-\u001f\u007f\ufffd]/.test(text)) return { ok: false, reason: 'stream id has control characters or invalid UTF-8' };
  if (!text.startsWith(AC_PREFIX)) return resource(text.trim());
  const pairs = new Map<string, string>();
  for (const item of text.slice(AC_PREFIX.length).split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `stream id item ${JSON.stringify(item.slice(0, 40))} is not key=value` };
    const k = item.slice(0, eq).trim();
    if (pairs.has(k)) return { ok: false, reason: `stream id gives "${k}" twice` };
    pairs.set(k, item.slice(eq + 1).trim());
  }
  const mode = pairs.get('m');
  if (mode !== undefined && mode !== 'publish') return { ok: false, reason: `stream id mode m=${mode.slice(0, 20)}: this listener only takes m=publish` };
  const r = pairs.get('r');
  if (r === undefined) return { ok: false, reason: 'stream id has no r= resource (r=live/<stream key>)' };
  return resource(r);
}

/** `live/<key>`, `<app>/<key>` (the app is checked by the gate) or `<key>`. */
function resource(r: string): SrtStreamId {
  const slash = r.indexOf('/');
  const app = slash >= 0 ? r.slice(0, slash) : 'live';
  const streamKey = slash >= 0 ? r.slice(slash + 1) : r;
  if (streamKey === '') return { ok: false, reason: 'stream id has no stream key' };
  if (streamKey.length > MAX_STREAM_KEY_LENGTH) return { ok: false, reason: `stream key longer than ${MAX_STREAM_KEY_LENGTH} characters` };
  if (/\s|\//.test(streamKey)) return { ok: false, reason: 'stream key has spaces or slashes' };
  return { ok: true, app, streamKey };
}

/** `text` with `%XX` escapes decoded, or as is when it has none or they are malformed. */
function percentDecoded(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
