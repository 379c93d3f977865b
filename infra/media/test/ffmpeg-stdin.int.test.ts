/**
 * `runFfmpeg` with its input piped to stdin (`options.stdin`, `-f flv -i pipe:0`), against a real
 * ffmpeg: the end of the stream is ffmpeg's EOF, backpressure holds the source back, a failing
 * source rejects with FfmpegInputError after a graceful finish, abort and an early ffmpeg exit
 * close the source, and the child's environment carries none of our secrets.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG_STDIN_INPUT, FfmpegError, FfmpegInputError, ffprobe, runFfmpeg } from '../src/index.js';

let work: string;
let source: Buffer;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'live-media-stdin-'));
  const flv = path.join(work, 'source.flv');
  // a small live-like FLV: H.264 320x240 30 fps, 1 s GOP, AAC; 6 s
  await runFfmpeg([
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '600k', '-g', '30',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', flv,
  ]);
  source = readFileSync(flv);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * A source that hands out `bytes` in 16 KiB chunks on demand (counting what was pulled), then
 * either ends, fails with `then`, or hangs (never ends, like a live relay); `allPulled`
 * resolves when ffmpeg asked for more after the last byte.
 */
function pulledSource(bytes: Buffer, then: 'end' | 'hang' | Error): Readable & { pulled: () => number; allPulled: Promise<void> } {
  let at = 0;
  let allPulled!: () => void;
  const done = new Promise<void>((resolve) => (allPulled = resolve));
  const r = new Readable({
    read() {
      if (at < bytes.length) {
        const chunk = bytes.subarray(at, at + 16384);
        at += chunk.length;
        this.push(chunk);
        return;
      }
      allPulled();
      if (then === 'end') this.push(null);
      else if (then instanceof Error) this.destroy(then);
      // 'hang': push nothing, ever
    },
  });
  return Object.assign(r, { pulled: () => at, allPulled: done });
}

/** Remux stdin's FLV to a file: cheap, and the output's duration tells how much ffmpeg read. */
const remuxArgs = (out: string, extra: string[] = []) => [
  '-hide_banner', '-nostats', '-loglevel', 'warning', '-progress', 'pipe:1', '-y', ...extra,
  '-f', 'flv', '-i', FFMPEG_STDIN_INPUT, '-c', 'copy', '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov', out,
];

describe('runFfmpeg with options.stdin', () => {
  it('copies the stream with backpressure; its end is ffmpeg\'s EOF (exit 0, whole stream written)', async () => {
    const src = pulledSource(source, 'end');
    const out = path.join(work, 'whole.mp4');
    let pulledAtFirstSecond: number | undefined;
    // -re: ffmpeg reads at the media's rate, so a source without backpressure would be drained
    // at once; a short probe, or ffmpeg itself reads 5 s ahead
    const result = await runFfmpeg(remuxArgs(out, ['-re', '-probesize', '32768', '-analyzeduration', '200000']), {
      stdin: src,
      onProgress: (p) => { if (pulledAtFirstSecond === undefined && p.outTimeMs >= 1000) pulledAtFirstSecond = src.pulled(); },
    });
    expect(result.exitCode).toBe(0);
    expect(pulledAtFirstSecond).toBeDefined();
    // after ~1 s of media only what ffmpeg consumed plus the pipe buffers was pulled, not 6 s
    expect(pulledAtFirstSecond!).toBeLessThan(source.length * 0.6);
    expect(src.pulled()).toBe(source.length);
    expect(src.destroyed).toBe(true);
    const probed = await ffprobe(out);
    expect(probed.format.durationSeconds ?? 0).toBeGreaterThan(5.5);
  }, 30_000);

  it('a failing source: ffmpeg gets EOF and finishes, then the run rejects with FfmpegInputError', async () => {
    const broken = new Error('connection reset by the relay');
    const src = pulledSource(source.subarray(0, source.length >> 1), broken);
    const out = path.join(work, 'half.mp4');
    const err = await runFfmpeg(remuxArgs(out), { stdin: src }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegInputError);
    const e = err as FfmpegInputError;
    expect(e.cause).toBe(broken);
    expect(e.message).toContain('connection reset by the relay');
    expect(e.result.exitCode).toBe(0); // graceful: what was read is written
    expect(e.result.aborted).toBe(false);
    const probed = await ffprobe(out);
    expect(probed.format.durationSeconds ?? 0).toBeGreaterThan(1.5);
  }, 30_000);

  it('abort: the source is destroyed and stdin ended, ffmpeg finishes at once (no signal needed)', async () => {
    const src = pulledSource(source.subarray(0, source.length >> 1), 'hang');
    const controller = new AbortController();
    let pid: number | undefined;
    const out = path.join(work, 'aborted.mp4');
    const pending = runFfmpeg(remuxArgs(out), { stdin: src, signal: controller.signal, killGraceMs: 5000, onSpawn: (p) => (pid = p) });
    // ffmpeg read the whole half and waits for more: stop it
    await src.allPulled;
    controller.abort();
    const result = await pending;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).toBe(0); // EOF, not SIGTERM/SIGKILL
    expect(src.destroyed).toBe(true);
    expect(isAlive(pid!)).toBe(false);
    const probed = await ffprobe(out);
    expect(probed.format.durationSeconds ?? 0).toBeGreaterThan(1.5); // what was read is written
  }, 30_000);

  it('ffmpeg exiting early (bad option) rejects with FfmpegError and closes the hanging source', async () => {
    const src = pulledSource(source.subarray(0, 65536), 'hang');
    const err = await runFfmpeg(['-hide_banner', '-nostats', '-no-such-option', '-f', 'flv', '-i', FFMPEG_STDIN_INPUT, '-c', 'copy', '-f', 'null', '-'], { stdin: src })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect(src.destroyed).toBe(true);
  }, 30_000);

  it.runIf(process.platform === 'linux')('spawns ffmpeg with an environment without our secrets, and nothing but pipe:0 as its input', async () => {
    const saved = { RELAY_TOKEN: process.env.RELAY_TOKEN, INTERNAL_TOKEN: process.env.INTERNAL_TOKEN };
    process.env.RELAY_TOKEN = 'relay-token-in-env-0123';
    process.env.INTERNAL_TOKEN = 'internal-token-in-env-0123';
    try {
      // more than the pipe buffers hold: once all is pulled, ffmpeg itself has been reading
      const src = pulledSource(source, 'hang');
      const controller = new AbortController();
      let pid: number | undefined;
      const pending = runFfmpeg(remuxArgs(path.join(work, 'env.mp4')), { stdin: src, signal: controller.signal, onSpawn: (p) => (pid = p) });
      // ffmpeg (not setpriv, which execs it) is running and reading: read what any user of the machine can read
      await src.allPulled;
      const seen = {
        environ: readFileSync(`/proc/${pid!}/environ`, 'utf8'),
        cmdline: readFileSync(`/proc/${pid!}/cmdline`, 'utf8').split('\0'),
      };
      controller.abort();
      expect((await pending).aborted).toBe(true);
      expect(seen.cmdline[0]).toMatch(/ffmpeg$/);
      expect(seen.cmdline).toContain('pipe:0');
      expect(seen.environ).not.toContain('relay-token-in-env-0123');
      expect(seen.environ).not.toContain('internal-token-in-env-0123');
      expect(seen.environ).not.toMatch(/(^|\0)(RELAY_TOKEN|INTERNAL_TOKEN)=/);
      expect(seen.environ).toMatch(/(^|\0)PATH=/); // an allow-list, not an empty environment
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }, 30_000);
});
