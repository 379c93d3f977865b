/**
 * Low-Latency HLS against a real ffmpeg: a live-paced (-re) FLV source transcoded into
 * fragmented MP4 per rendition, packaged by our packager into parts + segments in local
 * storage. Every playlist write is checked with the conformance checker and the publishing
 * order; afterwards parts must concatenate byte for byte to their segment and ffprobe must
 * read a segment.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import {
  buildLowLatencyLadderArgs,
  checkLowLatencyPlaylist,
  createLlHlsPublisher,
  decideBlockingReload,
  ffprobe,
  ffprobePath,
  llPartUri,
  loadPublisherState,
  nextAttemptNumber,
  nextStartNumber,
  parseLowLatencyPlaylist,
  renderPlaylistDeltaUpdate,
  parseMediaPlaylist,
  planLowLatencyParts,
  prepareLowLatencyOutputDirs,
  runFfmpeg,
  selectLadder,
  sourceInfoFromProbe,
  type LlHlsViolation,
  type PublisherState,
  type Rendition,
  type SourceInfo,
} from '../src/index.js';
import { makePublisherFlv } from './publisher-flv.js';

const execFileAsync = promisify(execFile);

let work: string;
let sourceFlv: string;
let ntscFlv: string;
let pal25Flv: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'live-llhls-int-'));
  sourceFlv = path.join(work, 'source.flv');
  // a 480p30 publisher with a 2 s keyframe interval + AAC: the ladder is 480p passthrough + 240p encode
  await makePublisherFlv(sourceFlv, { size: '854x480', rate: '30', seconds: 6, videoKbps: 1200, audioKbps: 96, gopFrames: 60 });
  // the same at 29.97 fps (15 frames = 0.5005 s; FLV's ms timestamps make passthrough parts 0.500/0.501 s)
  ntscFlv = path.join(work, 'ntsc.flv');
  await makePublisherFlv(ntscFlv, { size: '854x480', rate: '30000/1001', seconds: 4.5, videoKbps: 1200, audioKbps: 96, gopFrames: 60 });
  // 25 fps, 2 s GOP: with 6 parts per segment (LL_HLS_PARTS_PER_SEGMENT=6) a part is 8 frames, which do not divide a 50-frame segment
  pal25Flv = path.join(work, 'pal25.flv');
  await makePublisherFlv(pal25Flv, { size: '854x480', rate: '25', seconds: 4.5, videoKbps: 1200, audioKbps: 96, gopFrames: 50 });
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

interface Watch {
  checks: number;
  errors: Array<LlHlsViolation & { key: string }>;
  warnings: Array<LlHlsViolation & { key: string }>;
  missing: string[];
  partsSeen: number;
  hints: Set<string>;
  /** the preload hint of the latest live playlist per key (the last one may never come true: the stream ended) */
  lastHint: Map<string, string>;
  /** INDEPENDENT=YES or not, per part (`<rendition dir>/<part uri>`), as the live playlists listed it */
  independent: Map<string, boolean>;
  /** every PART-TARGET the live playlists gave */
  partTargets: Set<number | undefined>;
  /** PART-HOLD-BACK of every live playlist written, seconds. */
  partHoldBacks: Set<number>;
}

/** At every media playlist write: conformance errors, and every URI (segment, part, map) it names already exists. */
function watch(storage: ObjectStorage, root: string, ladder: readonly Rendition[], partUri: (msn: number, i: number) => string): Watch {
  const w: Watch = { checks: 0, errors: [], warnings: [], missing: [], partsSeen: 0, hints: new Set(), lastHint: new Map(), independent: new Map(), partTargets: new Set(), partHoldBacks: new Set() };
  storage.onPlaylistWritten(({ key }) => {
    if (key.endsWith('master.m3u8')) return;
    const text = readFileSync(path.join(root, key), 'utf8');
    const dir = path.dirname(key);
    for (const line of text.split('\n')) {
      const uris = line.startsWith('#')
        ? line.startsWith('#EXT-X-PART:') || line.startsWith('#EXT-X-MAP:') ? [/URI="([^"]+)"/.exec(line)![1]!] : []
        : line ? [line] : [];
      for (const u of uris) if (!existsSync(path.join(root, dir, u))) w.missing.push(`${key} -> ${u}`);
    }
    if (text.includes('#EXT-X-ENDLIST')) return;
    w.checks++;
    const pl = parseLowLatencyPlaylist(text);
    w.partTargets.add(pl.partTarget);
    w.partHoldBacks.add(Number(pl.serverControl?.['PART-HOLD-BACK']));
    w.partsSeen = Math.max(w.partsSeen, pl.segments.reduce((n, s) => n + s.parts.length, 0) + pl.openParts.length);
    for (const p of [...pl.segments.flatMap((s) => s.parts), ...pl.openParts]) w.independent.set(`${dir}/${p.uri}`, p.independent);
    for (const h of pl.preloadHints) {
      w.hints.add(`${dir}/${h.uri}`);
      w.lastHint.set(key, `${dir}/${h.uri}`);
    }
    for (const v of checkLowLatencyPlaylist(text, { partUri, renditionReports: ladder.length - 1 })) {
      (v.severity === 'error' ? w.errors : w.warnings).push({ ...v, key });
    }
    // the Playlist Delta Update the edge would serve for _HLS_skip=YES (once the playlist is longer than CAN-SKIP-UNTIL)
    const delta = renderPlaylistDeltaUpdate(text);
    if (delta) {
      for (const v of checkLowLatencyPlaylist(delta.text, { partUri, renditionReports: ladder.length - 1, fullPlaylist: text })) {
        (v.severity === 'error' ? w.errors : w.warnings).push({ ...v, key: `${key} (delta)` });
      }
    }
  });
  return w;
}

/** The real local storage, with every `n`-th segment write and `m`-th playlist write failing once (an S3 hiccup). */
function withFailures(storage: ObjectStorage, n: number, m: number): ObjectStorage & { injected: () => number } {
  let segments = 0;
  let playlists = 0;
  let injected = 0;
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'injected') return () => injected;
      if (prop === 'writeSegment') {
        return async (key: string, body: Uint8Array | string) => {
          if (++segments % n === 0) {
            injected++;
            throw new Error(`injected failure writing ${key}`);
          }
          return target.writeSegment(key, body);
        };
      }
      if (prop === 'writePlaylist') {
        return async (key: string, text: string, o?: { live: boolean }) => {
          if (++playlists % m === 0) {
            injected++;
            throw new Error(`injected failure writing ${key}`);
          }
          return target.writePlaylist(key, text, o);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as ObjectStorage & { injected: () => number };
}

async function transcode(opts: { source: SourceInfo; ladder: Rendition[]; storage: ObjectStorage; keyPrefix: string; outputDir: string; resume?: PublisherState; seconds?: number; input?: string; partHoldBackParts?: number; keyframesPerSegment?: number; partSeconds?: number }) {
  const frameRate = opts.source.video?.frameRate ?? 30;
  // as the worker plans an attempt: its own part length, or the resumed session's PART-TARGET
  const parts = planLowLatencyParts({
    frameRate, segmentSeconds: 2, partSeconds: opts.partSeconds ?? 0.5, keyframesPerSegment: opts.keyframesPerSegment ?? 1,
    ...(opts.partHoldBackParts !== undefined ? { partHoldBackParts: opts.partHoldBackParts } : {}),
    ...(opts.resume ? { session: opts.resume } : {}),
  });
  await prepareLowLatencyOutputDirs(opts.outputDir, opts.ladder);
  const publisher = createLlHlsPublisher({
    storage: opts.storage, outputDir: opts.outputDir, keyPrefix: opts.keyPrefix, ladder: opts.ladder, source: opts.source,
    segmentSeconds: 2, partFrames: parts.partFrames, partTarget: parts.partTarget, partHoldBackParts: parts.partHoldBackParts, pollIntervalMs: 50,
    ...(opts.resume ? { resume: opts.resume } : {}),
  });
  const args = buildLowLatencyLadderArgs({
    input: opts.input ?? sourceFlv, source: opts.source, ladder: opts.ladder, outputDir: opts.outputDir, segmentSeconds: 2, frameRate,
    partFrames: parts.partFrames, keyframesPerSegment: parts.keyframesPerSegment,
    // paced like a live relay, so the packager sees the stream grow fragment by fragment
    inputOptions: { realtime: true, ...(opts.seconds ? { extra: ['-t', String(opts.seconds)] } : {}) },
  });
  publisher.start();
  const result = await runFfmpeg(args);
  return { publisher, result };
}

/** Whether each decoded video frame of `file` is a keyframe (ffprobe's `key_frame`), in order. */
async function keyFrames(file: string): Promise<boolean[]> {
  const { stdout } = await execFileAsync(ffprobePath(), ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', file]);
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => l.startsWith('1'));
}

async function partsOf(root: string, dir: string, seg: string): Promise<string[]> {
  const base = seg.replace(/\.m4s$/, '');
  const names = (await readdir(path.join(root, dir))).filter((n) => n.startsWith(`${base}.part`) && n.endsWith('.m4s'));
  return names.sort((a, b) => Number(/\.part(\d+)/.exec(a)![1]) - Number(/\.part(\d+)/.exec(b)![1]));
}

describe('low-latency HLS packager', () => {
  it('publishes conforming LL-HLS playlists whose parts concatenate to playable segments', async () => {
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source);
    expect(ladder.map((r) => [r.name, r.passthrough])).toEqual([['480p', true], ['240p', false]]);
    const root = path.join(work, 'storage-a');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/ll-a';
    const w = watch(storage, root, ladder, llPartUri);

    const { publisher, result } = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-a') });
    expect(result).toMatchObject({ exitCode: 0, aborted: false });
    // live playlist just before the end: what a blocking request sees
    const live = (await storage.read(`${keyPrefix}/240p/index.m3u8`))!.toString();
    const state = await publisher.finish();

    expect(w.missing).toEqual([]);
    expect(w.errors).toEqual([]);
    expect(w.checks).toBeGreaterThan(10); // many live playlist versions were checked
    expect(w.partsSeen).toBeGreaterThanOrEqual(8);
    // every preload hint came true (an object with that name was published)
    const finalHints = new Set(w.lastHint.values());
    for (const h of w.hints) if (!finalHints.has(h)) expect(existsSync(path.join(root, h)), h).toBe(true);
    expect(w.hints.size).toBeGreaterThan(finalHints.size + 8);

    // the live playlist carries the LL tags, and a blocking request for its last part is served
    expect(live).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.00000,PART-HOLD-BACK=1.00000,HOLD-BACK=6.00000'); // PART-HOLD-BACK: DEFAULT_PART_HOLD_BACK_PARTS (2) x 0.5 s
    expect(live).toContain('#EXT-X-PART-INF:PART-TARGET=0.50000');
    expect(live).toMatch(/#EXT-X-PART:DURATION=0\.50000,URI="seg_\d{5}\.part0\.m4s",INDEPENDENT=YES/);
    expect(live).toContain('#EXT-X-PROGRAM-DATE-TIME:');
    expect(live).toMatch(/#EXT-X-RENDITION-REPORT:URI="\.\.\/480p\/index\.m3u8",LAST-MSN=\d+,LAST-PART=\d+/);
    const lp = parseLowLatencyPlaylist(live);
    const lastPart = lp.openParts.at(-1) ?? lp.segments.at(-1)!.parts.at(-1)!;
    expect(decideBlockingReload({ msn: lastPart.msn, part: lastPart.index }, live)).toEqual({ action: 'serve' });
    expect(decideBlockingReload({ msn: lastPart.msn + 1, part: 0 }, live)).toEqual({ action: 'wait' });

    for (const r of state.renditions) {
      const dir = `${keyPrefix}/${r.rendition.name}`;
      // regular clients: the final playlist lists full 2 s segments
      const pl = parseMediaPlaylist((await storage.read(`${dir}/index.m3u8`))!.toString());
      expect(pl.endList).toBe(true);
      // 6 s of input: three 2 s segments, plus (encoded rungs) a one-frame tail at t=6 s, which
      // the forced keyframe at 6 s starts, as with ffmpeg's hls muxer
      expect(pl.segments.length).toBeGreaterThanOrEqual(3);
      expect(pl.segments.length).toBeLessThanOrEqual(4);
      for (const s of pl.segments.slice(0, 2)) expect(s.duration).toBeCloseTo(2, 3);
      expect(pl.segments[0]!.programDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(pl.segments[0]!.map).toBe('init_1.mp4');
      // parts concatenate byte for byte to their segment
      for (const s of pl.segments) {
        const parts = await partsOf(root, dir, s.uri);
        if (s.duration >= 1.9) expect(parts.length, s.uri).toBeGreaterThanOrEqual(4);
        expect(parts[0]).toBe(llPartUri(s.sequence, 0));
        const joined = Buffer.concat(await Promise.all(parts.map(async (p) => (await storage.read(`${dir}/${p}`))!)));
        expect(joined.equals((await storage.read(`${dir}/${s.uri}`))!), s.uri).toBe(true);
      }
      // ffprobe reads a segment (init + media segment, as a player would feed them)
      const file = path.join(work, `probe-${r.rendition.name}.mp4`);
      await writeFile(file, Buffer.concat([(await storage.read(`${dir}/init_1.mp4`))!, (await storage.read(`${dir}/${pl.segments[1]!.uri}`))!]));
      const probed = await ffprobe(file);
      expect(probed.streams.find((s) => s.codecType === 'video')).toMatchObject({ codecName: 'h264', width: r.rendition.width, height: r.rendition.height });
      expect(probed.streams.find((s) => s.codecType === 'audio')).toMatchObject({ codecName: 'aac' });
      expect((await runFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'])).stderrTail).toBe('');
      // an INDEPENDENT part alone is decodable (what an LL client starts with)
      const partFile = path.join(work, `probe-part-${r.rendition.name}.mp4`);
      await writeFile(partFile, Buffer.concat([(await storage.read(`${dir}/init_1.mp4`))!, (await storage.read(`${dir}/${llPartUri(pl.segments[1]!.sequence, 0)}`))!]));
      const part = await ffprobe(partFile);
      expect(part.streams.find((s) => s.codecType === 'video')).toMatchObject({ codecName: 'h264', width: r.rendition.width });
      // decoded from its first byte without a single decoder error (-xerror turns one into exit 1)
      const decoded = await runFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-xerror', '-i', partFile, '-f', 'null', '-']);
      expect(decoded.exitCode).toBe(0);
      expect(decoded.stderrTail).toBe('');
      // and the whole playlist plays
      const whole = await ffprobe(path.join(root, dir, 'index.m3u8'));
      expect(whole.streams.some((s) => s.codecType === 'video' && s.width === r.rendition.width)).toBe(true);
    }
    const master = (await storage.read(`${keyPrefix}/master.m3u8`))!.toString();
    expect(master).toContain('480p/index.m3u8');
    expect(master).toContain('CODECS="avc1.');
    // the test pattern carries no CEA-608 captions, and the master says so: players need not probe a segment
    const streamInfs = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    expect(streamInfs.length).toBeGreaterThan(0);
    expect(streamInfs.every((l) => l.endsWith(',CLOSED-CAPTIONS=NONE'))).toBe(true);
  }, 120_000);

  it('refuses a PART-HOLD-BACK under the 2 parts RFC 8216bis §4.4.3.8 requires, or over 6', () => {
    const base = { storage: createLocalStorage({ rootDir: work }), outputDir: work, keyPrefix: 'x', ladder: [], frameRate: 30, segmentSeconds: 2, partFrames: 15 };
    for (const bad of [0, 1, 2.5, 7]) expect(() => createLlHlsPublisher({ ...base, partHoldBackParts: bad }), String(bad)).toThrow(RangeError);
    expect(() => createLlHlsPublisher({ ...base, partHoldBackParts: 3 })).not.toThrow();
  });

  it.each([
    { keyframesPerSegment: 2, encoded: [true, false, true, false] }, // LL_HLS_KEYFRAME_PARTS=2: a 1 s GOP
    { keyframesPerSegment: 4, encoded: [true, true, true, true] }, // LL_HLS_KEYFRAME_PARTS=1: a 0.5 s GOP
    // LL_HLS_PARTS_PER_SEGMENT=6 (parts of 1/3 s, 10 frames) with LL_HLS_KEYFRAME_PARTS=2: a 2/3 s GOP
    { keyframesPerSegment: 3, encoded: [true, false, true, false, true, false] },
  ])('$encoded.length parts, $keyframesPerSegment keyframes per segment: every part that starts with a keyframe says INDEPENDENT=YES, segments stay 2 s', async ({ keyframesPerSegment, encoded }) => {
    const partsPerSegment = encoded.length;
    const framesPerPart = 60 / partsPerSegment;
    const tag = `${partsPerSegment}p-k${keyframesPerSegment}`;
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source); // 480p passthrough (the publisher's 2 s GOP) + 240p encoded
    const root = path.join(work, `storage-${tag}`);
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = `sessions/ll-${tag}`;
    const w = watch(storage, root, ladder, llPartUri);
    const { publisher, result } = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, `run-${tag}`), keyframesPerSegment, partSeconds: 2 / partsPerSegment });
    expect(result).toMatchObject({ exitCode: 0, aborted: false });
    const state = await publisher.finish();
    expect(w.errors).toEqual([]);
    expect(w.missing).toEqual([]);
    // PART-TARGET: a part's frames at 30 fps, rounded up to the millisecond (0.5 s, or 0.334 s for 10 frames)
    expect([...w.partTargets]).toEqual([Math.ceil((framesPerPart / 30) * 1000) / 1000]);

    for (const r of state.renditions) {
      const dir = `${keyPrefix}/${r.rendition.name}`;
      const init = (await storage.read(`${dir}/init_1.mp4`))!;
      const pl = parseMediaPlaylist((await storage.read(`${dir}/index.m3u8`))!.toString());
      // still cut at the nominal length: 2 s segments of `partsPerSegment` parts (the last one ends with the input)
      expect(pl.segments.length).toBeGreaterThanOrEqual(3);
      expect(pl.segments.length).toBeLessThanOrEqual(4);
      const expected = r.rendition.passthrough ? encoded.map((_, k) => k === 0) : encoded;
      for (const s of pl.segments.slice(0, 2)) {
        expect(s.duration, `${r.rendition.name} ${s.uri}`).toBeCloseTo(2, 3);
        const parts = await partsOf(root, dir, s.uri);
        expect(parts).toEqual(encoded.map((_, i) => llPartUri(s.sequence, i)));
        // what the live playlists said of each part ...
        const flags = parts.map((p) => w.independent.get(`${dir}/${p}`));
        expect(flags, `${r.rendition.name} ${s.uri}`).toEqual(expected);
        // ... is what the decoder finds: a keyframe first in exactly the INDEPENDENT parts, none inside a part
        const file = path.join(work, `${tag}-${r.rendition.name}-${s.uri}.mp4`);
        await writeFile(file, Buffer.concat([init, (await storage.read(`${dir}/${s.uri}`))!]));
        const keys = await keyFrames(file);
        expect(keys).toHaveLength(60);
        expect(encoded.map((_, k) => keys.slice(k * framesPerPart, (k + 1) * framesPerPart).map((key, i) => (key ? i : -1)).filter((i) => i >= 0)), `${r.rendition.name} ${s.uri}`)
          .toEqual(expected.map((yes) => (yes ? [0] : [])));
        // and every INDEPENDENT part decodes on its own, from its first byte
        for (const [k, p] of parts.entries()) {
          if (!expected[k]) continue;
          const partFile = path.join(work, `${tag}-${r.rendition.name}-${p}.mp4`);
          await writeFile(partFile, Buffer.concat([init, (await storage.read(`${dir}/${p}`))!]));
          const decoded = await runFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-xerror', '-i', partFile, '-f', 'null', '-']);
          expect(decoded.exitCode, p).toBe(0);
          expect(decoded.stderrTail, p).toBe('');
        }
      }
    }
  }, 120_000);

  it('25 fps with 6 parts per segment (8-frame parts that do not divide a 2 s segment): conforming playlists, 2 s segments cut on the keyframes, a short last part', async () => {
    const source = sourceInfoFromProbe(await ffprobe(pal25Flv));
    expect(source.video?.frameRate).toBe(25);
    const ladder = selectLadder(source);
    const root = path.join(work, 'storage-pal');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/ll-pal';
    const w = watch(storage, root, ladder, llPartUri);
    const { publisher, result } = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-pal'), input: pal25Flv, partSeconds: 1 / 3 });
    expect(result).toMatchObject({ exitCode: 0, aborted: false });
    const state = await publisher.finish();
    expect(w.checks).toBeGreaterThan(5);
    expect(w.errors).toEqual([]);
    expect(w.missing).toEqual([]);
    // 8 frames at 25 fps
    expect([...w.partTargets]).toEqual([0.32]);
    for (const r of state.renditions) {
      const dir = `${keyPrefix}/${r.rendition.name}`;
      const pl = parseMediaPlaylist((await storage.read(`${dir}/index.m3u8`))!.toString());
      expect(pl.endList).toBe(true);
      for (const s of pl.segments.slice(0, 2)) {
        expect(s.duration, `${r.rendition.name} ${s.uri}`).toBeCloseTo(2, 3);
        const parts = await partsOf(root, dir, s.uri);
        const joined = Buffer.concat(await Promise.all(parts.map(async (p) => (await storage.read(`${dir}/${p}`))!)));
        expect(joined.equals((await storage.read(`${dir}/${s.uri}`))!), s.uri).toBe(true);
        // six parts of 8 frames and a tail of 2 (50 frames), the first INDEPENDENT (none longer than PART-TARGET: the conformance check)
        expect(parts.map((p) => w.independent.get(`${dir}/${p}`)), `${r.rendition.name} ${s.uri}`).toEqual([true, false, false, false, false, false, false]);
      }
    }
  }, 120_000);

  it('a retried attempt continues the playlists after EXT-X-DISCONTINUITY with new part names', async () => {
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source);
    const root = path.join(work, 'storage-b');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/ll-b';

    // attempt 1: 3 s, then "the worker dies": no finish()
    const w1 = watch(storage, root, ladder, llPartUri);
    const first = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-b1'), seconds: 3 });
    await first.publisher.stop();
    expect(w1.errors).toEqual([]);
    const resume = await loadPublisherState(storage, keyPrefix, ladder, { frameRate: 30 });
    expect(nextStartNumber(resume)).toBeGreaterThanOrEqual(1);
    expect(nextAttemptNumber(resume)).toBe(2);
    const before = (await storage.read(`${keyPrefix}/240p/index.m3u8`))!.toString();
    expect(before).not.toContain('#EXT-X-ENDLIST');

    // attempt 2 in a fresh work dir
    const a2 = (msn: number, i: number) => llPartUri(msn, i, 2);
    const w2 = watch(storage, root, ladder, a2);
    // (on a worker with PART-HOLD-BACK at the recommended 3 parts, LL_HLS_PART_HOLD_BACK_PARTS=3: the session's 2 parts stay)
    const second = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-b2'), resume, seconds: 3, partHoldBackParts: 3 });
    expect(second.result.exitCode).toBe(0);
    const live = (await storage.read(`${keyPrefix}/240p/index.m3u8`))!.toString();
    expect(live).toContain(',PART-HOLD-BACK=1.00000,');
    const state = await second.publisher.finish();
    expect(w2.errors).toEqual([]);
    expect(w2.missing).toEqual([]);
    expect(live).toContain('#EXT-X-DISCONTINUITY');
    expect(live).toContain('#EXT-X-MAP:URI="init_2.mp4"');

    for (const r of state.renditions) {
      const pl = parseMediaPlaylist((await storage.read(`${keyPrefix}/${r.rendition.name}/index.m3u8`))!.toString());
      const resumedAt = resume.renditions.find((x) => x.rendition.name === r.rendition.name)!.segments.length;
      expect(pl.segments.map((s) => s.sequence)).toEqual(pl.segments.map((_, i) => i));
      expect(pl.segments[resumedAt]).toMatchObject({ discontinuity: true, map: 'init_2.mp4' });
      expect(pl.segments[resumedAt]!.programDateTime).toBeDefined();
      expect(pl.segments.filter((s) => s.discontinuity)).toHaveLength(1);
    }
    const whole = await ffprobe(path.join(root, keyPrefix, '240p', 'index.m3u8'));
    expect(whole.streams.some((s) => s.codecType === 'video')).toBe(true);
  }, 120_000);

  it("a retry on a worker set to other parts keeps the session's PART-TARGET and PART-HOLD-BACK", async () => {
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source);
    const root = path.join(work, 'storage-parts');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/ll-parts';
    // attempt 1 on a worker with 4 parts per segment (0.5 s, 15 frames) and PART-HOLD-BACK of 3 parts; "the worker dies"
    const w1 = watch(storage, root, ladder, llPartUri);
    const first = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-parts1'), seconds: 3, partHoldBackParts: 3 });
    await first.publisher.stop();
    expect(w1.errors).toEqual([]);
    expect([...w1.partTargets]).toEqual([0.5]);
    const resume = await loadPublisherState(storage, keyPrefix, ladder, { frameRate: 30 });
    expect(resume).toMatchObject({ partTarget: 0.5, partHoldBack: 1.5 });
    const w = watch(storage, root, ladder, (msn, i) => llPartUri(msn, i, 2));
    // attempt 2 on a worker with 6 parts per segment, a keyframe every 2 parts and the default hold-back (LL_HLS_PARTS_PER_SEGMENT=6, LL_HLS_KEYFRAME_PARTS=2)
    const second = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-parts2'), resume, seconds: 3, partSeconds: 2 / 6, keyframesPerSegment: 3 });
    expect(second.result.exitCode).toBe(0);
    const state = await second.publisher.finish();
    // every live playlist of attempt 2 says PART-TARGET=0.5 and PART-HOLD-BACK=1.5 too and conforms (no part longer, none too short mid-segment)
    expect(w.checks).toBeGreaterThan(5);
    expect([...w.partTargets]).toEqual([0.5]);
    expect([...w.partHoldBacks]).toEqual([1.5]);
    expect(w.errors).toEqual([]);
    expect(w.missing).toEqual([]);
    for (const r of state.renditions) {
      const dir = `${keyPrefix}/${r.rendition.name}`;
      const pl = parseMediaPlaylist((await storage.read(`${dir}/index.m3u8`))!.toString());
      const resumedAt = resume.renditions.find((x) => x.rendition.name === r.rendition.name)!.segments.length;
      const full = pl.segments.slice(resumedAt).find((s) => Math.abs(s.duration - 2) < 0.01);
      expect(full, `${r.rendition.name}: a full 2 s segment of attempt 2`).toBeDefined();
      // 15-frame parts as in attempt 1, one keyframe per segment (a 20-frame GOP would cut parts short)
      const parts = (await partsOf(root, dir, full!.uri)).filter((p) => p.endsWith('.a2.m4s')); // not attempt 1's parts of the same number
      expect(parts.map((p) => w.independent.get(`${dir}/${p}`)), `${r.rendition.name} ${full!.uri}`).toEqual([true, false, false, false]);
    }
  }, 120_000);

  it('loses nothing when storage writes fail now and then (29.97 fps source): the next pass retries from where it stopped', async () => {
    const source = sourceInfoFromProbe(await ffprobe(ntscFlv));
    expect(source.video?.frameRate).toBeCloseTo(29.97, 2);
    const ladder = selectLadder(source);
    const root = path.join(work, 'storage-c');
    const real = createLocalStorage({ rootDir: root });
    const storage = withFailures(real, 5, 4);
    const keyPrefix = 'sessions/ll-c';
    const w = watch(real, root, ladder, llPartUri);
    const { publisher } = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-c'), input: ntscFlv });
    let state: PublisherState | undefined;
    for (let i = 0; i < 10 && !state; i++) state = await publisher.finish().catch(() => undefined); // finish may meet a failure too
    expect(storage.injected()).toBeGreaterThan(5);
    expect(w.checks).toBeGreaterThan(5);
    expect(w.errors).toEqual([]);
    expect(w.missing).toEqual([]);
    for (const r of state!.renditions) {
      const dir = `${keyPrefix}/${r.rendition.name}`;
      const pl = parseMediaPlaylist((await real.read(`${dir}/index.m3u8`))!.toString());
      expect(pl.endList).toBe(true);
      // two 2 s segments (+ the one-frame tail an encoded rung gets at the forced keyframe at 4 s)
      expect(pl.segments.map((s) => s.sequence).slice(0, 2)).toEqual([0, 1]);
      expect(pl.segments.length).toBeLessThanOrEqual(3);
      for (const s of pl.segments.slice(0, 2)) {
        expect(Math.abs(s.duration - 2.002)).toBeLessThanOrEqual(0.002); // 60 frames at 29.97 fps
        const parts = await partsOf(root, dir, s.uri);
        expect(parts).toEqual([0, 1, 2, 3].map((i) => llPartUri(s.sequence, i)));
        const joined = Buffer.concat(await Promise.all(parts.map(async (p) => (await real.read(`${dir}/${p}`))!)));
        expect(joined.equals((await real.read(`${dir}/${s.uri}`))!), s.uri).toBe(true);
      }
    }
  }, 120_000);
});
