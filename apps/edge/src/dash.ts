/**
 * MPEG-DASH on the edge: `GET|HEAD /live/:channelId/manifest.mpd` (the channel's live session,
 * a dynamic MPD) and `GET|HEAD /sessions/:sessionId/vod.mpd` (a finished session's VOD, a static
 * MPD), rendered per request (its clock: publishTime, UTCTiming) by `renderDashMpd`
 * (`@live/media/formats`) from the HLS playlists the packager wrote beside them, parsed once per
 * version (their ETags): the master playlist (renditions, bandwidth, codecs) and each
 * rendition's live `index.m3u8` or `vod.m3u8` (segments, durations, PROGRAM-DATE-TIME, init
 * segments). The MPD's segment URLs are the HLS segment objects, served by the ordinary routes.
 *
 * The only media read is the timing the playlists do not carry: the video track's timescale
 * (init segment) and the media time (`tfdt`) of the first listed segment of each packager
 * attempt, read once per object (both are immutable) and kept in a bounded map.
 *
 * Low-latency DASH (live, when the playlists are low-latency): the MPD lists the segment being
 * written and advertises `availabilityTimeOffset` (segment − part), a ServiceDescription and the
 * edge's `/time` as UTCTiming (see `renderSessionMpd`); a request for that segment is answered
 * part by part as a growing chunked body by app.ts `serveOpenSegment` (open-segment.ts).
 *
 * Token and policy checks are the playlists' (the routes' `resolve` callbacks are the edge's
 * own); a viewer's token is carried into every segment URL. Encryption: the packager's HLS
 * encryption is AES-128 CBC over whole segments and parts (RFC 8216bis §5.2), which no DASH
 * content protection scheme describes (ClearKey is CENC: AES-CTR or CBCS sample encryption
 * inside the segment), so an encrypted channel's MPD is answered 409 DASH_ENCRYPTED: DASH plays
 * unencrypted channels only.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DashMpdError, dashRepresentationOf, dashRunsOf, llSegmentUri, masterPlaylistKey, parseLowLatencyPlaylist, mediaPlaylistKey, MPD_CONTENT_TYPE, parseMasterPlaylist,
  parseMediaPlaylist, PlaylistParseError, renderDashMpd, sessionKeyPrefix, vodMasterKey, vodPlaylistKey,
  LIVE_MANIFEST_MPD, VOD_MANIFEST_MPD, Mp4ParseError, parseFragment, parseInitTracks, dashOpenSegmentOf, dashLowLatencyTimingOf,
  type DashLowLatency, type DashRepresentationInput, type DashRun, type MediaPlaylist, type VariantStream,
} from '@live/media/formats';
import { compressPlaylist, negotiatePlaylistEncoding } from './playlist-body.js';
import type { ObjectStorage } from '@live/storage';
import type { PlaybackTokenErrorCode } from '@live/auth';

/** The DASH entries of the edge's error catalogue (`EDGE_ERRORS`). */
export const DASH_ERRORS = {
  DASH_ENCRYPTED: {
    status: 409,
    message: 'MPEG-DASH is served for unencrypted channels only: AES-128 CBC segment encryption has no DASH equivalent. Play the HLS master playlist.',
  },
  DASH_UNAVAILABLE: { status: 503, message: 'The session\'s playlists or segments cannot be described as MPEG-DASH yet; retry shortly.' },
} as const;

/** A playlist as the edge reads it (app.ts `readPlaylist`): its text and stored metadata. */
export interface DashPlaylist {
  readonly text: string;
  readonly info: { readonly cacheControl: string; readonly etag: string };
}

/** What a request resolved to: the session to describe and the viewer's verified token (null: none given). */
interface DashTarget {
  readonly sessionId: string;
  readonly token: string | null;
}

/**
 * The edge's own lookups and checks, as app.ts has them (`P` its policy type): the DASH routes
 * refuse and look up exactly as the playlist routes do.
 */
export interface DashRouteDeps<P> {
  readonly storage: ObjectStorage;
  /** The channel's playback policy (null: no such channel). */
  policyOf(channelId: string): Promise<P | null>;
  /** The channel's live session (null: offline). */
  liveSessionOf(channelId: string): Promise<string | null>;
  /** A session's channel (null: no such session). */
  channelOfSession(sessionId: string): Promise<string | null>;
  /** The playback token check: the verified token (null: none needed nor given), or the refusal's code. */
  authorise(req: FastifyRequest, channelId: string, sessionId: string | null, policy: P | null): { token: string | null } | { refused: PlaybackTokenErrorCode };
  /** Answers (and counts) a token refusal. */
  refuse(reply: FastifyReply, code: PlaybackTokenErrorCode): FastifyReply;
  /** Reads a playlist (from the live store when `fromStore`); null when absent. */
  readPlaylist(key: string, fromStore: boolean): Promise<DashPlaylist | null>;
  /** Is the session fed by announcements (its live playlists in memory)? Marks it watched (`touch`). */
  watch(sessionId: string): boolean;
  /** Sends a catalogue error. */
  sendError(reply: FastifyReply, code: 'NOT_FOUND' | 'BAD_PATH' | 'CHANNEL_OFFLINE' | keyof typeof DASH_ERRORS, detail?: string): FastifyReply;
  /** Cache-Control of an answer carrying a viewer's token. */
  readonly tokenisedCacheControl: string;
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Bytes read from a segment's start to find its first `moof` (tfdt). */
const MOOF_PROBE_BYTES = 64 * 1024;
/** Entries of the media-time map before it is cleared. */
const TIMING_ENTRIES = 20_000;
/** Sessions whose latest description is kept before the map is cleared. */
const DESCRIBED_SESSIONS = 1000;

/** Media timing read from storage, by object key (init: video timescale; segment: tfdt in that timescale). */
function createTimingReader(storage: ObjectStorage) {
  const known = new Map<string, Promise<number>>();
  const remember = (key: string, load: () => Promise<number>): Promise<number> => {
    let p = known.get(key);
    if (!p) {
      if (known.size >= TIMING_ENTRIES) known.clear();
      p = load();
      known.set(key, p);
      p.catch(() => known.delete(key));
    }
    return p;
  };
  const tracksOf = async (initKey: string) => {
    const init = await storage.read(initKey);
    if (!init) throw new DashMpdError(`missing init segment ${initKey}`);
    const tracks = parseInitTracks(init);
    const video = tracks.find((t) => t.handler === 'vide') ?? tracks[0];
    if (!video) throw new DashMpdError(`init segment ${initKey} has no track`);
    return { tracks, video };
  };
  return {
    /** Ticks per second of the init segment's video track (else its first track). */
    timescale: (initKey: string) => remember(initKey, async () => (await tracksOf(initKey)).video.timescale),
    /** The `tfdt` of the segment's first fragment on that track, in its timescale. */
    start: (segmentKey: string, initKey: string) => remember(segmentKey, async () => {
      const { tracks, video } = await tracksOf(initKey);
      const stream = await storage.createReadStream(segmentKey, { start: 0, end: MOOF_PROBE_BYTES - 1 });
      if (!stream) throw new DashMpdError(`missing segment ${segmentKey}`);
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      const head = Buffer.concat(chunks);
      const moofSize = head.length >= 8 && head.toString('latin1', 4, 8) === 'moof' ? head.readUInt32BE(0) : 0;
      if (moofSize < 8 || moofSize > head.length) throw new DashMpdError(`segment ${segmentKey} does not start with a moof within ${MOOF_PROBE_BYTES} bytes`);
      const run = parseFragment(head.subarray(0, moofSize), tracks).runs.find((r) => r.trackId === video.id);
      if (!run) throw new DashMpdError(`segment ${segmentKey} has no sample of track ${video.id}`);
      return run.baseDecodeTime;
    }),
  };
}

/** What an MPD of a session is made from: its Representations and live timing, from one version of its playlists. */
interface SessionDescription {
  readonly reps: readonly DashRepresentationInput[];
  /** Longest HOLD-BACK and target duration of the media playlists (s; 0 when absent). */
  readonly hold: number;
  readonly target: number;
  /** Cache-Control of the master playlist. */
  readonly cacheControl: string;
  /** Live, low-latency playlists (PART-TARGET, target duration; s): the MPD is low-latency DASH. Null otherwise. */
  readonly lowLatency: { readonly partDuration: number; readonly segmentDuration: number } | null;
}

/**
 * Live low-latency: the open segment of `text` (its parts being written), when it follows the
 * last run, becomes that run's `openDuration` (expected: the run's last complete segment's
 * duration, else the target duration). Unchanged otherwise (VOD: `text` null).
 */
function withOpenSegment<R extends { firstNumber: number; durations: readonly number[] }>(runs: R[], text: string | null): Array<R & { openDuration?: number }> {
  const timing = text !== null ? dashLowLatencyTimingOf(text) : null;
  const open = timing ? dashOpenSegmentOf(text!) : null;
  const last = runs.at(-1);
  if (!timing || !open || !last || open.msn !== last.firstNumber + last.durations.length) return runs;
  return [...runs.slice(0, -1), { ...last, openDuration: last.durations.at(-1) ?? timing.segmentDuration }];
}

/** One rendition's Representation from its media playlist `text` (null: encrypted). */
async function describeRendition(timing: ReturnType<typeof createTimingReader>, prefix: string, v: VariantStream, text: string, live: boolean): Promise<DashRepresentationInput | null> {
  const name = v.uri.split('/')[0]!;
  const playlist: MediaPlaylist = parseMediaPlaylist(text);
  if (playlist.segments.some((s) => s.key)) return null;
  const outlines = withOpenSegment(dashRunsOf(playlist, live), live ? text : null);
  const initKey = (init: string) => `${prefix}/${name}/${init}`;
  const timescale = await timing.timescale(initKey(outlines[0]!.init));
  const runs: DashRun[] = await Promise.all(outlines.map(async (o) => {
    const start = await timing.start(`${prefix}/${name}/${llSegmentUri(o.firstNumber)}`, initKey(o.init));
    const scale = o.init === outlines[0]!.init ? timescale : await timing.timescale(initKey(o.init));
    // every attempt's timeline in the first attempt's timescale
    return { ...o, start: Math.round((start * timescale) / scale) };
  }));
  return dashRepresentationOf(v, timescale, runs);
}

/**
 * Describes a session from its stored playlists: `live` reads `master.m3u8` and each rendition's
 * `index.m3u8`, else `vod.m3u8` and each `vod.m3u8`. Null when the master playlist does not
 * exist (yet); `encrypted` when a segment carries an EXT-X-KEY. The description of one version
 * of the playlists (their ETags) is kept per session and reused until one of them changes.
 * @throws {DashMpdError | PlaylistParseError | Mp4ParseError} when the playlists or segments cannot be described.
 */
async function describeSession(
  deps: DashRouteDeps<unknown>, timing: ReturnType<typeof createTimingReader>, known: Map<string, { version: string; description: SessionDescription }>,
  sessionId: string, live: boolean,
): Promise<SessionDescription | 'encrypted' | null> {
  const prefix = sessionKeyPrefix(sessionId);
  const fed = live && deps.watch(sessionId);
  const master = await deps.readPlaylist(live ? masterPlaylistKey(prefix) : vodMasterKey(prefix), fed);
  if (!master) return null;
  const variants = parseMasterPlaylist(master.text);
  if (variants.length === 0) throw new DashMpdError('the master playlist lists no variant');
  const media = await Promise.all(variants.map(async (v) => {
    const name = v.uri.split('/')[0]!;
    const key = live ? mediaPlaylistKey(prefix, name) : vodPlaylistKey(prefix, name);
    const p = await deps.readPlaylist(key, fed);
    if (!p) throw new DashMpdError(`missing playlist ${key}`);
    return p;
  }));
  const version = [master, ...media].map((p) => p.info.etag).join(' ');
  const id = `${live ? 'live' : 'vod'} ${sessionId}`;
  const hit = known.get(id);
  if (hit?.version === version) return hit.description;
  const reps = await Promise.all(variants.map((v, i) => describeRendition(timing, prefix, v, media[i]!.text, live)));
  if (reps.includes(null)) return 'encrypted';
  const description: SessionDescription = {
    reps: reps as DashRepresentationInput[], cacheControl: master.info.cacheControl,
    hold: Math.max(...media.map((p) => Number(parseLowLatencyPlaylist(p.text).serverControl?.['HOLD-BACK'] ?? 0))),
    target: Math.max(...media.map((p) => parseLowLatencyPlaylist(p.text).targetDuration ?? 0)),
    lowLatency: live ? dashLowLatencyTimingOf(media[0]!.text) : null,
  };
  if (known.size >= DESCRIBED_SESSIONS) known.clear();
  known.set(id, { version, description });
  return description;
}

/** Path of the edge's time endpoint (`urn:mpeg:dash:utc:http-iso:2014`), named by low-latency MPDs' UTCTiming. */
export const DASH_TIME_PATH = '/time';
/** Low-latency MPDs: the wall-clock latency aimed at, in parts (2 x 0.5 s = 1 s behind the clock). */
const TARGET_LATENCY_PARTS = 2;
/** Low-latency MPDs: the playback rates a player may use to hold the target (Shaka's own catch-up default is 1.1). */
const LL_PLAYBACK_RATES = { min: 1, max: 1.1 } as const;

/**
 * The low-latency settings of a live MPD (formats/dash.ts `DashLowLatency`): the target latency
 * is {@link TARGET_LATENCY_PARTS} parts, the time source the edge's {@link DASH_TIME_PATH}.
 * PlaybackRate min is 1: players only speed up to catch up (Shaka measures its latency from its
 * own live edge, which lies one part behind the clock, and would otherwise slow down to add
 * the target a second time).
 */
function lowLatencyOf(ll: NonNullable<SessionDescription['lowLatency']>): DashLowLatency {
  return {
    ...ll, targetLatencyMs: Math.round(TARGET_LATENCY_PARTS * ll.partDuration * 1000),
    minPlaybackRate: LL_PLAYBACK_RATES.min, maxPlaybackRate: LL_PLAYBACK_RATES.max, timeUrl: DASH_TIME_PATH,
  };
}

/**
 * The MPD of a described session at `now`, with the viewer's token in its URLs when given.
 * Live and low-latency: `minimumUpdatePeriod` one part (a new segment is listed once its first
 * part exists: players learn of it within a part) and `suggestedPresentationDelay` 0:
 * low-latency players follow the ServiceDescription (DASH-IF IOP low-latency), and Shaka, which
 * subtracts the delay from its live edge (the newest segment's early availability, now − one
 * part) and then holds its ServiceDescription target ± 0.5 s on top, ends up within [target,
 * target + 1 s] of the clock instead of a second target further; a player that ignores
 * `availabilityTimeOffset` plays a whole segment behind the clock. Otherwise: the target
 * duration and HOLD-BACK.
 */
function renderSessionMpd(d: SessionDescription, live: boolean, token: string | null, now: Date): string {
  const target = Math.max(1, d.target);
  const ll = live && d.lowLatency ? lowLatencyOf(d.lowLatency) : null;
  const timing = ll
    ? { now, minimumUpdatePeriod: ll.partDuration, suggestedPresentationDelay: 0, lowLatency: ll }
    : { now, minimumUpdatePeriod: target, suggestedPresentationDelay: d.hold > 0 ? d.hold : 3 * target };
  return renderDashMpd({
    type: live ? 'dynamic' : 'static',
    representations: d.reps,
    ...(live ? { live: timing } : {}),
    ...(token !== null ? { query: `token=${encodeURIComponent(token)}` } : {}),
  });
}

/**
 * Registers the DASH routes on the edge (see the module comment), and `GET|HEAD /time`
 * ({@link DASH_TIME_PATH}: the edge's clock as ISO 8601 text, `Cache-Control: no-store`, the
 * `urn:mpeg:dash:utc:http-iso:2014` source of low-latency MPDs). MPD answers: 200 with
 * `Content-Type: application/dash+xml` and the playlists' Cache-Control (`private, no-store`
 * with a token), br or gzip by `Accept-Encoding` as the playlists (`Vary: Accept-Encoding`); the playlists' refusals (401/403 token codes, 404 CHANNEL_OFFLINE / NOT_FOUND);
 * 404 NOT_FOUND before the master playlist exists; 409 DASH_ENCRYPTED for an encrypted session;
 * 503 DASH_UNAVAILABLE when the playlists or segments cannot be described (logged).
 */
export function registerDash<P>(app: FastifyInstance, deps: DashRouteDeps<P>): void {
  const timing = createTimingReader(deps.storage);
  const described = new Map<string, { version: string; description: SessionDescription }>();
  const resolveLive = async (req: FastifyRequest, reply: FastifyReply, channelId: string): Promise<DashTarget | FastifyReply> => {
    // a channel not known to exist: its live session is looked up only if it does
    const policy = await deps.policyOf(channelId);
    const sessionId = policy ? await deps.liveSessionOf(channelId) : null;
    const auth = deps.authorise(req, channelId, sessionId, policy);
    if ('refused' in auth) return deps.refuse(reply, auth.refused);
    return sessionId ? { sessionId, token: auth.token } : deps.sendError(reply, 'CHANNEL_OFFLINE');
  };
  const resolveSession = async (req: FastifyRequest, reply: FastifyReply, sessionId: string): Promise<DashTarget | FastifyReply> => {
    const channelId = await deps.channelOfSession(sessionId);
    if (!channelId) return deps.sendError(reply, 'NOT_FOUND');
    const auth = deps.authorise(req, channelId, sessionId, await deps.policyOf(channelId));
    return 'refused' in auth ? deps.refuse(reply, auth.refused) : { sessionId, token: auth.token };
  };
  const answer = async (req: FastifyRequest, reply: FastifyReply, target: DashTarget | FastifyReply, live: boolean): Promise<FastifyReply> => {
    if (!('sessionId' in target)) return target;
    let out: Awaited<ReturnType<typeof describeSession>>;
    try {
      out = await describeSession(deps as DashRouteDeps<unknown>, timing, described, target.sessionId, live);
    } catch (err) {
      if (!(err instanceof DashMpdError || err instanceof PlaylistParseError || err instanceof Mp4ParseError)) throw err;
      req.log.warn({ sessionId: target.sessionId, reason: err.message }, 'MPD not rendered');
      return deps.sendError(reply.header('retry-after', '1'), 'DASH_UNAVAILABLE');
    }
    if (out === null) return deps.sendError(reply, 'NOT_FOUND');
    if (out === 'encrypted') return deps.sendError(reply, 'DASH_ENCRYPTED');
    // compressed like the playlists (br, gzip): a long DVR window is a long SegmentTimeline
    const encoding = negotiatePlaylistEncoding(req.headers['accept-encoding']);
    const body = await compressPlaylist(Buffer.from(renderSessionMpd(out, live, target.token, new Date()), 'utf8'), encoding);
    reply.header('content-type', MPD_CONTENT_TYPE).header('vary', 'accept-encoding').header('content-length', String(body.length))
      .header('cache-control', target.token !== null ? deps.tokenisedCacheControl : out.cacheControl);
    if (encoding !== 'identity') reply.header('content-encoding', encoding);
    return reply.status(200).send(req.method === 'HEAD' ? undefined : body);
  };
  app.route({
    method: ['GET', 'HEAD'],
    url: `/live/:channelId/${LIVE_MANIFEST_MPD}`,
    handler: async (req, reply) => {
      const { channelId } = req.params as { channelId: string };
      if (!ID.test(channelId)) return deps.sendError(reply, 'BAD_PATH');
      return answer(req, reply, await resolveLive(req, reply, channelId), true);
    },
  });
  // the clock of low-latency MPDs' UTCTiming (urn:mpeg:dash:utc:http-iso:2014): ISO 8601 with milliseconds
  app.get(DASH_TIME_PATH, async (_req, reply) => reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(new Date().toISOString()));
  app.route({
    method: ['GET', 'HEAD'],
    url: `/sessions/:sessionId/${VOD_MANIFEST_MPD}`,
    handler: async (req, reply) => {
      const { sessionId } = req.params as { sessionId: string };
      if (!ID.test(sessionId)) return deps.sendError(reply, 'BAD_PATH');
      return answer(req, reply, await resolveSession(req, reply, sessionId), false);
    },
  });
}
