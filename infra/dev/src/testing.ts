/**
 * Shared helpers of the whole-stack tests and benchmarks: a real ffmpeg RTMP publisher,
 * ffprobe, playlist reading, and a throwaway embedded stack ({@link startTestStack}).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { EVENTS_STREAM, streamSubject, type DomainEvent } from '@live/events';
import { connectMessaging, natsAuthFromCredential, natsAuthFromEnv, readEvents, type Messaging } from '@live/messaging';
import { startStack, type RunningStack, type StartStackOptions } from './stack.js';

const execFileAsync = promisify(execFile);

/** A running ffmpeg publisher. `done` resolves with its exit code and stderr tail. */
export interface Publisher {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; stderr: string }>;
}

/** The test pattern's picture and bitrate. */
export interface TestPatternFormat {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly videoKbps: number;
  /** B-frames between reference frames (x264 `-bf`, as OBS's default x264 uses 2); default 0, `ultrafast`'s. */
  readonly bFrames?: number;
}

/** ffmpeg input and encoder arguments of the test pattern: testsrc2 and a 440 Hz tone, x264 `ultrafast` (2-second GOP), AAC 128 kb/s. */
function testPatternArgs(o: TestPatternFormat & { seconds: number }): string[] {
  return [
    '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(o.seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(o.fps * 2), '-keyint_min', String(o.fps * 2), '-sc_threshold', '0',
    '-b:v', `${o.videoKbps}k`, '-maxrate', `${o.videoKbps}k`, '-bufsize', `${o.videoKbps * 2}k`,
    ...(o.bFrames ? ['-bf', String(o.bFrames)] : []),
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
  ];
}

/** Starts ffmpeg with `args`, keeping the last 4,000 characters of its stderr. */
function spawnPublisher(args: string[]): Publisher {
  const child = spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stderr }));
    child.on('error', (err) => resolve({ code: -1, stderr: String(err) }));
  });
  return { child, done };
}

/**
 * Publishes a synthetic test pattern with a 440 Hz tone over RTMP in real time (`-re`), like OBS
 * would: H.264 (x264 `ultrafast`, 2-second GOP), AAC 128 kb/s.
 * @param rtmpUrl `rtmp://host:port/live/<streamKey>` or `rtmps://…` (then `o.tlsCaFile`: the CA to verify the ingest's certificate against).
 */
export function publishTestPattern(rtmpUrl: string, o: TestPatternFormat & { seconds: number; tlsCaFile?: string }): Publisher {
  return spawnPublisher([
    '-hide_banner', '-loglevel', 'error', '-re',
    ...testPatternArgs(o),
    // rtmps://: verify the ingest's certificate against this CA (ffmpeg's tls protocol options).
    ...(o.tlsCaFile ? ['-tls_verify', '1', '-ca_file', o.tlsCaFile] : []),
    '-f', 'flv', rtmpUrl,
  ]);
}

/**
 * Publishes the same test pattern as {@link publishTestPattern} as MPEG-TS over SRT, as OBS's
 * SRT output does.
 * @param srtUrl `srt://host:port?streamid=…` (see `srtPublishUrl`).
 */
export function publishTestPatternOverSrt(srtUrl: string, o: TestPatternFormat & { seconds: number }): Publisher {
  return spawnPublisher(['-hide_banner', '-loglevel', 'error', '-re', ...testPatternArgs(o), '-f', 'mpegts', srtUrl]);
}

/**
 * Encodes `seconds` of the test pattern ({@link publishTestPattern}'s encoding) into an FLV file
 * in `dir`, for {@link publishClip}: the encode is paid once, not while the system under test
 * runs on the same cores (a real publisher encodes on its own machine).
 * @returns the file's path.
 * @throws Error with ffmpeg's stderr when the encode fails.
 */
export async function encodeTestClip(dir: string, o: TestPatternFormat & { seconds: number }): Promise<string> {
  const file = join(dir, `pattern-${o.width}x${o.height}-${o.fps}-${o.videoKbps}k-${o.seconds}s.flv`);
  await execFileAsync(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...testPatternArgs(o), '-f', 'flv', file]);
  return file;
}

/**
 * Publishes an FLV file over RTMP in real time (`-re`), looped for ever (`-stream_loop -1`,
 * timestamps continuing across loops) without re-encoding (`-c copy`): a publisher that costs
 * next to no CPU. Ends only on a signal or a dropped connection.
 */
export function publishClip(rtmpUrl: string, file: string): Publisher {
  return spawnPublisher(['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-f', 'flv', rtmpUrl]);
}

/** One stream as ffprobe reports it. */
export interface ProbedStream { codec_type: string; codec_name: string; width?: number; height?: number; profile?: string }

/** Runs `ffprobe -show_streams -show_format` on a URL or file and returns the parsed JSON. */
export async function probe(url: string): Promise<{ streams: ProbedStream[]; format: { duration?: string; format_name?: string } }> {
  const { stdout } = await execFileAsync(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', url], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}

/** Fetches a text resource; throws on a non-2xx status. */
export async function fetchText(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return r.text();
}

/** Polls `fn` every `intervalMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

/** `#EXTINF` durations (seconds) of a media playlist, in order. */
export function segmentDurations(playlist: string): number[] {
  return [...playlist.matchAll(/^#EXTINF:([\d.]+)/gm)].map((m) => Number(m[1]));
}

/** Variant URIs of a master playlist with their attribute lists. */
export function masterVariants(master: string): Array<{ uri: string; attrs: string }> {
  const lines = master.split(/\r?\n/);
  const out: Array<{ uri: string; attrs: string }> = [];
  lines.forEach((l, i) => {
    if (l.startsWith('#EXT-X-STREAM-INF:')) out.push({ attrs: l.slice('#EXT-X-STREAM-INF:'.length), uri: (lines[i + 1] ?? '').trim() });
  });
  return out;
}


/** An embedded stack for a whole-flow test, with a JetStream connection to read its events. */
export interface TestStack {
  readonly stack: RunningStack;
  readonly messaging: Messaging;
  /** Debug log of the stack and every app (printed on stop, for failures). */
  readonly logFile: string;
  /** Every event of the demo channel's lifecycle subject, in log order. */
  channelEvents(): Promise<DomainEvent[]>;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway embedded stack (fresh data, free ports, no stack file) whose debug log goes
 * to a temporary file, and connects to its JetStream as the admin identity (`bootstrap`: the
 * test reads and writes any subject; the apps run with their own restricted users).
 * @param name distinguishes the data directory and log file, e.g. `e2e-pipeline`.
 * @param opts.web also build and serve the web app; `opts.appEnv` extra environment for every app
 *   (e.g. `ADMIN_USERNAMES`); `mode`, `caddy`, `rtmps`, `profile` as {@link startStack} takes
 *   them (the production way: built apps behind Caddy; the cluster profile). Every port is one
 *   the OS assigned, so stacks of parallel test runs never race for 5173 or 8080.
 * @throws when the stack does not start (see {@link startStack}).
 */
export async function startTestStack(name: string, opts: Pick<StartStackOptions, 'web' | 'appEnv' | 'mode' | 'caddy' | 'rtmps' | 'profile'> = {}): Promise<TestStack> {
  const logFile = join(mkdtempSync(join(tmpdir(), `${name}-`)), 'stack.log');
  const logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: false }));
  const stack = await startStack({ logger, persistent: false, name: `${name}-${process.pid}`, stackFile: null, ...opts, web: opts.web ?? false });
  const admin = stack.info.natsCredentials.bootstrap;
  const messaging = await connectMessaging(stack.info.natsUrl, name, admin ? natsAuthFromCredential(admin) : natsAuthFromEnv(process.env));
  return {
    stack, messaging, logFile,
    channelEvents: async () => (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(stack.info.demoChannelId))).map((e) => e.event),
    async stop() {
      await messaging.close();
      await stack.stop();
      console.log(`stack log: ${logFile}`);
    },
  };
}

/**
 * Flags for a headless Chromium in a container: no sandbox (no user namespaces), no GPU, no
 * background traffic to Google services, no QUIC, and autoplay allowed without a gesture.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
];

export { killNginx, nginxRtmpConfig, startNginxRtmp, type NginxRtmp } from './nginx-rtmp.js';
export { publishWhip, type WhipPublish, type WhipPublishOptions } from './whip-client.js';
