/**
 * bench/transcode (issue 2): on the same 1080p30 H.264/AAC input, side by side in one run,
 * the realtime factor and CPU seconds per media second of
 *   (a) bare ffmpeg alone running exactly the worker's command: the low-latency ladder
 *       (`buildLowLatencyLadderArgs`: x264 `-tune zerolatency`, one fragmented MP4 per
 *       rendition cut into 0.5 s parts, the worker's part length and default preset), reading
 *       the FLV from stdin as the worker reads the relay, and
 *   (b) the whole pipeline: RTMP ingest + HTTP-FLV relay + worker (Temporal activity, ffmpeg,
 *       HLS packager writing to storage), fed by an RTMP publisher at `-readrate` faster than
 *       the pipeline can go, so the pipeline runs as fast as it can.
 * Runs alternate (bare, pipeline, bare, …) and the table prints medians.
 *
 * Realtime factor = media seconds / wall seconds (pipeline: from publish start until the top
 * rendition's playlist has EXT-X-ENDLIST). CPU = user+sys of the processes (and their reaped
 * children) from /proc: for the pipeline, the ingest and worker processes, the transcoding
 * ffmpeg included; the publisher is not part of the pipeline and is not counted.
 *
 * Usage: pnpm --filter @live/dev bench:transcode [-- --runs 3 --seconds 30]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildLowLatencyLadderArgs, FFMPEG_STDIN_INPUT, ffprobe, partFramesFor, prepareLowLatencyOutputDirs, selectLadder, sourceInfoFromProbe } from '@live/media';
import { startStack } from '../src/stack.js';
import { waitFor } from '../src/testing.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const RUNS = opt('runs', 3);
const SECONDS = opt('seconds', 30);
const READRATE = opt('readrate', 5);
const TICKS = 100; // USER_HZ on Linux

const work = mkdtempSync(join(tmpdir(), 'bench-transcode-'));
const input = join(work, 'input.flv');

/** Runs `cmd` with its stdin from `stdinFile` (default /dev/null); resolves with its exit code, CPU and wall seconds. */
function run(cmd: string, args: string[], stdinFile = '/dev/null'): Promise<{ code: number | null; cpu: number; wall: number; stderr: string }> {
  // bash `times` prints the CPU of reaped children: exactly the command's user+sys.
  return new Promise((resolve) => {
    const t0 = performance.now();
    const script = '"$@" <"$BENCH_STDIN" >/dev/null 2>/tmp/bench-stderr.$$; rc=$?; times; cat /tmp/bench-stderr.$$ >&2; rm -f /tmp/bench-stderr.$$; exit $rc';
    const child = spawn('bash', ['-c', script, '_', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_STDIN: stdinFile } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const line = out.trim().split('\n')[1] ?? '';
      const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + Number(m[1]) * 60 + Number(m[2]), 0);
      resolve({ code, cpu: secs, wall, stderr: err });
    });
  });
}

/** utime+stime+cutime+cstime of a process, in seconds (proc(5) fields 14-17). */
function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].reduce((s, i) => s + Number(fields[i]), 0) / TICKS;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main() {
  console.log(`generating ${SECONDS} s of 1080p30 H.264 (4.5 Mb/s, 2 s GOP) + AAC …`);
  const gen = await run('ffmpeg', ['-hide_banner', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(SECONDS), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-b:v', '4500k', '-maxrate', '4500k', '-bufsize', '9000k', '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', input]);
  if (gen.code !== 0) throw new Error(`input generation failed: ${gen.stderr}`);
  const source = sourceInfoFromProbe(await ffprobe(input));
  const ladder = selectLadder(source);
  const mediaSeconds = SECONDS;

  const logger = pino({ level: 'warn' });
  const stack = await startStack({ logger, persistent: false, name: `bench-transcode-${process.pid}`, stackFile: null, web: false });
  const { info } = stack;
  const ingestPid = stack.apps.get('ingest')!.pid;
  const workerPid = stack.apps.get('worker')!.pid;

  const bare: Array<{ rtf: number; cpu: number }> = [];
  const pipe: Array<{ rtf: number; cpu: number }> = [];
  try {
    for (let r = 1; r <= RUNS; r++) {
      // (a) bare ffmpeg, the worker's command (activities.ts: 2 s segments, parts of partFramesFor(30) frames, FLV on stdin)
      const out = join(work, `bare-${r}`);
      await prepareLowLatencyOutputDirs(out, ladder);
      const args = buildLowLatencyLadderArgs({ input: FFMPEG_STDIN_INPUT, inputOptions: { format: 'flv' }, source, ladder, outputDir: out, segmentSeconds: 2, frameRate: 30, partFrames: partFramesFor(30) });
      const a = await run('ffmpeg', args, input);
      if (a.code !== 0) throw new Error(`bare ladder failed: ${a.stderr}`);
      bare.push({ rtf: mediaSeconds / a.wall, cpu: a.cpu / mediaSeconds });
      rmSync(out, { recursive: true, force: true });
      console.log(`run ${r} bare:     ${(mediaSeconds / a.wall).toFixed(2)}x realtime, ${(a.cpu / mediaSeconds).toFixed(3)} CPU-s per media-s`);

      // (b) pipeline
      const before = procCpu(ingestPid) + procCpu(workerPid);
      const t0 = performance.now();
      const startedAfter = new Date(Date.now() - 1000).toISOString();
      const pub = run('ffmpeg', ['-hide_banner', '-readrate', String(READRATE), '-i', input, '-c', 'copy', '-f', 'flv', `${info.rtmpUrl}/${info.demoStreamKey}`]);
      const sessionId = await waitFor('session', async () => {
        const l = await (await fetch(`${info.apiUrl}/api/streams`)).json() as { items: Array<{ sessionId: string; startedAt: string }> };
        return l.items.find((i) => i.startedAt >= startedAfter)?.sessionId;
      }, 30_000, 100);
      const topPlaylist = join(info.storageDir, 'sessions', sessionId, ladder[0]!.name, 'index.m3u8');
      await waitFor('EXT-X-ENDLIST', async () => existsSync(topPlaylist) && readFileSync(topPlaylist, 'utf8').includes('#EXT-X-ENDLIST'), 300_000, 50);
      const wall = (performance.now() - t0) / 1000;
      const p = await pub;
      if (p.code !== 0) throw new Error(`publisher failed: ${p.stderr}`);
      // Let the worker reap ffmpeg (cutime) and go idle before reading CPU.
      await new Promise((res) => setTimeout(res, 1500));
      const cpu = procCpu(ingestPid) + procCpu(workerPid) - before;
      pipe.push({ rtf: mediaSeconds / wall, cpu: cpu / mediaSeconds });
      console.log(`run ${r} pipeline: ${(mediaSeconds / wall).toFixed(2)}x realtime, ${(cpu / mediaSeconds).toFixed(3)} CPU-s per media-s`);
      // Let the VOD packaging of this session finish before the next run.
      await waitFor('VOD', async () => {
        const l = await (await fetch(`${info.apiUrl}/api/streams`)).json() as { items: Array<{ sessionId: string; status: string }> };
        return l.items.find((i) => i.sessionId === sessionId && (i.status === 'vod' || i.status === 'failed'));
      }, 120_000, 250);
    }
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const rows = [
    ['bare ffmpeg, the worker\'s low-latency ladder', median(bare.map((x) => x.rtf)), median(bare.map((x) => x.cpu))],
    ['pipeline (ingest + relay + worker)', median(pipe.map((x) => x.rtf)), median(pipe.map((x) => x.cpu))],
  ] as const;
  const ratio = rows[1][2] / rows[0][2];
  console.log(`\nbench/transcode: ${SECONDS} s of 1080p30 H.264 4.5 Mb/s + AAC; ladder ${ladder.map((l) => l.name + (l.passthrough ? ' (copy)' : '')).join(', ')}; medians of ${RUNS} runs, 2 cores\n`);
  console.log('| | realtime factor | CPU-s per media-s |');
  console.log('|---|---:|---:|');
  for (const [name, rtf, cpu] of rows) console.log(`| ${name} | ${rtf.toFixed(2)}x | ${cpu.toFixed(3)} |`);
  console.log(`| pipeline / bare | ${(rows[1][1] / rows[0][1]).toFixed(2)} | ${ratio.toFixed(3)} |`);
  console.log(`\ntargets: CPU within 10% of bare (ratio ≤ 1.10): ${ratio <= 1.1 ? 'met' : 'NOT met'}; pipeline ≥ 2x realtime: ${rows[1][1] >= 2 ? 'met' : 'NOT met'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
