import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { SourceInfo } from './ladder.js';

/** Thrown by {@link ffmpegPath}/{@link ffprobePath} when the binary is neither configured nor on PATH. */
export class BinaryNotFoundError extends Error {
  override readonly name = 'BinaryNotFoundError';
}

function findOnPath(name: string, envVar: string): string {
  const configured = process.env[envVar];
  if (configured) return configured;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new BinaryNotFoundError(`${name} not found: set ${envVar} or put ${name} on PATH`);
}

/**
 * Absolute path of the ffmpeg binary: `$FFMPEG_PATH` when set, else the first executable
 * `ffmpeg` on `$PATH`. Evaluated on every call (cheap), so tests can change the environment.
 *
 * @throws {BinaryNotFoundError} when neither exists.
 */
export function ffmpegPath(): string {
  return findOnPath('ffmpeg', 'FFMPEG_PATH');
}

/**
 * Absolute path of the ffprobe binary: `$FFPROBE_PATH` when set, else `ffprobe` on `$PATH`.
 *
 * @throws {BinaryNotFoundError} when neither exists.
 */
export function ffprobePath(): string {
  return findOnPath('ffprobe', 'FFPROBE_PATH');
}

/** Names of the environment variables {@link ffmpegChildEnv} keeps (plus every `LC_*`). */
const CHILD_ENV_NAMES = [
  'PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LANGUAGE', 'TZ', 'LD_LIBRARY_PATH',
  'FONTCONFIG_FILE', 'FONTCONFIG_PATH', 'AV_LOG_FORCE_NOCOLOR', 'AV_LOG_FORCE_COLOR', 'SystemRoot',
] as const;

/**
 * The environment ffmpeg/ffprobe children get by default: an allow-list of `base` (default
 * `process.env`) — `PATH`, `HOME`, temp dirs, locale (`LANG`, `LANGUAGE`, `LC_*`), `TZ`,
 * `LD_LIBRARY_PATH`, fontconfig and libav log colour variables, `SystemRoot` — and nothing
 * else. Our own processes hold secrets in their environment (`RELAY_TOKEN`, `INTERNAL_TOKEN`,
 * `DATABASE_URL`, `CONTENT_KEY_SECRET`, ...); a child's environment is readable by its user
 * (`/proc/<pid>/environ`) and is inherited further, so none of it is passed on.
 * Pure: returns a new object, `base` is not modified.
 */
export function ffmpegChildEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined) continue;
    if ((CHILD_ENV_NAMES as readonly string[]).includes(name) || name.startsWith('LC_')) env[name] = value;
  }
  return env;
}

/**
 * Removes credentials from text that may quote ffmpeg's input URL (stderr, error
 * messages): query parameters named like `token`, `sig`, `signature`, `key`, `auth`,
 * `password`, `secret` and URL userinfo are replaced with `***`.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/([?&;](?:[\w.-]*token|sig|signature|key|auth|password|secret|x-amz-[\w-]+)=)[^&\s"']+/gi, '$1***')
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@"']+@/gi, '$1***@');
}

/**
 * One `-progress` report of a running ffmpeg (the key=value block ending in `progress=`).
 * `outTimeMs`: media time written so far, milliseconds; `frame`: frames output (first video
 * stream); `speed`: processing speed as a multiple of realtime (0 when unknown); `done`:
 * ffmpeg's last report (`progress=end`).
 */
export interface FfmpegProgress {
  outTimeMs: number;
  frame: number;
  speed: number;
  done: boolean;
}

/** Options of {@link runFfmpeg}. */
export interface RunFfmpegOptions {
  /**
   * Aborting stops ffmpeg gracefully and resolves: `q` on stdin (or, with {@link RunFfmpegOptions.stdin}, the
   * end of the input), then SIGTERM, then SIGKILL.
   */
  signal?: AbortSignal;
  /**
   * Bytes to feed to ffmpeg's stdin, for args that read `-i pipe:0` (e.g. a live FLV stream
   * the caller fetched itself, so no URL or credential appears in ffmpeg's command line).
   * Copied with backpressure (stdin's `drain`). When it ends, stdin is ended: ffmpeg reads EOF
   * and finishes (last segment, playlists) as at the end of any input. When it errors, stdin
   * is ended the same way and, once ffmpeg has exited, the run rejects with
   * {@link FfmpegInputError}. It is destroyed when ffmpeg exits before reading it all and on
   * abort, so a network source closes its connection. ffmpeg ignores keyboard commands when
   * an input is a pipe, so an abort ends stdin instead of writing `q`.
   */
  stdin?: Readable;
  /** The child's whole environment; default {@link ffmpegChildEnv}() (no secrets of ours). */
  env?: NodeJS.ProcessEnv;
  /** Called for every `-progress` block (requires `-progress pipe:1` in the args). */
  onProgress?(progress: FfmpegProgress): void;
  /**
   * Receives stdout as raw bytes instead of `-progress` lines, for args that write media to
   * `pipe:1` (e.g. `-f flv pipe:1`: a remux read by the caller). `onProgress` is then not called.
   * Must not throw.
   */
  onStdout?(chunk: Buffer): void;
  /** Called for every stderr line, secrets redacted. */
  onStderrLine?(line: string): void;
  /** Called once the process is spawned (for supervision and tests). */
  onSpawn?(pid: number): void;
  /** Binary to run; default {@link ffmpegPath}(). */
  ffmpegPath?: string;
  /** After an abort: milliseconds between `q` and SIGTERM, and again between SIGTERM and SIGKILL. Default 2000. */
  killGraceMs?: number;
  /**
   * Linux: spawn through `setpriv --pdeathsig SIGKILL` (util-linux) so ffmpeg dies even if
   * this process is SIGKILLed/OOM-killed and cannot clean up. Default true when `setpriv`
   * is on PATH; ignored elsewhere.
   */
  killOnParentDeath?: boolean;
  /** Number of stderr lines kept for {@link FfmpegResult.stderrTail}. Default 40. */
  stderrTailLines?: number;
}

/**
 * How an ffmpeg run ended. `exitCode`/`signal` as from `child_process` (`signal` set when
 * killed by one); `stderrTail`: the last stderr lines, secrets redacted; `aborted`: the run
 * was stopped through the AbortSignal; `pid`: the process id it had.
 */
export interface FfmpegResult {
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
  aborted: boolean;
  pid: number | undefined;
}

/**
 * ffmpeg failed: it could not be started, or exited with a non-zero code (or was killed)
 * without being aborted by us. `stderrTail` holds its last stderr lines (secrets redacted).
 */
export class FfmpegError extends Error {
  override readonly name = 'FfmpegError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderrTail: string,
  ) {
    super(stderrTail ? `${message}\n${stderrTail}` : message);
  }
}

/**
 * The {@link RunFfmpegOptions.stdin} stream failed (e.g. the relay connection was reset or
 * stalled). ffmpeg was given EOF and finished what it had; `result` is how it exited, `cause`
 * the stream's error (its message is part of this one).
 */
export class FfmpegInputError extends Error {
  override readonly name = 'FfmpegInputError';
  constructor(
    readonly result: FfmpegResult,
    cause: unknown,
  ) {
    super(`ffmpeg's input failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess) {
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // last resort on a normal exit of this process: never leave an ffmpeg behind
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    if (process.platform !== 'linux') setprivPath = null;
    else {
      try {
        setprivPath = findOnPath('setpriv', 'SETPRIV_PATH');
      } catch {
        setprivPath = null;
      }
    }
  }
  return setprivPath;
}

function parseProgressBlock(fields: Map<string, string>): FfmpegProgress {
  const us = Number(fields.get('out_time_us') ?? fields.get('out_time_ms') ?? 0);
  const speed = Number.parseFloat(fields.get('speed') ?? '');
  return {
    outTimeMs: Number.isFinite(us) && us > 0 ? Math.round(us / 1000) : 0,
    frame: Number(fields.get('frame') ?? 0) || 0,
    speed: Number.isFinite(speed) ? speed : 0,
    done: fields.get('progress') === 'end',
  };
}

function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      rest += chunk.toString('utf8');
      let nl: number;
      while ((nl = rest.search(/[\r\n]/)) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line.length > 0) onLine(line);
      }
    },
    end() {
      if (rest.length > 0) onLine(rest);
      rest = '';
    },
  };
}

/**
 * Copies `input` into `stdin` with backpressure until `input` ends (then ends `stdin`), fails
 * (error recorded through `onError` unless `stopped()`, then ends `stdin`) or `stdin` is gone.
 * Never rejects; `input` is destroyed when the copy stops early (the async iterator's return).
 */
async function pumpInto(input: Readable, stdin: Writable, stopped: () => boolean, onError: (err: unknown) => void): Promise<void> {
  const gone = () => stdin.destroyed || stdin.writableEnded;
  const writable = () => new Promise<void>((resolve) => {
    const done = () => {
      for (const ev of ['drain', 'finish', 'close', 'error'] as const) stdin.off(ev, done);
      resolve();
    };
    for (const ev of ['drain', 'finish', 'close', 'error'] as const) stdin.once(ev, done);
  });
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (gone()) break; // ffmpeg exited or we ended its stdin: leaving the loop destroys `input`
      if (!stdin.write(chunk)) await writable();
    }
  } catch (err) {
    if (!stopped()) onError(err);
  } finally {
    if (!input.destroyed) input.destroy();
    if (!gone()) stdin.end();
  }
}

/**
 * Runs ffmpeg with `args` (built e.g. by `buildLadderArgs`) and supervises it.
 *
 * - the child gets `options.env`, by default {@link ffmpegChildEnv}() (no secrets of ours);
 * - `options.stdin`, when given, is copied into ffmpeg's stdin (`-i pipe:0`) with
 *   backpressure; its end is ffmpeg's EOF (see {@link RunFfmpegOptions.stdin});
 * - stdout is parsed as `-progress` output and reported through `onProgress`, or handed over
 *   raw to `onStdout` (media written to `pipe:1`);
 * - stderr lines go to `onStderrLine` and the last ones are kept (secrets redacted);
 * - abort (`signal`): writes `q` to ffmpeg's stdin, or with `options.stdin` destroys that
 *   stream and ends stdin (either way ffmpeg finishes the current segment and playlists, like
 *   Ctrl-C), sends SIGTERM after `killGraceMs`, SIGKILL after another `killGraceMs`, then
 *   resolves with `aborted: true`;
 * - ffmpeg never outlives this process: children are SIGKILLed on `process.exit`, and on
 *   Linux `setpriv --pdeathsig SIGKILL` covers a crash of this process.
 *
 * Resolves when the process has exited, its output is drained and `options.stdin` is ended or
 * destroyed.
 *
 * @throws {FfmpegError} when ffmpeg cannot be spawned, or exits with a non-zero code or a
 *   signal without having been aborted.
 * @throws {FfmpegInputError} when `options.stdin` failed (and the run was not aborted),
 *   whatever ffmpeg's exit.
 * @throws {BinaryNotFoundError} (synchronously) when no ffmpeg is configured or on PATH; the
 *   `stdin` stream is destroyed then too.
 */
export function runFfmpeg(args: readonly string[], options: RunFfmpegOptions = {}): Promise<FfmpegResult> {
  let bin: string;
  try {
    bin = options.ffmpegPath ?? ffmpegPath();
  } catch (err) {
    options.stdin?.destroy(); // the caller's source must not stay open
    throw err;
  }
  const tailMax = options.stderrTailLines ?? 40;
  const grace = options.killGraceMs ?? 2000;
  const signal = options.signal;
  const input = options.stdin;

  return new Promise<FfmpegResult>((resolve, reject) => {
    if (signal?.aborted) {
      input?.destroy();
      resolve({ exitCode: null, signal: null, stderrTail: '', aborted: true, pid: undefined });
      return;
    }
    const wrap = (options.killOnParentDeath ?? true) ? findSetpriv() : null;
    const [cmd, argv] = wrap ? [wrap, ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, [...args]];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? ffmpegChildEnv() });
    trackChild(child);

    const tail: string[] = [];
    let aborted = false;
    const timers: NodeJS.Timeout[] = [];
    // the stdin copy: stopped on abort and at exit (errors after that are ours, not the input's)
    let inputStopped = false;
    let inputError: { err: unknown } | undefined;
    const stopInput = () => {
      inputStopped = true;
      if (input && !input.destroyed) input.destroy();
    };

    const progressFields = new Map<string, string>();
    const stdout = lineSplitter((line) => {
      const eq = line.indexOf('=');
      if (eq <= 0) return;
      const key = line.slice(0, eq).trim();
      progressFields.set(key, line.slice(eq + 1).trim());
      if (key === 'progress') {
        const p = parseProgressBlock(progressFields);
        progressFields.clear();
        try {
          options.onProgress?.(p);
        } catch {
          // a failing observer must not break supervision
        }
      }
    });
    const stderr = lineSplitter((raw) => {
      const line = redactSecrets(raw);
      tail.push(line);
      if (tail.length > tailMax) tail.shift();
      try {
        options.onStderrLine?.(line);
      } catch {
        // ignore observer errors
      }
    });
    const onStdout = options.onStdout;
    child.stdout?.on('data', (c: Buffer) => (onStdout ? onStdout(c) : stdout.push(c)));
    child.stderr?.on('data', (c: Buffer) => stderr.push(c));
    // EPIPE when ffmpeg already exited before reading our 'q' or input: nothing to do
    child.stdin?.on('error', () => undefined);
    const pumped = input && child.stdin
      ? pumpInto(input, child.stdin, () => inputStopped, (err) => { inputError = { err }; })
      : Promise.resolve();

    const onAbort = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      aborted = true;
      try {
        if (input) stopInput(); // EOF is the graceful stop of a pipe input
        else child.stdin?.write('q');
        child.stdin?.end();
      } catch {
        // stdin already closed
      }
      timers.push(
        setTimeout(() => {
          child.kill('SIGTERM');
          timers.push(setTimeout(() => child.kill('SIGKILL'), grace));
        }, grace),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    child.once('spawn', () => {
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
    });
    child.once('error', (err) => {
      if (child.pid !== undefined) return; // spawned fine; 'close' reports the outcome
      running.delete(child);
      signal?.removeEventListener('abort', onAbort);
      stopInput();
      reject(new FfmpegError(`ffmpeg could not be started (${bin}): ${err.message}`, null, null, ''));
    });
    child.once('close', (code, sig) => {
      running.delete(child);
      for (const t of timers) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      stdout.end();
      stderr.end();
      stopInput(); // ffmpeg is gone: close the source (a no-op once it ended)
      const stderrTail = tail.join('\n');
      const result: FfmpegResult = { exitCode: code, signal: sig, stderrTail, aborted, pid: child.pid };
      void pumped.then(() => {
        if (!aborted && inputError) {
          reject(new FfmpegInputError(result, inputError.err));
          return;
        }
        if (!aborted && code !== 0) {
          reject(new FfmpegError(`ffmpeg exited with ${code !== null ? `code ${code}` : `signal ${sig}`}`, code, sig, stderrTail));
          return;
        }
        resolve(result);
      });
    });
  });
}

/** One stream as reported by {@link ffprobe}. Times in seconds, bitrates in kbit/s, `frameRate` in frames/s. */
export interface ProbeStream {
  index: number;
  codecType: 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | string;
  codecName: string;
  /** e.g. `High`, `Main`, `LC`. */
  profile?: string;
  /** H.264 level_idc (e.g. 31 for 3.1). */
  level?: number;
  width?: number;
  height?: number;
  /** From `r_frame_rate` (e.g. `30000/1001` -> 29.97). */
  frameRate?: number;
  pixFmt?: string;
  sampleRate?: number;
  channels?: number;
  bitrateKbps?: number;
  durationSeconds?: number;
  /** RFC 6381 codec string derived from the codec configuration record, when available. */
  codecString?: string;
}

/** Result of {@link ffprobe}: container format and streams. */
export interface ProbeResult {
  format: { formatName: string; durationSeconds?: number; bitrateKbps?: number; sizeBytes?: number };
  streams: ProbeStream[];
}

/** ffprobe failed (cannot open/parse the input, timed out, or produced unreadable JSON). */
export class FfprobeError extends Error {
  override readonly name = 'FfprobeError';
  constructor(message: string, readonly stderr: string) {
    super(stderr ? `${message}: ${stderr}` : message);
  }
}

/** Options of {@link ffprobe}. */
export interface FfprobeOptions {
  /** Binary; default {@link ffprobePath}(). */
  ffprobePath?: string;
  /** Kill ffprobe after this many milliseconds. Default 15000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra input options before the input, e.g. `['-rw_timeout', '5000000']`. */
  inputOptions?: readonly string[];
  /** The child's whole environment; default {@link ffmpegChildEnv}() (no secrets of ours). */
  env?: NodeJS.ProcessEnv;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function rate(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const [a, b] = v.split('/').map(Number);
  if (a === undefined || !Number.isFinite(a) || a <= 0) return undefined;
  if (b === undefined) return a;
  return b > 0 ? a / b : undefined;
}

/** Bytes of ffprobe's `-show_data` hexdump (`"\n00000000: 0164 0028 ...  .d.(\n"`). */
function hexdumpBytes(dump: unknown): Buffer | undefined {
  if (typeof dump !== 'string') return undefined;
  const hex = dump
    .split('\n')
    .map((line) => /^[0-9a-f]{8}:((?: [0-9a-f]{2,4})+)/i.exec(line)?.[1] ?? '')
    .join('')
    .replace(/\s+/g, '');
  return hex.length >= 2 ? Buffer.from(hex, 'hex') : undefined;
}

/** RFC 6381 string from codec extradata: avcC (ISO/IEC 14496-15 §5.3.3.1) or AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1). */
function codecStringFromExtradata(codecName: string, extradata: Buffer | undefined): string | undefined {
  if (!extradata) return undefined;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  if (codecName === 'h264' && extradata.length >= 4 && extradata[0] === 1) {
    return `avc1.${hex(extradata[1]!)}${hex(extradata[2]!)}${hex(extradata[3]!)}`;
  }
  if (codecName === 'aac' && extradata.length >= 1) {
    const aot = extradata[0]! >> 3;
    return aot > 0 && aot < 31 ? `mp4a.40.${aot}` : undefined;
  }
  return undefined;
}

/**
 * Probes a file or URL with `ffprobe -show_format -show_streams -show_data -of json`
 * (no packet/frame scan, so it is quick even on a live relay).
 *
 * @throws {FfprobeError} when ffprobe fails, times out or prints unparsable output.
 * @throws {BinaryNotFoundError} when no ffprobe is configured or on PATH.
 */
export async function ffprobe(urlOrPath: string, options: FfprobeOptions = {}): Promise<ProbeResult> {
  const bin = options.ffprobePath ?? ffprobePath();
  const args = ['-v', 'error', ...(options.inputOptions ?? []), '-show_format', '-show_streams', '-show_data', '-of', 'json', urlOrPath];
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? ffmpegChildEnv() });
    trackChild(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, options.timeoutMs ?? 15_000);
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new FfprobeError(`ffprobe could not be started (${bin}): ${e.message}`, ''));
    });
    child.once('close', (c, sig) => {
      clearTimeout(timer);
      running.delete(child);
      options.signal?.removeEventListener('abort', kill);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: redactSecrets(Buffer.concat(err).toString('utf8').trim()) + (sig ? ` (killed by ${sig})` : ''),
        code: c,
      });
    });
  });
  if (code !== 0) throw new FfprobeError(`ffprobe exited with code ${code}`, stderr);
  let json: { format?: Record<string, unknown>; streams?: Array<Record<string, unknown>> };
  try {
    json = JSON.parse(stdout) as typeof json;
  } catch {
    throw new FfprobeError('ffprobe printed invalid JSON', stderr);
  }
  const f = json.format ?? {};
  const bitrate = (v: unknown) => {
    const n = num(v);
    return n !== undefined ? Math.round(n / 1000) : undefined;
  };
  return {
    format: {
      formatName: String(f.format_name ?? ''),
      durationSeconds: num(f.duration),
      bitrateKbps: bitrate(f.bit_rate),
      sizeBytes: num(f.size),
    },
    streams: (json.streams ?? []).map((s) => {
      const codecName = String(s.codec_name ?? '');
      const stream: ProbeStream = {
        index: num(s.index) ?? 0,
        codecType: String(s.codec_type ?? ''),
        codecName,
        profile: typeof s.profile === 'string' ? s.profile : undefined,
        level: num(s.level),
        width: num(s.width),
        height: num(s.height),
        frameRate: rate(s.r_frame_rate),
        pixFmt: typeof s.pix_fmt === 'string' ? s.pix_fmt : undefined,
        sampleRate: num(s.sample_rate),
        channels: num(s.channels),
        bitrateKbps: bitrate(s.bit_rate),
        durationSeconds: num(s.duration),
        codecString: codecStringFromExtradata(codecName, hexdumpBytes(s.extradata)),
      };
      for (const k of Object.keys(stream) as Array<keyof ProbeStream>) if (stream[k] === undefined) delete stream[k];
      return stream;
    }),
  };
}

/**
 * The {@link SourceInfo} for `selectLadder`/`buildLadderArgs` from a probe: the first video
 * and the first audio stream. The video bitrate falls back to the container bitrate minus
 * the audio bitrate when the stream does not state one (FLV metadata often only has totals).
 */
export function sourceInfoFromProbe(probe: ProbeResult): SourceInfo {
  const v = probe.streams.find((s) => s.codecType === 'video');
  const a = probe.streams.find((s) => s.codecType === 'audio');
  const info: SourceInfo = {};
  if (v) {
    const fallback =
      probe.format.bitrateKbps !== undefined ? probe.format.bitrateKbps - (a?.bitrateKbps ?? 0) : undefined;
    info.video = { codec: v.codecName };
    if (v.codecString) info.video.codecString = v.codecString;
    if (v.width) info.video.width = v.width;
    if (v.height) info.video.height = v.height;
    if (v.frameRate) info.video.frameRate = v.frameRate;
    const br = v.bitrateKbps ?? (fallback !== undefined && fallback > 0 ? fallback : undefined);
    if (br) info.video.bitrateKbps = br;
  }
  if (a) {
    info.audio = { codec: a.codecName };
    if (a.codecString) info.audio.codecString = a.codecString;
    if (a.sampleRate) info.audio.sampleRate = a.sampleRate;
    if (a.channels) info.audio.channels = a.channels;
    if (a.bitrateKbps) info.audio.bitrateKbps = a.bitrateKbps;
  }
  return info;
}
