/**
 * bench/playlist (issue 17): bytes on the wire per live media playlist reload, before and after
 * delta updates (`_HLS_skip`, RFC 8216bis §6.2.5.1), key tags only where the key changes and
 * gzip / brotli, at 10 min and 2 h of DVR, for a clear public channel and an encrypted one.
 *
 * The playlists are synthetic but rendered by the packager's own renderer
 * (`renderLowLatencyPlaylist`): 2 s segments of four 0.5 s parts (`--parts-per-segment 6`: six of
 * 1/3 s, the worker's `LL_HLS_PARTS_PER_SEGMENT=6`), parts listed for the last three
 * segments, an open segment half full, a preload hint, three rendition reports (the four-rung
 * ladder), PROGRAM-DATE-TIME on the first segment, media sequence numbers as after `age` of
 * broadcast. Encrypted: AES-128 with a key every `--rotate` segments (0 = one key, the channel
 * default); once without a token (the key tags alone, as the issue measured them) and once with
 * every URI carrying a viewer's playback token (`signPlaybackToken` as the API signs it:
 * session-bound, address-bound, policy version; about 150 characters), which the edge requires for an encrypted channel. The bodies go through the
 * edge's own code: `renderPlaylistBody` (delta + token rewrite) and the playlist body cache
 * (`createPlaylistBodyCache`: node:zlib gzip level 6, brotli quality 5), exactly as `sendPlaylist`
 * answers a request.
 *
 * "before" is the playlist as the packager wrote it before issue 17: an EXT-X-KEY with IV on
 * every segment, no CAN-SKIP-UNTIL, served in full and uncompressed. The last columns: the
 * bitrate of a viewer reloading every part (0.5 s, 2 reloads/s; 3 with 1/3 s parts) and its share of the 240p
 * rendition (the smallest rung of the ladder: 400 kbit/s video + 128 kbit/s audio); the goal is at
 * most 8 KB per reload before compression with delta, and at most 2 % of 240p on the wire.
 * µs/update: CPU time to render and compress one playlist version once (median of 20), which the
 * edge spends per update and variant, not per viewer, for a public channel (token-rewritten
 * bodies are per viewer).
 *
 * A tokenised channel is measured in both styles of `EDGE_PLAYLIST_TOKENS`: `define` (the default: the
 * token by reference, `{$token}` and EXT-X-DEFINE:QUERYPARAM, one body for every viewer) and
 * `inline` (written into every URI). The goals are judged on the default.
 *
 * Usage: pnpm bench:playlist [-- --rotate 0 --parts-per-segment 4]
 */
import { signPlaybackToken } from '@live/auth';
import { llPartUri, llSegmentUri, partFramesFor, partTargetSeconds, renderLowLatencyPlaylist, segmentKeying, STANDARD_LADDER, type LlPlaylistSegment, type PlaylistPart } from '@live/media';
import { renderPlaylistBody, type PlaylistTokenStyle } from '../src/app.js';
import { createPlaylistBodyCache, type PlaylistEncoding } from '../src/playlist-body.js';

const SEGMENT_SECONDS = 2;
const rung240 = STANDARD_LADDER.find((r) => r.name === '240p')!;
const KBPS_240P = rung240.videoBitrateKbps + rung240.audioBitrateKbps;
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROTATE = arg('rotate', 0);
/** Parts per segment (the worker's `LL_HLS_PARTS_PER_SEGMENT`): 4 parts of 0.5 s by default. */
const PARTS = arg('parts-per-segment', 4);
if (!Number.isInteger(PARTS) || PARTS < 2 || PARTS > 6) throw new Error(`--parts-per-segment must be an integer from 2 to 6, got ${PARTS}`);
const PART_SECONDS = SEGMENT_SECONDS / PARTS;
/** PART-TARGET as the packager writes it for a 30 fps source (0.5, or 0.334 for 1/3 s parts). */
const PART_TARGET = partTargetSeconds(partFramesFor(30, PART_SECONDS), 30);
/** One blocking reload per part. */
const RELOADS_PER_SECOND = 1 / PART_SECONDS;
/** The open segment: half its parts written, the next one hinted. */
const OPEN_PARTS = Math.floor(PARTS / 2);

const parts = (msn: number, n: number): PlaylistPart[] => Array.from({ length: n }, (_, i) => ({ uri: llPartUri(msn, i), duration: PART_SECONDS, independent: i === 0 }));

/** The live playlist after `ageSeconds` of broadcast with a DVR window of the same length. */
function livePlaylist(ageSeconds: number, encrypted: boolean, before: boolean): string {
  const n = ageSeconds / SEGMENT_SECONDS;
  const keying = segmentKeying({ rotateEverySegments: ROTATE, keyFor: () => Buffer.alloc(16), keyUri: (i) => `/keys/sess_01jf3k9q2w8e7r6t5y4u3i2o1p/${i}.key` });
  const start = Date.parse('2026-12-06T20:00:00.000Z');
  const segments: LlPlaylistSegment[] = Array.from({ length: n }, (_, s) => ({
    uri: llSegmentUri(s), duration: SEGMENT_SECONDS, sequence: s, discontinuity: false, map: 'init_1.mp4',
    ...(s === 0 ? { programDateTime: new Date(start).toISOString() } : {}),
    ...(encrypted ? { key: keying(s).tag } : {}),
    ...(s >= n - 3 ? { parts: parts(s, PARTS) } : {}),
  }));
  return renderLowLatencyPlaylist({
    segments, open: { sequence: n, parts: parts(n, OPEN_PARTS), discontinuity: false, map: 'init_1.mp4', ...(encrypted ? { key: keying(n).tag } : {}) },
    partTarget: PART_TARGET, minTargetDuration: SEGMENT_SECONDS, preloadHint: llPartUri(n, OPEN_PARTS), playlistType: null,
    renditionReports: ['1080p', '720p', '480p'].map((name) => ({ uri: `../${name}/index.m3u8`, lastMsn: n, lastPart: OPEN_PARTS - 1 })),
    ...(before ? { explicitIv: true, canSkipUntil: null } : {}),
  });
}

// What POST /api/streams/{id}/playback-token signs (apps/api/src/routes/playback.ts): session-bound,
// address-bound, the policy version; no viewer id.
const token = signPlaybackToken({
  channelId: 'ch_01jf3k9q2w8e7r6t5y4u3i2o1p', sessionId: 'sess_01jf3k9q2w8e7r6t5y4u3i2o1p',
  clientAddress: '203.0.113.7', expiresAt: Date.now() + 600_000, policyVersion: 3,
}, [{ kid: 'k1', secret: 'bench-secret-bench-secret-bench-secret-0123' }]);

interface Row { age: string; channel: string; style: PlaylistTokenStyle; format: string; delta: boolean; encoding: PlaylistEncoding; bytes: number; usPerUpdate: number }

async function measure(text: string, skip: boolean, tok: string | null, encoding: PlaylistEncoding, style: PlaylistTokenStyle = 'define'): Promise<{ bytes: number; usPerUpdate: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const cache = createPlaylistBodyCache(); // a fresh cache: one new playlist version
    const cpu0 = process.cpuUsage(); // every thread of the process: zlib runs on the thread pool
    const body = await cache.body({ key: 'sessions/s/240p/index.m3u8', etag: `"${i}"`, variant: skip ? 'delta' : 'full', token: tok, encoding }, () => renderPlaylistBody(text, { skip, token: tok, style }));
    const cpu = process.cpuUsage(cpu0);
    times.push(cpu.user + cpu.system);
    bytes = body.length;
  }
  times.sort((a, b) => a - b);
  return { bytes, usPerUpdate: times[10]! };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const [age, seconds] of [['10 min', 600], ['2 h', 7200]] as const) {
    for (const [encrypted, tok, style] of [[false, null, 'define'], [true, null, 'define'], [true, token, 'inline'], [true, token, 'define']] as const) {
      const tokenText = style === 'inline' ? ' + token inline' : ' + token by reference';
      const channel = encrypted ? `AES-128${tok ? tokenText : ', no token'}${ROTATE ? `, key every ${ROTATE}` : ''}` : 'clear, public';
      // "before" wrote the token into every URI (there was no by-reference style)
      rows.push({ age, channel, style, format: 'before', delta: false, encoding: 'identity', ...(await measure(livePlaylist(seconds, encrypted, true), false, tok, 'identity', 'inline')) });
      const after = livePlaylist(seconds, encrypted, false);
      for (const delta of [false, true]) {
        for (const encoding of ['identity', 'gzip', 'br'] as const) rows.push({ age, channel, style, format: 'after', delta, encoding, ...(await measure(after, delta, tok, encoding, style)) });
      }
    }
  }
  const kbps = (bytes: number) => (bytes * 8 * RELOADS_PER_SECOND) / 1000;
  console.log(`bench:playlist — bytes per live media playlist reload (2 s segments, ${PARTS} parts of ${Number(PART_SECONDS.toFixed(3))} s, ${Number(RELOADS_PER_SECOND.toFixed(2))} reloads/s; 240p = ${KBPS_240P} kbit/s)\n`);
  console.log('| DVR | channel | playlist | delta | encoding | bytes per reload | kbit/s per viewer | % of 240p | µs/update |');
  console.log('|---|---|---|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.age} | ${r.channel} | ${r.format} | ${r.delta ? 'yes' : 'no'} | ${r.encoding} | ${r.bytes.toLocaleString('en-US')} | ${kbps(r.bytes).toFixed(1)} | ${((kbps(r.bytes) / KBPS_240P) * 100).toFixed(2)} % | ${r.usPerUpdate} |`);
  }
  // The goals are judged on what the edge serves by default (EDGE_PLAYLIST_TOKENS=define); the
  // inline style, for players without variable substitution, is reported beside them.
  const goals = (style: PlaylistTokenStyle) => {
    const deltaIdentity = rows.filter((r) => r.style === style && r.delta && r.encoding === 'identity');
    const deltaWire = rows.filter((r) => r.style === style && r.delta && r.encoding !== 'identity');
    return { deltaIdentity, deltaWire };
  };
  const inline = goals('inline');
  const { deltaIdentity, deltaWire } = goals('define');
  console.log(`\nEDGE_PLAYLIST_TOKENS=inline (not the default): largest delta ${Math.max(...inline.deltaIdentity.map((r) => r.bytes)).toLocaleString('en-US')} B, on the wire ${(Math.max(...inline.deltaWire.map((r) => kbps(r.bytes) / KBPS_240P)) * 100).toFixed(2)} % of 240p`);
  console.log(`goal 1, delta before compression <= 8 KB (8,192 B) at any age: ${deltaIdentity.every((r) => r.bytes <= 8192) ? 'met' : 'NOT met'} (largest ${Math.max(...deltaIdentity.map((r) => r.bytes)).toLocaleString('en-US')} B)`);
  console.log(`goal 2, delta + compression <= 2 % of 240p: ${deltaWire.every((r) => kbps(r.bytes) <= KBPS_240P * 0.02) ? 'met' : 'NOT met'} (largest ${(Math.max(...deltaWire.map((r) => kbps(r.bytes) / KBPS_240P)) * 100).toFixed(2)} %)`);
}

await main();
