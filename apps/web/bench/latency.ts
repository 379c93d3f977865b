/**
 * bench/latency (issues 5, 13, 17): glass-to-glass latency of live playback in headless Chromium:
 * regular HLS, LL-HLS with the player page's hls.js config, LL-HLS with a stock hls.js (only
 * `lowLatencyMode: true`), low-latency MPEG-DASH in Shaka Player, and WebRTC (WHEP) side by side
 * in one run, from one publisher.
 *
 * The publisher (ffmpeg, lavfi test pattern, `-re`, x264 `ultrafast`, 2 s GOP, over RTMP to the
 * embedded stack's demo channel, like `publishTestPattern`) burns its wall clock into every
 * frame: `setpts` stamps each frame with `time(0)` (the wall clock when the frame enters the
 * filter graph, i.e. when it is "captured") in milliseconds since a base passed on the command
 * line, and 32 `drawbox` cells in the top 96 rows of the 1280x720 frame (2 rows x 16 columns,
 * 80x48 px each, black/white) carry that number: bits 0-23 the milliseconds (LSB first), bits
 * 24-31 a checksum `(b0 + 3 b1 + 7 b2 + 90) mod 256` of its three bytes. Big flat cells survive
 * x264 and every rendition of the ladder (at 240p a cell is still ~27x16 px).
 *
 * One page (served by this script) holds two `<video>`s with hls.js from apps/web's dependency,
 * both pinned to the same rendition (`LEVEL`, default 480p), playing the demo channel's live
 * master playlist from the edge:
 * - `LL-HLS`: `{ lowLatencyMode: true }` with the player page's catch-up (src/liveCatchUp.ts,
 *   served to the page transpiled from that file, at most 1.5x), as in src/usePlayer.ts (parts,
 *   blocking playlist reloads, PART-HOLD-BACK, catch-up);
 * - `HLS`: `{ lowLatencyMode: false, liveSyncDurationCount: 3 }`, standard hls.js live playback
 *   of the same playlists (segments only, 3 target durations behind the live edge);
 * - `stock`: `{ lowLatencyMode: true }`, what a player we do not configure gets from what the
 *   playlists advertise (PART-HOLD-BACK, hints), pinned to the same rendition;
 * - `WHEP`: the page's own WHEP client (recvonly offer POSTed to the stack's `whepUrl`), the
 *   source rendition (720p) forwarded by the ingest without re-encoding;
 * - `DASH`: Shaka Player (apps/web's dependency, its DASH build) on the edge's live MPD
 *   (`/live/<channel>/manifest.mpd`, low-latency DASH: the segment being written streamed in
 *   chunks) with `streaming.lowLatencyMode: true` as the web app's DASH mode, ABR off and the
 *   same rendition pinned; the MPD's ServiceDescription drives its catch-up.
 * The stock hls.js starts last, once the others play: it never catches up, so it keeps the latency
 * its start-up gives it, and a viewer's page starts one player, not six that compete for two cores
 * (until 2026-12-07 all started together). Every 100 ms the page draws each playing video into a canvas, decodes the cells and records
 * `Date.now() - capturedAt` (same machine, same clock). A run is a fresh page: wait for both
 * players to play, `WARMUP` s to settle, then `SECONDS` of samples. The publisher runs for the
 * whole bench. The table prints p50/p95/n per run and player and the medians over `RUNS`.
 * Each run's line also has the load average at its start and end and, per player, its start:
 * when the video first played (ms after the page's navigation began), hls.js' `latency` then and
 * 1, 2, 4 and 8 s later, and the stalls since (warm-up included); and the stock player's first
 * four loads (`<msn>.part<k>@<ms>`: from which part it started).
 *
 * Where the latency goes (LL-HLS, and HLS for whole segments): while the bench runs, the
 * storage directory of the pinned rendition is watched (inotify) for the moment each part and
 * segment file appears, and hls.js reports when it loaded each part/segment. After the runs,
 * every segment is decoded (ffmpeg) to read the capture time of each of its frames. Per part:
 * (1) frames wait for the part to fill: on average (frames - 1) / 2 frame durations;
 * (2) capture of the part's last frame → part file in storage: publisher encode, RTMP, ingest
 *     relay, worker decode + x264 + fMP4 fragment flush, packager poll (100 ms) and write;
 * (3) part in storage → part loaded by hls.js: the edge's blocking playlist reload wake-up
 *     (50 ms poll), the playlist response, then the part request;
 * (4) the rest of the glass-to-glass median: hls.js' buffer (its hold-back behind the live
 *     edge) plus decode and display. hls.js' own `latency` and `targetLatency` are shown beside.
 *
 * Usage: pnpm bench:latency   (env RUNS=3 SECONDS=30 WARMUP=8 LEVEL=480; SKIP=std,whep,dash leaves those
 * players out, which lightens a 2-core machine where six decoders and the transcode compete;
 * LL_HLS_PARTS_PER_SEGMENT=6 runs the worker with parts of 1/3 s instead of 0.5 s;
 * LL_HLS_PART_HOLD_BACK_PARTS=3
 * runs the worker with another PART-HOLD-BACK than its default, LL_HLS_KEYFRAME_PARTS=2 or 1 with a
 * keyframe every 2 or 1 parts in the encoded renditions instead of one per segment)
 *
 * The publisher keeps its 2 s GOP whatever LL_HLS_KEYFRAME_PARTS says: the players are pinned to
 * an encoded rendition (480p by default; the 720p source is the passthrough rung), whose
 * keyframes the worker's x264 places, and only WHEP plays the source's own keyframes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { startTestStack, waitFor, type TestStack } from '@live/dev/testing';

const execFileAsync = promisify(execFile);
const envNum = (name: string, def: number): number => (process.env[name] ? Number(process.env[name]) : def);
const RUNS = envNum('RUNS', 3);
const SECONDS = envNum('SECONDS', 30);
const WARMUP = envNum('WARMUP', 8);
const LEVEL = envNum('LEVEL', 480);
const FPS = 30;
const SEGMENT_FRAMES = 60; // 2 s GOP
/** Parts per 2 s segment the worker runs with (its `LL_HLS_PARTS_PER_SEGMENT`, passed on; 4 by default). */
const PARTS_PER_SEGMENT = envNum('LL_HLS_PARTS_PER_SEGMENT', 4);
/** Frames per part: the worker's `partFramesFor(30, 2 / PARTS_PER_SEGMENT)` (15 frames = 0.5 s by default, 10 with 6 parts). */
const PART_FRAMES = Math.round(SEGMENT_FRAMES / PARTS_PER_SEGMENT);
/** The part length as the tables name it: `0.5 s`, `0.33 s`. */
const PART_LABEL = `${Number((PART_FRAMES / FPS).toFixed(2))} s`;
/** Goals (issue 17, issue 13): LL-HLS p50 with the player page's config, with a stock hls.js, WHEP p50; ms. */
const GOALS = { ll: 1500, stock: 2000, whep: 500 } as const;
/**
 * Extra players on the same page (env `VARIANTS`, comma-separated; default none):
 * `countOverride`: LL-HLS with a user-set `liveSyncDurationCount: 3`, which overrides PART-HOLD-BACK
 *   (the player's config before it was fixed: about 9 s);
 * `hlsCatchUp`: LL-HLS with hls.js' own catch-up (`maxLiveSyncPlaybackRate: 1.5`), the player
 *   page's config before liveCatchUp.ts.
 */
const VARIANT_CONFIGS: Record<string, { label: string; config: Record<string, unknown> }> = {
  countOverride: { label: 'LL-HLS + liveSyncDurationCount 3', config: { lowLatencyMode: true, liveSyncDurationCount: 3 } },
  hlsCatchUp: { label: "LL-HLS, hls.js' own catch-up", config: { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 } },
};
/**
 * The comma-separated entries of env `name` (none when unset).
 * @throws {Error} naming an entry that is not in `known`.
 */
function envList(name: string, known: readonly string[]): string[] {
  const entries = (process.env[name] ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');
  for (const v of entries) if (!known.includes(v)) throw new Error(`unknown ${name} entry ${v} (known: ${known.join(', ')})`);
  return entries;
}
const VARIANTS = envList('VARIANTS', Object.keys(VARIANT_CONFIGS));
const KEEP_WORK = process.env.KEEP_WORK === '1';
/** Built-in players left out of the page (env `SKIP`); the two LL-HLS players the goals name always run. */
const SKIP = new Set(envList('SKIP', ['std', 'whep', 'dash']));
/** The players on the page: the built-in ones not skipped, then the variants. */
const PLAYER_IDS = ['ll', 'std', 'stock', 'whep', 'dash', ...VARIANTS].filter((id) => !SKIP.has(id));
/** The worker's settings the bench passes on to the stack from its own environment. */
const WORKER_SETTINGS = ['LL_HLS_PARTS_PER_SEGMENT', 'LL_HLS_PART_HOLD_BACK_PARTS', 'LL_HLS_KEYFRAME_PARTS'] as const;

/** Cells of the burned-in clock: 2 rows x 16 columns in the top BAR_ROWS of a 1280x720 frame. */
const COLS = 16;
const ROWS = 2;
const WIDTH = 1280;
const HEIGHT = 720;
const BAR_ROWS = 96;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Nearest-rank percentile. */
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

/**
 * The `-vf` of the publisher: wall-clock stamp (ms since `base`), the black bar, one white
 * `drawbox` per set bit (timeline `enable` evaluated per frame), then regular timestamps again.
 */
function clockFilter(base: number): string {
  const d = 'floor(t*1000+0.5)';
  const byte = (k: number) => `mod(floor(${d}/${2 ** (8 * k)}),256)`;
  const check = `mod(${byte(0)}+3*${byte(1)}+7*${byte(2)}+90,256)`;
  const cw = WIDTH / COLS;
  const ch = BAR_ROWS / ROWS;
  const boxes: string[] = [];
  for (let k = 0; k < COLS * ROWS; k++) {
    const value = k < 24 ? d : check;
    const bit = k < 24 ? k : k - 24;
    const x = (k % COLS) * cw;
    const y = Math.floor(k / COLS) * ch;
    boxes.push(`drawbox=x=${x}:y=${y}:w=${cw}:h=${ch}:color=white:t=fill:enable='mod(floor(${value}/${2 ** bit}),2)'`);
  }
  return [
    // time base 1 ms, pts = wall clock (ms) since base: drawbox' `t` is then the capture time
    'settb=1/1000', `setpts='floor(time(0)*1000)-${base}'`,
    `drawbox=x=0:y=0:w=${WIDTH}:h=${BAR_ROWS}:color=black:t=fill`, ...boxes,
    // back to regular 30 fps timestamps for the encoder
    `settb=1/${FPS}`, 'setpts=N',
  ].join(',');
}

/** Starts the clock-burning publisher (see the module comment) for `seconds`. */
function startPublisher(rtmpUrl: string, base: number, seconds: number): { child: ChildProcess; stderr: () => string } {
  const args = [
    '-hide_banner', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-vf', clockFilter(base),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(FPS * 2), '-keyint_min', String(FPS * 2), '-sc_threshold', '0',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k',
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-f', 'flv', rtmpUrl,
  ];
  const child = spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  return { child, stderr: () => err };
}

/** Decodes the clock of one 16x2 gray image (a frame's bar averaged per cell), or null when the checksum fails. */
function decodeCells(cells: ArrayLike<number>): number | null {
  let d = 0;
  let c = 0;
  for (let k = 0; k < 32; k++) {
    const bit = (cells[k] ?? 0) > 128 ? 1 : 0;
    if (k < 24) d += bit * 2 ** k;
    else c += bit * 2 ** (k - 24);
  }
  const b = [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff];
  return (b[0]! + 3 * b[1]! + 7 * b[2]! + 90) % 256 === c ? d : null;
}

/** Capture time (ms since base) of every frame of an fMP4 segment (init + segment), in presentation order; null for undecodable frames. */
async function segmentCaptureTimes(init: string, segment: string, tmp: string): Promise<Array<number | null>> {
  const file = join(tmp, 'decode.mp4');
  writeFileSync(file, Buffer.concat([readFileSync(init), readFileSync(segment)]));
  const { stdout } = await execFileAsync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-i', file,
    '-vf', `crop=iw:ih*${BAR_ROWS}/${HEIGHT}:0:0,scale=${COLS}:${ROWS}:flags=area`,
    // one output frame per decoded frame (the default would duplicate one to keep a constant rate)
    '-fps_mode', 'passthrough', '-pix_fmt', 'gray', '-f', 'rawvideo', '-',
  ], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const out: Array<number | null> = [];
  for (let o = 0; o + 32 <= stdout.length; o += 32) out.push(decodeCells(stdout.subarray(o, o + 32)));
  return out;
}

/** The page: two players, the canvas decoder, and the sample/loads records (`window.__bench`). */
function pageHtml(src: string, whepUrl: string, mpdUrl: string, base: number, level: number): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>bench/latency</title></head><body>
<video id="ll" muted autoplay playsinline width="640" height="360"></video>
<video id="std" muted autoplay playsinline width="640" height="360"></video>
<video id="stock" muted autoplay playsinline width="640" height="360"></video>
<video id="whep" muted autoplay playsinline width="640" height="360"></video>
<video id="dash" muted autoplay playsinline width="640" height="360"></video>
${VARIANTS.map((v) => `<video id="${v}" muted autoplay playsinline width="640" height="360"></video>`).join('\n')}
<script src="/hls.js"></script>
${SKIP.has('dash') ? '' : '<script src="/shaka.js"></script>'}
<script type="module">
import { attachLiveCatchUp } from '/liveCatchUp.js';
const BASE = ${base}, COLS = ${COLS}, ROWS = ${ROWS}, BAR = ${BAR_ROWS / HEIGHT}, LEVEL = ${level};
const bench = window.__bench = { players: {}, recording: false };
// a player plays, or gave up with a fatal error (reported in its row, not the end of the bench)
bench.started = (id) => {
  const v = document.getElementById(id), p = bench.players[id];
  return !!(p && p.errors.some((e) => e.startsWith('FATAL'))) || (!!v && !v.paused && v.readyState >= 3 && v.currentTime > 0);
};
function decode(ctx, w, h) {
  const bar = ctx.getImageData(0, 0, w, Math.ceil(h * BAR)).data;
  const bw = w, cellW = w / COLS, cellH = (h * BAR) / ROWS;
  let d = 0, c = 0;
  for (let k = 0; k < COLS * ROWS; k++) {
    const cx = Math.floor(((k % COLS) + 0.5) * cellW), cy = Math.floor((Math.floor(k / COLS) + 0.5) * cellH);
    let sum = 0, n = 0;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const i = ((cy + dy) * bw + (cx + dx)) * 4;
      sum += 0.299 * bar[i] + 0.587 * bar[i + 1] + 0.114 * bar[i + 2]; n++;
    }
    const bit = sum / n > 128 ? 1 : 0;
    if (k < 24) d += bit * 2 ** k; else c += bit * 2 ** (k - 24);
  }
  const b0 = d & 255, b1 = (d >> 8) & 255, b2 = (d >> 16) & 255;
  return (b0 + 3 * b1 + 7 * b2 + 90) % 256 === c ? d : null;
}
function start(id, config, catchUp) {
  const video = document.getElementById(id);
  const p = bench.players[id] = { samples: [], bad: 0, loads: [], stalls: 0, level: null, errors: [], firstLoads: [] };
  const hls = new Hls(config);
  if (catchUp) attachLiveCatchUp(hls, video, catchUp);
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
    let idx = data.levels.findIndex((l) => l.height === LEVEL);
    if (idx < 0) idx = data.levels.length - 1;
    hls.currentLevel = idx;
    p.level = data.levels[idx].height;
    video.play().catch(() => {});
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
    const url = data.part ? data.part.url : data.frag.url;
    p.loads.push({ file: url.split('?')[0].split('/').pop(), at: performance.timeOrigin + data.frag.stats.loading.end, partAt: data.part ? performance.timeOrigin + data.part.stats.loading.end : null });
    // the start: which media it loaded first (with a 2 s GOP, from the segment's first part), ms after navigation
    if (p.firstLoads.length < 4) p.firstLoads.push(url.split('?')[0].split('/').pop().replace(/^seg_0*/, '').replace(/[.]m4s$/, '') + '@' + Math.round(data.part ? data.part.stats.loading.end : data.frag.stats.loading.end));
  });
  hls.on(Hls.Events.ERROR, (_e, data) => { if (p.errors.length < 20) p.errors.push((data.fatal ? 'FATAL ' : '') + data.type + '/' + data.details); });
  hls.loadSource(${JSON.stringify(src)});
  hls.attachMedia(video);
  sample(video, p, hls);
}
async function startWhep(id, url) {
  const video = document.getElementById(id);
  const p = bench.players[id] = { samples: [], bad: 0, loads: [], stalls: 0, level: 'source', errors: [] };
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; video.play().catch(() => {}); };
  pc.onconnectionstatechange = () => { if (pc.connectionState === 'failed') p.errors.push('FATAL connection failed'); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) { p.errors.push('FATAL WHEP ' + res.status + ' ' + body.slice(0, 200)); return; }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  sample(video, p, null);
}
async function startDash(id, url) {
  const video = document.getElementById(id);
  const p = bench.players[id] = { samples: [], bad: 0, loads: [], stalls: 0, level: null, errors: [] };
  shaka.polyfill.installAll();
  const player = new shaka.Player();
  player.addEventListener('error', (e) => { if (p.errors.length < 20) p.errors.push((e.detail && e.detail.severity === 2 ? 'FATAL ' : '') + 'shaka ' + (e.detail && e.detail.code)); });
  player.configure({ streaming: { lowLatencyMode: true }, abr: { enabled: false } });
  await player.attach(video);
  await player.load(url);
  const tracks = player.getVariantTracks();
  const track = tracks.find((t) => t.height === LEVEL) || tracks[tracks.length - 1];
  player.selectVariantTrack(track, true);
  p.level = track.height;
  video.play().catch(() => {});
  // Shaka's latency: wall clock minus the playhead's MPD time
  sample(video, p, { get latency() { const d = player.getPlayheadTimeAsDate(); return d ? (Date.now() - d.getTime()) / 1000 : 0; }, targetLatency: 0 });
}
function sample(video, p, hls) {
  video.addEventListener('waiting', () => { if (bench.recording) p.stalls++; if (p.firstPlay) p.stallsSincePlaying = (p.stallsSincePlaying || 0) + 1; });
  // start-up: when the video first plays (ms after the page's navigation began) and how far behind its live edge hls.js then is
  video.addEventListener('playing', () => {
    if (p.firstPlay) return;
    p.firstPlay = { ms: Math.round(performance.now()), hlsLatency: 0, trace: [] };
    // hls.js updates its latency on timeupdate (its listener runs before this one): read it then, not now
    if (hls) video.addEventListener('timeupdate', () => { p.firstPlay.hlsLatency = hls.latency; }, { once: true });
    // hls.js' latency 1, 2, 4 and 8 s after the first frame played: does it stay where it started?
    if (hls) for (const after of [1, 2, 4, 8]) setTimeout(() => p.firstPlay.trace.push(hls.latency), after * 1000);
  });
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 360;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  setInterval(() => {
    if (!bench.recording || video.paused || video.readyState < 2) return;
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const now = Date.now();
    const d = decode(ctx, canvas.width, canvas.height);
    if (d === null || now - (BASE + d) < 0 || now - (BASE + d) > 120000) { p.bad++; return; }
    p.samples.push({ latency: now - (BASE + d), hlsLatency: hls ? hls.latency : 0, target: hls ? hls.targetLatency : 0, currentTime: video.currentTime });
  }, 100);
}
// The stock hls.js starts last, alone, once the others play: it never catches up, so it keeps the
// latency its start-up gives it, and a viewer's page starts one player, not six competing for two
// cores (the others' start-up would stall it for good).
start('ll', { lowLatencyMode: true }, { maxRate: 1.5 });
${SKIP.has('std') ? '' : "start('std', { lowLatencyMode: false, liveSyncDurationCount: 3 });"}
${SKIP.has('whep') ? '' : `startWhep('whep', ${JSON.stringify(whepUrl)}).catch((err) => bench.players.whep.errors.push('FATAL ' + err));`}
${SKIP.has('dash') ? '' : `startDash('dash', ${JSON.stringify(mpdUrl)}).catch((err) => bench.players.dash.errors.push('FATAL ' + err));`}
${VARIANTS.map((v) => `start(${JSON.stringify(v)}, ${JSON.stringify(VARIANT_CONFIGS[v]!.config)});`).join('\n')}
const others = ${JSON.stringify(PLAYER_IDS.filter((id) => id !== 'stock'))};
await new Promise((resolve) => {
  const t = setInterval(() => {
    if (others.every(bench.started)) { clearInterval(t); resolve(); }
  }, 200);
});
start('stock', { lowLatencyMode: true });
</script></body></html>`;
}

interface PlayerRecord {
  samples: Array<{ latency: number; hlsLatency: number; target: number; currentTime: number }>;
  /** The video's first `playing` event: ms after the page's navigation began, and hls.js' `latency` at the `timeupdate` after it (s; 0 without hls.js). */
  firstPlay?: { ms: number; hlsLatency: number; trace: number[] };
  /** hls.js players: the first 4 media loaded, `<msn>.part<k>@<ms after navigation>` (`<msn>@…` for a whole segment). */
  firstLoads?: string[];
  /** `waiting` events since the first `playing`, warm-up included (`stalls` counts the recorded window only). */
  stallsSincePlaying?: number;
  bad: number;
  loads: Array<{ file: string; at: number; partAt: number | null }>;
  stalls: number;
  level: number | null;
  errors: string[];
}
/** The players every run has. */
type BuiltIn = 'll' | 'std' | 'stock' | 'whep' | 'dash';
type BenchWindow = Window & {
  __bench: { players: Record<BuiltIn, PlayerRecord> & Record<string, PlayerRecord | undefined>; recording: boolean; started(id: string): boolean };
};

/** Serves the page and hls.js on a loopback port. */
async function servePage(html: () => string): Promise<{ server: Server; url: string }> {
  const require = createRequire(import.meta.url);
  const hlsJs = readFileSync(require.resolve('hls.js/dist/hls.min.js'));
  const shakaJs = readFileSync(require.resolve('shaka-player/dist/shaka-player.dash.js'));
  // the player page's catch-up, the same source file, as an ES module
  const ts = require('typescript') as typeof import('typescript');
  const catchUpJs = ts.transpileModule(readFileSync(new URL('../src/liveCatchUp.ts', import.meta.url), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2020 },
  }).outputText;
  const server = createServer((req, res) => {
    if (req.url === '/hls.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
    } else if (req.url === '/liveCatchUp.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(catchUpJs);
    } else if (req.url === '/shaka.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(shakaJs);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html());
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/` };
}

async function main(): Promise<void> {
  const base = Date.now();
  const work = mkdtempSync(join(os.tmpdir(), 'bench-latency-'));
  const copies = join(work, 'segments');
  mkdirSync(copies);
  let t: TestStack | undefined;
  let publisher: ReturnType<typeof startPublisher> | undefined;
  let browser: Browser | undefined;
  let pageServer: Server | undefined;
  let watcher: FSWatcher | undefined;
  try {
    console.log('starting the embedded stack …');
    // worker settings passed through to the stack (its defaults when unset)
    const appEnv = Object.fromEntries(WORKER_SETTINGS.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
    t = await startTestStack('bench-latency', Object.keys(appEnv).length ? { appEnv } : {});
    const { info } = t.stack;
    const publishSeconds = 60 + RUNS * (SECONDS + WARMUP + 30);
    const startedAfter = new Date(Date.now() - 1000).toISOString();
    publisher = startPublisher(`${info.rtmpUrl}/${info.demoStreamKey}`, base, publishSeconds);
    const sessionId = await waitFor('live session', async () => {
      const l = await (await fetch(`${info.apiUrl}/api/streams`)).json() as { items: Array<{ sessionId: string; startedAt: string }> };
      return l.items.find((i) => i.startedAt >= startedAfter)?.sessionId;
    }, 45_000, 200);
    await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 45_000, 200);
    const rendition = `${LEVEL}p`;
    const dir = join(info.storageDir, 'sessions', sessionId, rendition);
    await waitFor(`${rendition} rendition`, async () => existsSync(dir), 30_000, 200);

    // When each part / segment file appears in storage (the packager renames it into place).
    const appeared = new Map<string, number>();
    watcher = watch(dir, (_event, name) => {
      const at = Date.now();
      if (!name || appeared.has(name) || !/^(seg_\d+(\.part\d+)?\.m4s|init_\d+\.mp4)$/.test(name)) return;
      appeared.set(name, at);
      // keep whole segments and init segments for the decode after the runs (the live window deletes them)
      if (!name.includes('.part')) setTimeout(() => { try { copyFileSync(join(dir, name), join(copies, name)); } catch { /* deleted already */ } }, 50);
    });
    // the init segment was written before the watch began
    for (const f of readdirSync(dir)) if (/^init_\d+\.mp4$/.test(f) && !appeared.has(f)) { appeared.set(f, 0); copyFileSync(join(dir, f), join(copies, f)); }
    await waitFor('4 segments', async () => (readFileSync(join(dir, 'index.m3u8'), 'utf8').match(/^#EXTINF/gm)?.length ?? 0) >= 4, 60_000, 500);

    const mpdUrl = `${info.edgeUrl}/live/${encodeURIComponent(info.demoChannelId)}/manifest.mpd`;
    const page0 = await servePage(() => pageHtml(info.demoPlaybackUrl, info.whepUrl, mpdUrl, base, LEVEL));
    pageServer = page0.server;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
        '--autoplay-policy=no-user-gesture-required', '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
    });

    type Run = Record<BuiltIn, PlayerRecord> & { extra: Record<string, PlayerRecord | undefined>; from: number; to: number };
    const runs: Run[] = [];
    for (let r = 1; r <= RUNS; r++) {
      const loadAtStart = os.loadavg()[0]!; // the players' start-up decides where a stock hls.js stays
      const page = await browser.newPage({ viewport: { width: 1300, height: 400 } });
      await page.goto(page0.url);
      // every player plays, or gave up with a fatal error (the page's own test, `started`)
      await page.waitForFunction((wanted) => wanted.every((id) => (window as unknown as BenchWindow).__bench.started(id)), PLAYER_IDS, { timeout: 60_000, polling: 200 });
      await page.waitForTimeout(WARMUP * 1000);
      const from = Date.now();
      await page.evaluate(() => {
        const b = (window as unknown as BenchWindow).__bench;
        for (const p of Object.values(b.players)) if (p) { p.samples = []; p.bad = 0; p.loads = []; p.stalls = 0; }
        b.recording = true;
      });
      await page.waitForTimeout(SECONDS * 1000);
      const rec = await page.evaluate((extra) => {
        const b = (window as unknown as BenchWindow).__bench;
        b.recording = false;
        // (no named functions in here: tsx's __name helper does not exist in the page)
        return { ll: b.players.ll, std: b.players.std, stock: b.players.stock, whep: b.players.whep, dash: b.players.dash, extra: Object.fromEntries(extra.map((v) => [v, b.players[v]])) };
      }, VARIANTS);
      const to = Date.now();
      await page.close();
      // a skipped player: no samples (its rows print n/a)
      const none = (): PlayerRecord => ({ samples: [], bad: 0, loads: [], stalls: 0, level: null, errors: [] });
      rec.std ??= none();
      rec.whep ??= none();
      rec.dash ??= none();
      runs.push({ ...rec, from, to });
      const s = (p: PlayerRecord) => `p50 ${(median(p.samples.map((x) => x.latency)) / 1000).toFixed(2)} s, p95 ${(pct(p.samples.map((x) => x.latency), 95) / 1000).toFixed(2)} s, n ${p.samples.length} (${p.bad} undecodable), stalls ${p.stalls}`
        + `${p.firstPlay ? `, playing after ${p.firstPlay.ms} ms${p.firstPlay.hlsLatency ? ` at ${p.firstPlay.hlsLatency.toFixed(2)} s behind its edge (+1/2/4/8 s: ${p.firstPlay.trace.map((x) => x.toFixed(2)).join('/')})` : ''}, ${p.stallsSincePlaying ?? 0} stalls since` : ''}${p.errors.length ? `, errors ${[...new Set(p.errors)].join(' ')}` : ''}`;
      console.log(`run ${r} stock hls.js start: first loads ${rec.stock.firstLoads?.join(' ') ?? 'n/a'}`);
      console.log(`run ${r} (load average ${loadAtStart.toFixed(1)} at its start, ${os.loadavg()[0]!.toFixed(1)} at its end): LL-HLS ${s(rec.ll)} | HLS ${s(rec.std)} | stock hls.js ${s(rec.stock)} | WHEP ${s(rec.whep)} | DASH LL ${s(rec.dash)}${VARIANTS.map((v) => ` | ${VARIANT_CONFIGS[v]!.label} ${rec.extra[v] ? s(rec.extra[v]) : 'n/a'}`).join('')}`);
    }
    watcher.close();
    watcher = undefined;

    // ---- capture time of every frame of the copied segments (after the runs: no CPU taken from them) ----
    publisher.child.kill('SIGINT');
    const lastFrameOfPart = new Map<string, number>(); // part or segment file -> capture ms since base of its last frame
    const framesPerFile = new Map<string, number>();
    const inits = [...appeared.keys()].filter((n) => n.startsWith('init_')).sort();
    const init = inits.length ? join(copies, inits[inits.length - 1]!) : null;
    const windows = runs.map((r) => [r.from, r.to] as const);
    const inWindow = (at: number) => windows.some(([a, b]) => at >= a - 3000 && at <= b);
    if (init && existsSync(init)) {
      for (const [name, at] of appeared) {
        if (name.includes('.part') || name.startsWith('init_') || !inWindow(at) || !existsSync(join(copies, name))) continue;
        const frames = await segmentCaptureTimes(init, join(copies, name), work).catch(() => [] as Array<number | null>);
        if (frames.length !== SEGMENT_FRAMES) continue;
        const last = frames[frames.length - 1];
        if (last != null) { lastFrameOfPart.set(name, last); framesPerFile.set(name, frames.length); }
        const stem = name.replace(/\.m4s$/, '');
        for (let k = 0; k * PART_FRAMES < frames.length; k++) {
          const f = frames[k * PART_FRAMES + PART_FRAMES - 1];
          if (f != null) { lastFrameOfPart.set(`${stem}.part${k}.m4s`, f); framesPerFile.set(`${stem}.part${k}.m4s`, PART_FRAMES); }
        }
      }
    }

    // ---- tables ----
    const fmt = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
    const rows: string[][] = [['run', 'LL-HLS p50 s', 'LL-HLS p95 s', 'LL-HLS n', 'HLS p50 s', 'HLS p95 s', 'HLS n', 'stalls LL/HLS']];
    const per = runs.map((r) => ({
      ll50: median(r.ll.samples.map((x) => x.latency)), ll95: pct(r.ll.samples.map((x) => x.latency), 95),
      st50: median(r.std.samples.map((x) => x.latency)), st95: pct(r.std.samples.map((x) => x.latency), 95),
    }));
    runs.forEach((r, i) => rows.push([`run ${i + 1} (${SECONDS} s)`, fmt(per[i]!.ll50), fmt(per[i]!.ll95), String(r.ll.samples.length), fmt(per[i]!.st50), fmt(per[i]!.st95), String(r.std.samples.length), `${r.ll.stalls}/${r.std.stalls}`]));
    const m = {
      ll50: median(per.map((p) => p.ll50)), ll95: median(per.map((p) => p.ll95)), st50: median(per.map((p) => p.st50)), st95: median(per.map((p) => p.st95)),
    };
    rows.push([`median of ${RUNS}`, fmt(m.ll50), fmt(m.ll95), String(median(runs.map((r) => r.ll.samples.length))), fmt(m.st50), fmt(m.st95), String(median(runs.map((r) => r.std.samples.length))), '']);
    rows.push(['LL-HLS / HLS', `${(m.ll50 / m.st50).toFixed(2)}x`, `${(m.ll95 / m.st95).toFixed(2)}x`, '', '', '', '', '']);
    printTable(rows);
    console.log('');
    const players: Array<[BuiltIn, string, number | null]> = [
      ['whep', 'WebRTC (WHEP), source 720p', GOALS.whep],
      ['ll', 'LL-HLS, player page (hls.js + catch-up)', GOALS.ll],
      ['stock', 'LL-HLS, stock hls.js (lowLatencyMode only)', GOALS.stock],
      ['dash', 'DASH low-latency, Shaka', null],
      ['std', 'HLS (3 segments behind)', null],
    ];
    const p50Of = (key: BuiltIn) => median(runs.map((r) => median(r[key].samples.map((x) => x.latency))));
    printTable([['player, same runs and publisher', 'p50 s', 'p95 s', 'n per run', 'stalls', 'goal p50', 'met'],
      ...players.map(([key, label, goal]) => [
        label, fmt(p50Of(key)), fmt(median(runs.map((r) => pct(r[key].samples.map((x) => x.latency), 95)))),
        String(median(runs.map((r) => r[key].samples.length))), String(runs.reduce((a, r) => a + r[key].stalls, 0)),
        goal === null ? '' : `≤ ${fmt(goal)} s`, goal === null || SKIP.has(key) ? '' : p50Of(key) <= goal ? 'yes' : 'no',
      ])]);
    const dashPlayhead = median(runs.flatMap((r) => r.dash.samples.map((x) => x.hlsLatency * 1000)));
    console.log(`DASH low-latency, Shaka ${readPackageVersion('shaka-player')} (lowLatencyMode, ${runs[0]?.dash.level ?? LEVEL}p pinned): its playhead ${fmt(dashPlayhead)} s behind the wall clock by the MPD's timeline (p50)`);
    const stockSamples = runs.flatMap((r) => r.stock.samples);
    console.log(`LL-HLS, stock hls.js: hls.js latency ${fmt(median(stockSamples.map((y) => y.hlsLatency * 1000)))} s / targetLatency ${fmt(median(stockSamples.map((y) => y.target * 1000)))} s per run `
      + runs.map((r) => `${fmt(median(r.stock.samples.map((y) => y.hlsLatency * 1000)))}/${fmt(median(r.stock.samples.map((y) => y.target * 1000)))}`).join(', ')
      + ' (targetLatency above PART-HOLD-BACK: hls.js added liveSyncOnStallIncrease for stalls it counted)');
    const starts = (key: BuiltIn) => runs.map((r) => r[key].firstPlay).filter((f): f is NonNullable<PlayerRecord['firstPlay']> => f !== undefined);
    for (const [key, label] of [['stock', 'LL-HLS, stock hls.js'], ['ll', 'LL-HLS, player page']] as const) {
      const f = starts(key);
      if (f.length) console.log(`${label} start-up: playing ${fmt(median(f.map((x) => x.ms)))} s after the page opened, hls.js latency then ${fmt(median(f.map((x) => x.hlsLatency * 1000)))} s (medians of ${f.length} runs; per run ${f.map((x) => `${fmt(x.ms)}/${x.hlsLatency.toFixed(2)}`).join(', ')})`);
    }
    for (const v of VARIANTS) {
      const xs = runs.map((r) => r.extra[v]?.samples ?? []);
      console.log(`${VARIANT_CONFIGS[v]!.label} ${JSON.stringify(VARIANT_CONFIGS[v]!.config)}, same runs: p50 ${fmt(median(xs.map((x) => median(x.map((y) => y.latency)))))} s, `
        + `p95 ${fmt(median(xs.map((x) => pct(x.map((y) => y.latency), 95))))} s, hls.js latency ${fmt(median(xs.flat().map((y) => y.hlsLatency * 1000)))} s / targetLatency ${fmt(median(xs.flat().map((y) => y.target * 1000)))} s`);
    }

    // breakdown: per player, medians over the measured windows
    const breakdown = (key: 'll' | 'std', unitFrames: number, isUnit: (file: string) => boolean) => {
      const produce: number[] = [];
      const deliver: number[] = [];
      for (const r of runs) {
        for (const l of r[key].loads) {
          if (!isUnit(l.file)) continue;
          const cap = lastFrameOfPart.get(l.file);
          const app = appeared.get(l.file);
          if (cap !== undefined && app !== undefined) produce.push(app - (base + cap));
          if (app !== undefined) deliver.push((l.partAt ?? l.at) - app);
        }
      }
      const g = median(runs.map((r) => median(r[key].samples.map((x) => x.latency))));
      const fill = ((unitFrames - 1) / 2 / FPS) * 1000;
      const a = median(produce);
      const b = median(deliver);
      const hlsLatency = median(runs.flatMap((r) => r[key].samples.map((x) => x.hlsLatency * 1000)));
      const target = median(runs.flatMap((r) => r[key].samples.map((x) => x.target * 1000)));
      return { g, fill, a, b, rest: g - fill - a - b, hlsLatency, target, n: produce.length, nd: deliver.length };
    };
    const ll = breakdown('ll', PART_FRAMES, (f) => f.includes('.part'));
    const st = breakdown('std', SEGMENT_FRAMES, (f) => /^seg_\d+\.m4s$/.test(f));
    console.log('');
    printTable([
      ['where the glass-to-glass median goes (ms)', `LL-HLS (per ${PART_LABEL} part)`, 'HLS (per 2 s segment)'],
      ['(1) frames waiting for their part/segment to fill (mean)', ll.fill.toFixed(0), st.fill.toFixed(0)],
      ['(2) last frame captured → file in storage (encode, RTMP, relay, transcode, packager)', `${ll.a.toFixed(0)} (n ${ll.n})`, `${st.a.toFixed(0)} (n ${st.n})`],
      ['(3) file in storage → loaded by hls.js (edge blocking reload / polling, request)', `${ll.b.toFixed(0)} (n ${ll.nd})`, `${st.b.toFixed(0)} (n ${st.nd})`],
      ['(4) rest: buffered in the player (hold-back), decode, display', ll.rest.toFixed(0), st.rest.toFixed(0)],
      ['glass-to-glass p50', ll.g.toFixed(0), st.g.toFixed(0)],
      ['hls.js `latency` (playhead behind its live edge) / `targetLatency`', `${ll.hlsLatency.toFixed(0)} / ${ll.target.toFixed(0)}`, `${st.hlsLatency.toFixed(0)} / ${st.target.toFixed(0)}`],
    ]);
    // what the keyframe interval costs: the pinned rendition's bytes per second of media (x264 holds
    // the rate near its target, so more keyframes show up as less quality more than as more bits)
    const segSizes = [...appeared].filter(([n, at]) => /^seg_\d+\.m4s$/.test(n) && inWindow(at) && existsSync(join(copies, n))).map(([n]) => statSync(join(copies, n)).size);
    const kbps = segSizes.length ? (segSizes.reduce((a, b) => a + b, 0) * 8) / (segSizes.length * (SEGMENT_FRAMES / FPS)) / 1000 : Number.NaN;
    console.log(`${rendition} segments in the measured windows: ${Number.isFinite(kbps) ? kbps.toFixed(0) : 'n/a'} kb/s (video + audio, mean of ${segSizes.length} segments)`);
    const cpus = os.cpus();
    console.log([
      '',
      `bench/latency: publisher ffmpeg -re 1280x720p30 x264 ultrafast 2.5 Mb/s, 2 s GOP, RTMP → ingest → worker (LL-HLS packager, ${PART_LABEL} parts (${PARTS_PER_SEGMENT} per segment), PART-HOLD-BACK ${process.env.LL_HLS_PART_HOLD_BACK_PARTS ?? 'default (2)'} parts, keyframe every ${process.env.LL_HLS_KEYFRAME_PARTS ?? `default (${PARTS_PER_SEGMENT})`} parts in the encoded renditions, 2 s segments) → edge → Chromium (hls.js ${readHlsVersion()}), both players pinned to ${runs[0]?.ll.level ?? LEVEL}p;`,
      `${RUNS} runs of ${SECONDS} s after ${WARMUP} s of warm-up, medians of the per-run percentiles; samples every 100 ms; machine ${cpus.length} x ${cpus[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      `WHEP / LL-HLS p50: ${(p50Of('whep') / m.ll50).toFixed(2)}x`,
    ].join('\n'));
  } finally {
    watcher?.close();
    await browser?.close().catch(() => undefined);
    pageServer?.close();
    if (publisher && publisher.child.exitCode === null) publisher.child.kill('SIGINT');
    await t?.stop();
    if (KEEP_WORK) console.log(`work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

/** The installed version of one of apps/web's dependencies ('?' when unknown). */
function readPackageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function readHlsVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve('hls.js/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w, c) => (c === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
