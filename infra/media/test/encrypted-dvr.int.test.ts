/**
 * The low-latency packager with AES-128 encryption and a DVR window, against a real ffmpeg
 * (live-paced FLV -> fragmented MP4 -> parts + segments in local storage):
 *
 * - every segment and part decrypts with Node crypto (derived-style key per period, IV = MSN);
 *   ffprobe / ffmpeg decode init + decrypted segment; decrypted parts concatenate to the
 *   decrypted segment; the encrypted bytes alone are not readable media;
 * - keys rotate every N segments, the init segment stays clear, the VOD keeps its EXT-X-KEY lines
 *   and its MP4 (built from decrypted segments) plays;
 * - the DVR window slides (MEDIA-SEQUENCE advances); in `archive` mode every segment stays and
 *   `loadPublisherState` sees the whole broadcast; in `delete` mode slid-out segments (and their
 *   parts) are deleted only after a playlist without them was written.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import {
  buildLowLatencyLadderArgs,
  checkLowLatencyPlaylist,
  createLlHlsPublisher,
  decryptAes128,
  ffprobe,
  loadPublisherState,
  packageVod,
  parseIv,
  parseLowLatencyPlaylist,
  parseMediaPlaylist,
  renderLowLatencyPlaylist,
  renderPlaylistDeltaUpdate,
  partFramesFor,
  prepareLowLatencyOutputDirs,
  runFfmpeg,
  selectLadder,
  sourceInfoFromProbe,
  type SegmentEncryption,
} from '../src/index.js';
import { makePublisherFlv } from './publisher-flv.js';

let work: string;
let sourceFlv: string;
const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');

/** Same construction as `@live/auth` deriveContentKey (HMAC-SHA256 PRF, first 16 bytes); media does not depend on auth. */
function keyFor(sessionId: string, keyIndex: number): Buffer {
  return createHmac('sha256', SECRET).update(`hls-aes128\0${sessionId}\0${keyIndex}`).digest().subarray(0, 16);
}

function encryption(sessionId: string, rotateEverySegments: number): SegmentEncryption {
  return { rotateEverySegments, keyFor: (i) => keyFor(sessionId, i), keyUri: (i) => `/keys/${sessionId}/${i}.key` };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'live-enc-dvr-int-'));
  sourceFlv = path.join(work, 'source.flv');
  // a 240p30 publisher with a 2 s keyframe interval + AAC: the ladder is one 240p passthrough rung (no encode)
  await makePublisherFlv(sourceFlv, { size: '426x240', rate: '30', seconds: 17, videoKbps: 400, audioKbps: 64, gopFrames: 60 });
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

type Op = { op: 'playlist'; key: string; text: string } | { op: 'delete'; keys: string[] };

/** The real local storage, recording playlist writes and deletions in order. */
function recording(storage: ObjectStorage, ops: Op[]): ObjectStorage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'writePlaylist') {
        return async (key: string, text: string, o?: { live: boolean }) => {
          await target.writePlaylist(key, text, o);
          ops.push({ op: 'playlist', key, text });
        };
      }
      if (prop === 'deleteObjects') {
        return async (keys: readonly string[]) => {
          ops.push({ op: 'delete', keys: [...keys] });
          await target.deleteObjects(keys);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

async function packageLive(opts: { storage: ObjectStorage; keyPrefix: string; sessionId: string; encrypt?: SegmentEncryption; dvr: number; slidOut: 'archive' | 'delete'; now?: () => number }) {
  const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
  const ladder = selectLadder(source);
  const frameRate = source.video?.frameRate ?? 30;
  const partFrames = partFramesFor(frameRate);
  const outputDir = path.join(work, `run-${opts.sessionId}`);
  await prepareLowLatencyOutputDirs(outputDir, ladder);
  const publisher = createLlHlsPublisher({
    storage: opts.storage, outputDir, keyPrefix: opts.keyPrefix, ladder, source, segmentSeconds: 2, partFrames, pollIntervalMs: 50,
    dvrWindowSeconds: opts.dvr, slidOutSegments: opts.slidOut,
    ...(opts.encrypt ? { encryption: opts.encrypt } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const args = buildLowLatencyLadderArgs({
    input: sourceFlv, source, ladder, outputDir, segmentSeconds: 2, frameRate, partFrames, inputOptions: { realtime: true },
  });
  publisher.start();
  const result = await runFfmpeg(args);
  expect(result.exitCode).toBe(0);
  const state = await publisher.finish();
  return { ladder, state };
}

describe('encrypted low-latency packaging with a DVR window', () => {
  it('encrypts segments and parts (AES-128, IV = MSN, key every 2 segments), keeps init clear, archives slid-out segments for the VOD', async () => {
    const root = path.join(work, 'storage-enc');
    const ops: Op[] = [];
    const storage = recording(createLocalStorage({ rootDir: root }), ops);
    const sessionId = 'sess-enc';
    const keyPrefix = `sessions/${sessionId}`;
    const { ladder, state } = await packageLive({ storage, keyPrefix, sessionId, encrypt: encryption(sessionId, 2), dvr: 6, slidOut: 'archive' });
    const name = ladder[0]!.name;
    const dir = `${keyPrefix}/${name}`;
    const segs = state.renditions[0]!.segments;
    expect(segs.length).toBeGreaterThanOrEqual(6);

    // live playlists: conforming LL-HLS, MAP before the first KEY, a KEY right before every segment's parts
    const live = ops.filter((o): o is Extract<Op, { op: 'playlist' }> => o.op === 'playlist' && o.key === `${dir}/index.m3u8` && !o.text.includes('#EXT-X-ENDLIST'));
    expect(live.length).toBeGreaterThan(10);
    let deltas = 0;
    for (const { text } of live) {
      expect(checkLowLatencyPlaylist(text).filter((v) => v.severity === 'error')).toEqual([]);
      const lines = text.split('\n');
      const map = lines.findIndex((l) => l.startsWith('#EXT-X-MAP'));
      const firstKey = lines.findIndex((l) => l.startsWith('#EXT-X-KEY'));
      expect(map).toBeGreaterThan(0);
      expect(firstKey).toBeGreaterThan(map);
      // a KEY (no IV: the MSN is the IV, RFC 8216bis §5.2) only where the key changes: before the parts of a key period's first segment
      lines.forEach((l, i) => {
        const m = /seg_(\d+)\.part0\.m4s"/.exec(l);
        if (!l.startsWith('#EXT-X-PART:') || !m) return;
        const msn = Number(m[1]);
        if (msn % 2 === 0) expect(lines[i - 1]).toBe(`#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-enc/${msn / 2}.key"`);
        else expect(lines[i - 1]).not.toMatch(/^#EXT-X-KEY/);
      });
      expect(lines.filter((l) => l.startsWith('#EXT-X-KEY')).every((l) => !l.includes('IV='))).toBe(true);
      // the Playlist Delta Update of every live playlist conforms and agrees with it (key restated before its first full segment)
      const delta = renderPlaylistDeltaUpdate(text);
      if (delta) {
        deltas++;
        expect(checkLowLatencyPlaylist(delta.text, { fullPlaylist: text }).filter((v) => v.severity === 'error')).toEqual([]);
        expect(parseMediaPlaylist(delta.text).segments.map((s) => s.key)).toEqual(parseMediaPlaylist(text).segments.slice(delta.skippedSegments).map((s) => s.key));
      }
    }
    // (the 6 s window is shorter than CAN-SKIP-UNTIL, 12 s: none of them has a delta) so render every published segment, a
    // 14 s live playlist of the real keys, and check its delta: the key of its first full segment is restated
    expect(deltas).toBe(0);
    const whole = renderLowLatencyPlaylist({ segments: segs, partTarget: parseLowLatencyPlaylist(live.at(-1)!.text).partTarget!, minTargetDuration: 2, playlistType: null });
    const wholeDelta = renderPlaylistDeltaUpdate(whole)!;
    expect(wholeDelta.skippedSegments).toBeGreaterThan(0);
    expect(checkLowLatencyPlaylist(wholeDelta.text, { fullPlaylist: whole }).filter((v) => v.severity === 'error')).toEqual([]);
    const firstFull = segs[wholeDelta.skippedSegments]!;
    expect(wholeDelta.text).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-enc/${Math.floor(firstFull.sequence / 2)}.key"\n`);
    // the window slid: later live playlists start after MSN 0, without PLAYLIST-TYPE
    const last = live.at(-1)!.text;
    expect(parseLowLatencyPlaylist(last).mediaSequence).toBeGreaterThan(0);
    expect(last).not.toContain('#EXT-X-PLAYLIST-TYPE');

    // rotation: key index floor(msn / 2); explicit IV = msn
    for (const s of segs) {
      expect(s.key).toEqual({ uri: `/keys/${sessionId}/${Math.floor(s.sequence / 2)}.key`, iv: `0x${s.sequence.toString(16).padStart(32, '0')}` });
    }

    // init segment clear: ffprobe reads it alone
    const init = readFileSync(path.join(root, dir, segs[0]!.map!));
    expect(init.subarray(4, 8).toString('latin1')).toBe('ftyp');

    // a segment: encrypted bytes are not media; decrypted with the derived key + IV they decode
    const seg = segs[2]!;
    const cipher = readFileSync(path.join(root, dir, seg.uri));
    expect(cipher.subarray(4, 8).toString('latin1')).not.toBe('moof');
    const clear = decryptAes128(cipher, keyFor(sessionId, Math.floor(seg.sequence / 2)), parseIv(seg.key!.iv));
    expect(clear.subarray(4, 8).toString('latin1')).toBe('moof');
    const mp4 = path.join(work, 'decrypted.mp4');
    await writeFile(mp4, Buffer.concat([init, clear]));
    const probe = await ffprobe(mp4);
    expect(probe.streams.map((s) => s.codecType).sort()).toEqual(['audio', 'video']);
    const decode = await runFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'error', '-i', mp4, '-f', 'null', '-']);
    expect(decode.exitCode).toBe(0);

    // each part is its own AES-128 resource with the segment's key and IV; decrypted parts concatenate to the decrypted segment
    const parts: Buffer[] = [];
    for (let i = 0; existsSync(path.join(root, dir, `${seg.uri.replace(/\.m4s$/, '')}.part${i}.m4s`)); i++) {
      const p = readFileSync(path.join(root, dir, `${seg.uri.replace(/\.m4s$/, '')}.part${i}.m4s`));
      parts.push(decryptAes128(p, keyFor(sessionId, Math.floor(seg.sequence / 2)), parseIv(seg.key!.iv)));
    }
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(Buffer.concat(parts).equals(clear)).toBe(true);

    // archive mode: every segment is still in storage, and listed (archive + window) for resume / VOD
    for (const s of segs) expect(existsSync(path.join(root, dir, s.uri)), s.uri).toBe(true);
    expect(ops.some((o) => o.op === 'delete')).toBe(false);
    const loaded = await loadPublisherState(storage, keyPrefix, ladder);
    expect(loaded.renditions[0]!.segments.map((s) => [s.sequence, s.key])).toEqual(segs.map((s) => [s.sequence, s.key]));
    // the archive was written before the live playlist dropped its segments
    const firstSlid = live.findIndex((o) => parseLowLatencyPlaylist(o.text).mediaSequence > 0);
    const archiveAt = ops.findIndex((o) => o.op === 'playlist' && o.key === `${dir}/archive_0.m3u8`);
    expect(archiveAt).toBeGreaterThanOrEqual(0);
    expect(archiveAt).toBeLessThan(ops.indexOf(live[firstSlid]!));

    // VOD: the playlist keeps its EXT-X-KEY lines; the MP4 is built from decrypted segments and plays
    await expect(packageVod({ storage, keyPrefix, state: loaded, skipMp4: false, tmpDir: work })).rejects.toThrow(/no decryptionKey/);
    const vod = await packageVod({
      storage, keyPrefix, state: loaded, tmpDir: work,
      decryptionKey: (uri) => keyFor(sessionId, Number(/\/(\d+)\.key$/.exec(uri)![1])),
    });
    const vodText = (await storage.read(`${dir}/vod.m3u8`))!.toString();
    expect(parseMediaPlaylist(vodText).segments).toHaveLength(segs.length);
    // one key line per key period (IV = MSN, implied), and every segment reads back with its key and IV
    expect(vodText.match(/#EXT-X-KEY:METHOD=AES-128/g)).toHaveLength(new Set(segs.map((s) => s.key!.uri)).size);
    expect(parseMediaPlaylist(vodText).segments.map((s) => s.key)).toEqual(segs.map((s) => s.key));
    const vodMp4 = path.join(work, 'vod-enc.mp4');
    await writeFile(vodMp4, (await storage.read(vod.mp4Key!))!);
    const vodProbe = await ffprobe(vodMp4);
    expect(vodProbe.format.durationSeconds ?? 0).toBeGreaterThan(10);
    expect((await runFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'error', '-i', vodMp4, '-f', 'null', '-'])).exitCode).toBe(0);
  }, 90_000);

  it('delete mode: slid-out segments and their parts are deleted after a playlist without them was written', async () => {
    const root = path.join(work, 'storage-del');
    const ops: Op[] = [];
    const storage = recording(createLocalStorage({ rootDir: root }), ops);
    const sessionId = 'sess-del';
    const keyPrefix = `sessions/${sessionId}`;
    // a clock running 1000x fast: the RFC 8216bis §6.2.2 availability time (segment + playlist
    // duration, ~10 s) passes within ~10 ms, so deletions happen during the test
    const t0 = Date.now();
    const { ladder, state } = await packageLive({ storage, keyPrefix, sessionId, dvr: 6, slidOut: 'delete', now: () => t0 + (Date.now() - t0) * 1000 });
    const dir = `${keyPrefix}/${ladder[0]!.name}`;
    const deletes = ops.filter((o): o is Extract<Op, { op: 'delete' }> => o.op === 'delete');
    expect(deletes.length).toBeGreaterThan(0);
    const deleted = deletes.flatMap((d) => d.keys);
    expect(deleted.some((k) => /seg_00000\.m4s$/.test(k))).toBe(true);
    expect(deleted.some((k) => /seg_00000\.part0\.m4s$/.test(k))).toBe(true);
    for (const k of deleted) expect(existsSync(path.join(root, k)), k).toBe(false);
    // ordering: at every deletion, the latest playlist of the rendition names none of the deleted objects
    for (const [i, o] of ops.entries()) {
      if (o.op !== 'delete') continue;
      const lastPlaylist = ops.slice(0, i).reverse().find((x): x is Extract<Op, { op: 'playlist' }> => x.op === 'playlist' && x.key === `${dir}/index.m3u8`);
      expect(lastPlaylist).toBeDefined();
      for (const k of o.keys) expect(lastPlaylist!.text.includes(path.basename(k)), `${k} still listed when deleted`).toBe(false);
      // and it was named by an earlier playlist (it really slid out)
      expect(ops.slice(0, i).some((x) => x.op === 'playlist' && x.text.includes(path.basename(o.keys[0]!)))).toBe(true);
    }
    // the final playlist lists the window; its segments are all there; the state holds only the window
    const final = parseMediaPlaylist((await storage.read(`${dir}/index.m3u8`))!.toString());
    expect(final.endList).toBe(true);
    expect(final.mediaSequence).toBeGreaterThan(0);
    const total = final.segments.reduce((n, s) => n + s.duration, 0);
    expect(total).toBeGreaterThanOrEqual(6 - 1e-6);
    expect(total).toBeLessThan(6 + 2.6);
    for (const s of final.segments) expect(existsSync(path.join(root, dir, s.uri))).toBe(true);
    expect(state.renditions[0]!.segments.map((s) => s.sequence)).toEqual(final.segments.map((s) => s.sequence));
  }, 90_000);
});
