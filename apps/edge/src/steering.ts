/**
 * HLS Content Steering on the edge's master playlists (RFC 8216bis §4.4.6.6
 * `EXT-X-CONTENT-STEERING`, Apple's "HLS Content Steering Specification" v1.2): each edge is one
 * Pathway. A master playlist this edge serves names the steering server (the API's
 * `GET /api/streams/{id}/steering`) and this edge's Pathway, and lists every variant once per
 * Pathway of `EDGE_PATHWAYS`: this edge's with the URIs as stored (relative: they resolve
 * against the URL the player used, a proxy in front included), every other edge's with absolute
 * URIs on that edge's origin (the same path, the playback token kept). The player starts on this
 * edge's Pathway and moves to another one when the steering manifest or its own failed requests
 * say so, with no clones needed (hls.js 1.7 clones by host name only, so clones cannot reach
 * edges that differ by port). Pure text rules; app.ts calls {@link addContentSteering} on the
 * master-playlist path.
 */
import { PATHWAY_ID, type EdgePathway } from '@live/runtime';

/** What an edge advertises: its Pathway, the others, and where the steering manifest is. */
export interface EdgeSteering {
  /** This edge's Pathway ID (`EDGE_PATHWAY_ID`): one of `pathways`. */
  readonly pathwayId: string;
  /**
   * Prefix of the steering manifest URL (`EDGE_STEERING_URL`): absolute
   * (`https://api.example.com/api/streams`) or a path resolved against the master playlist's URL
   * (`/api/streams`); `/<streamId>/steering` is appended.
   */
  readonly serverUrl: string;
  /** Every edge, this one included (`EDGE_PATHWAYS`, the API's list). */
  readonly pathways: readonly EdgePathway[];
}

/** Tags of a master playlist that take a `PATHWAY-ID` attribute (the spec's "#EXT-X-STREAM-INF, #EXT-X-I-FRAME-STREAM-INF"). */
const VARIANT_TAGS = ['#EXT-X-STREAM-INF:', '#EXT-X-I-FRAME-STREAM-INF:'];
/** The first of these lines starts the variant part of a master playlist: the steering tag goes before it. */
const BODY_TAGS = [...VARIANT_TAGS, '#EXT-X-MEDIA:', '#EXT-X-SESSION-DATA:', '#EXT-X-SESSION-KEY:'];
const STEERING_TAG = '#EXT-X-CONTENT-STEERING:';

/**
 * Checks an {@link EdgeSteering}: a legal Pathway ID that is one of `pathways` (when given), and
 * a server URL that is an absolute `http(s)` URL or a path starting with `/`, with nothing a
 * quoted-string may not hold (RFC 8216bis §4.2: no `"`, CR or LF).
 * @throws RangeError saying which part is wrong.
 */
export function checkEdgeSteering<T extends Pick<EdgeSteering, 'pathwayId' | 'serverUrl'> & { readonly pathways?: readonly EdgePathway[] }>(s: T): T {
  if (s.pathways && !s.pathways.some((p) => p.id === s.pathwayId)) throw new RangeError(`pathway id ${s.pathwayId} is not one of the pathways (${s.pathways.map((p) => p.id).join(', ')})`);
  if (!PATHWAY_ID.test(s.pathwayId)) throw new RangeError(`pathway id ${JSON.stringify(s.pathwayId)}: use 1 to 64 of [A-Za-z0-9._-]`);
  if (/["\r\n\s]/.test(s.serverUrl)) throw new RangeError('steering URL: no quotes or white space');
  if (!s.serverUrl.startsWith('/') || s.serverUrl.startsWith('//')) {
    let u: URL;
    try {
      u = new URL(s.serverUrl);
    } catch {
      throw new RangeError('steering URL: an absolute http(s) URL or a path starting with /');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError('steering URL: an absolute http(s) URL or a path starting with /');
  }
  return s;
}

/**
 * The `SERVER-URI` of a stream's master playlist: `<serverUrl>/<streamId>/steering` (one `/`
 * between them whatever `serverUrl` ends with; `streamId` percent-encoded).
 */
export function steeringServerUri(serverUrl: string, streamId: string): string {
  return `${serverUrl.replace(/\/+$/, '')}/${encodeURIComponent(streamId)}/steering`;
}

/**
 * The origins a page must be allowed to fetch from (its Content-Security-Policy `connect-src`)
 * to follow this steering: every edge's, and the steering server's when `serverUrl` is absolute.
 * In the order given, without duplicates.
 */
export function steeringOrigins(s: EdgeSteering): string[] {
  const all = [...s.pathways.map((p) => p.url), ...(s.serverUrl.startsWith('/') ? [] : [new URL(s.serverUrl).origin])];
  return [...new Set(all)];
}

/**
 * Splits an attribute list (RFC 8216bis §4.2) at the commas outside quoted strings:
 * `BANDWIDTH=1,CODECS="a,b"` → `['BANDWIDTH=1', 'CODECS="a,b"']`.
 */
export function splitAttributes(list: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  if (start < list.length) out.push(list.slice(start));
  return out;
}

/** `line` (a variant tag) with its `PATHWAY-ID` set to `pathwayId` (replaced when present, else appended) and its `URI` attribute mapped by `uri`. */
function variantTag(line: string, pathwayId: string, uri: (u: string) => string): string {
  const colon = line.indexOf(':');
  const attrs = splitAttributes(line.slice(colon + 1))
    .filter((a) => !/^\s*PATHWAY-ID=/.test(a))
    .map((a) => a.replace(/^(\s*URI=")([^"]*)"$/, (_m, lead: string, u: string) => `${lead}${uri(u)}"`));
  attrs.push(`PATHWAY-ID="${pathwayId}"`);
  return `${line.slice(0, colon + 1)}${attrs.join(',')}`;
}

/** What {@link addContentSteering} needs: the edge's steering and this master playlist's place. */
export interface MasterSteering {
  /** This edge's Pathway ID. */
  readonly pathwayId: string;
  /** Every Pathway (this one included; the others get absolute URIs on their `url`). */
  readonly pathways: readonly EdgePathway[];
  /** The steering manifest's URI ({@link steeringServerUri}); resolved by the player against the master playlist's URL. */
  readonly serverUri: string;
  /** The path this master playlist was requested at on the edge, e.g. `/live/ch_1/master.m3u8`: the other Pathways' URIs resolve against it on their origins. */
  readonly masterPath: string;
}

/**
 * Adds content steering to a master (multivariant) playlist:
 * - `#EXT-X-CONTENT-STEERING:SERVER-URI="<serverUri>",PATHWAY-ID="<pathwayId>"` before the first
 *   variant, rendition or session tag (an earlier EXT-X-CONTENT-STEERING line is dropped: the
 *   tag may appear once);
 * - `PATHWAY-ID="<pathwayId>"` on every EXT-X-STREAM-INF and EXT-X-I-FRAME-STREAM-INF
 *   (replacing one already there), their URIs unchanged;
 * - then, for every other Pathway in order, a copy of each of those variants with that
 *   Pathway's id and its URI resolved against `<pathway url><masterPath>` (query, the playback
 *   token included, kept). EXT-X-MEDIA renditions are shared, not copied.
 * Everything else is kept byte for byte, CRLF line ends too. A text that is not a master
 * playlist (no EXT-X-STREAM-INF) is returned unchanged.
 * @throws RangeError when the id, the URI or `pathways` are not valid ({@link checkEdgeSteering}).
 */
export function addContentSteering(master: string, s: MasterSteering): string {
  checkEdgeSteering({ pathwayId: s.pathwayId, serverUrl: s.serverUri, pathways: s.pathways });
  if (!/^#EXT-X-STREAM-INF:/m.test(master)) return master;
  const keep = (u: string): string => u;
  const out: string[] = [];
  /** This edge's variants: [tag line, URI line or null (I-frame)], without line ends. */
  const variants: Array<[string, string | null]> = [];
  let eol = '';
  let tagWritten = false;
  let pendingStreamInf: string | null = null;
  for (const raw of master.split('\n')) {
    const cr = raw.endsWith('\r');
    const line = cr ? raw.slice(0, -1) : raw;
    const end = cr ? '\r' : '';
    if (cr) eol = '\r';
    if (line.startsWith(STEERING_TAG)) continue;
    if (!tagWritten && BODY_TAGS.some((t) => line.startsWith(t))) {
      out.push(`${STEERING_TAG}SERVER-URI="${s.serverUri}",PATHWAY-ID="${s.pathwayId}"${end}`);
      tagWritten = true;
    }
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pendingStreamInf = line;
      out.push(`${variantTag(line, s.pathwayId, keep)}${end}`);
    } else if (line.startsWith('#EXT-X-I-FRAME-STREAM-INF:')) {
      variants.push([line, null]);
      out.push(`${variantTag(line, s.pathwayId, keep)}${end}`);
    } else {
      if (pendingStreamInf !== null && line.trim() !== '' && !line.startsWith('#')) {
        variants.push([pendingStreamInf, line.trim()]);
        pendingStreamInf = null;
      }
      out.push(raw);
    }
  }
  // the other Pathways' copies go after everything, before a final empty line
  const trailing = out.length > 0 && out[out.length - 1]!.replace('\r', '') === '' ? out.pop()! : null;
  for (const p of s.pathways) {
    if (p.id === s.pathwayId) continue;
    const base = `${p.url}${s.masterPath}`;
    const on = (u: string): string => (ABSOLUTE.test(u) ? u : new URL(u, base).href);
    for (const [tag, uri] of variants) {
      out.push(`${variantTag(tag, p.id, on)}${eol}`);
      if (uri !== null) out.push(`${on(uri)}${eol}`);
    }
  }
  if (trailing !== null) out.push(trailing);
  return out.join('\n');
}

/** A URI with a scheme (`https:`, `data:`), left as it is on every Pathway. */
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
