/**
 * MinIO: a real S3-compatible server for the S3 object-storage backend's integration tests and
 * for trying the production storage path locally. Installed by `bash infra/dev/bin/ensure.sh --test`
 * (`go install github.com/minio/minio@<pinned version>`).
 * Flags and variables: `minio server --help`; MinIO docs "Minimum Server Settings" and
 * "Healthcheck API" (`/minio/health/ready`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { resolveBinary } from './binaries.js';
import { LOOPBACK, reservePorts, sleep, waitForPort } from './ports.js';
import { ManagedProcess, onExitCleanup, PID_FILE_NAME, reapStaleServers, startWatchdog } from './process.js';

/** Options for {@link startMinio}. */
export interface StartMinioOptions {
  /**
   * Directory for the server's data (objects in `data/`, TLS config in `certs/`), pid file and
   * root credentials (`credentials.json`, mode 0600, reused by later starts); kept after `stop()`.
   * Default: a fresh `os.tmpdir()/live-platform/minio-XXXXXX` with fresh random credentials,
   * removed on `stop()` (and by a watchdog if this process is killed).
   */
  dataDir?: string;
  /** Child output at debug (`service: "minio"`), lifecycle at info. Default: silent. */
  logger?: Logger;
  /** Give up waiting for readiness after this many milliseconds (default 60000). */
  timeoutMs?: number;
}

/** A running MinIO server. Pass its fields to `createS3Storage` from `@live/storage`. */
export interface MinioHandle {
  /** S3 endpoint URL, `http://127.0.0.1:<port>` (path-style addressing). */
  endpoint: string;
  /** SigV4 region the server accepts: `us-east-1`. */
  region: string;
  /** Root user (S3 access key id): random per start, or per kept `dataDir` (see {@link StartMinioOptions.dataDir}). */
  accessKeyId: string;
  /** Root password (S3 secret access key), as {@link accessKeyId}. */
  secretAccessKey: string;
  /** Absolute data directory (see {@link StartMinioOptions.dataDir}). */
  dataDir: string;
  /** The supervised server process. */
  process: ManagedProcess;
  /**
   * Stops the server (SIGTERM, SIGKILL after 5 s) and removes a throwaway data directory.
   * Idempotent: later calls return the same promise. Never rejects.
   */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;
/** Marker of a throwaway run directory, the same one `startServices` uses, so either sweeper removes it. */
const EPHEMERAL_MARKER = '.ephemeral';

/**
 * Our environment minus `MINIO_*` (server configuration that could point it at another drive, an
 * external KMS or identity provider) plus the settings of this instance.
 */
function minioEnv(accessKeyId: string, secretAccessKey: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MINIO_')) env[key] = value;
  }
  return {
    ...env,
    MINIO_ROOT_USER: accessKeyId,
    MINIO_ROOT_PASSWORD: secretAccessKey,
    MINIO_BROWSER: 'off', // no web console: one port, nothing else listening
    MINIO_UPDATE: 'off', // never phone home for updates
    MINIO_CALLHOME_ENABLE: 'off',
    MINIO_SITE_REGION: 'us-east-1',
  };
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

function newCredentials(): Credentials {
  return { accessKeyId: `live${randomBytes(8).toString('hex')}`, secretAccessKey: randomBytes(24).toString('base64url') };
}

/**
 * The root credentials of a kept data directory, from `<dataDir>/credentials.json` (mode 0600),
 * created on first start: MinIO's stored configuration belongs to the root user it was created
 * with, so a restarted server must get the same one.
 */
function persistentCredentials(dataDir: string): Credentials {
  const file = path.join(dataDir, 'credentials.json');
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Credentials>;
    if (typeof saved.accessKeyId === 'string' && typeof saved.secretAccessKey === 'string') {
      return { accessKeyId: saved.accessKeyId, secretAccessKey: saved.secretAccessKey };
    }
  } catch {
    // first start (or an unreadable file): make new ones
  }
  const created = newCredentials();
  fs.writeFileSync(file, JSON.stringify(created), { mode: 0o600 });
  return created;
}

async function isReady(endpoint: string): Promise<string | true> {
  try {
    const res = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok ? true : `HTTP ${res.status}`;
  } catch (err) {
    return (err as Error).message;
  }
}

async function startOnce(port: number, dataDir: string, logger: Logger, pidFile: string, accessKeyId: string, secretAccessKey: string, timeoutMs: number): Promise<ManagedProcess> {
  const proc = new ManagedProcess({
    service: 'minio',
    command: resolveBinary('minio'),
    // Single drive ("xl-single"); loopback only; certs dir inside the run dir, never ~/.minio.
    args: ['server', path.join(dataDir, 'data'), '--address', `${LOOPBACK}:${port}`, '--certs-dir', path.join(dataDir, 'certs'), '--quiet', '--anonymous'],
    env: minioEnv(accessKeyId, secretAccessKey),
    logger,
    pidFile,
  });
  const endpoint = `http://${LOOPBACK}:${port}`;
  const deadline = Date.now() + timeoutMs;
  try {
    await waitForPort(port, { service: 'minio', timeoutMs, abort: () => proc.exitError() });
    let last = 'no answer yet';
    for (;;) {
      const exited = proc.exitError();
      if (exited) throw exited;
      const ready = await isReady(endpoint);
      if (ready === true) break;
      last = ready;
      if (Date.now() > deadline) {
        throw new Error(`minio: ${endpoint}/minio/health/ready not ok within ${timeoutMs} ms (${last})\n${proc.tail.toString()}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

/**
 * Starts `minio server` on a single local drive, bound to 127.0.0.1 on a free OS-assigned port
 * (never the conventional 9000, which a system MinIO may hold), with random root credentials
 * (fresh per start; kept per `dataDir` when one is given) and the web console disabled; resolves
 * once `GET /minio/health/ready` answers 200.
 * No bucket exists yet: create one with S3 `CreateBucket` (e.g. `ensureBucket()` of
 * `@live/storage`'s `createS3Storage`). Startup takes ~1 s.
 *
 * Supervision as for the other services: output at debug on `logger`, stopped on process exit and
 * SIGINT/SIGTERM/SIGHUP, and a watchdog plus a pid file in the data directory stop it when this
 * process is SIGKILLed. A port taken between reservation and bind is retried on new ports (3
 * attempts).
 *
 * @throws Error (message starts with `minio`) when the binary is missing (install it with
 *   `bash infra/dev/bin/ensure.sh --test`), the server exits during startup (with its last output lines),
 *   or it is not ready within `timeoutMs`; the process is stopped and a throwaway directory removed
 *   before the error is thrown.
 * @throws Error when `dataDir` is in use by a minio of another running process.
 */
export async function startMinio(opts: StartMinioOptions = {}): Promise<MinioHandle> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  resolveBinary('minio'); // fail fast, before creating directories
  const throwaway = opts.dataDir === undefined;
  let dataDir: string;
  if (opts.dataDir === undefined) {
    const root = path.join(os.tmpdir(), 'live-platform');
    fs.mkdirSync(root, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(root, 'minio-'));
    fs.writeFileSync(path.join(dataDir, EPHEMERAL_MARKER), '');
  } else {
    dataDir = path.resolve(opts.dataDir);
    fs.mkdirSync(dataDir, { recursive: true });
  }
  const pidFile = path.join(dataDir, PID_FILE_NAME);
  const removeDir = (): void => {
    if (throwaway) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const forgetExitCleanup = throwaway ? onExitCleanup(removeDir) : () => undefined;
  let watchdog: { stop(): void } | undefined;
  try {
    if (!throwaway) await reapStaleServers(pidFile, dataDir);
    watchdog = startWatchdog(pidFile, dataDir);
    const { accessKeyId, secretAccessKey } = throwaway ? newCredentials() : persistentCredentials(dataDir);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let proc: ManagedProcess | undefined;
    for (let attempt = 1; proc === undefined; attempt++) {
      const [port] = await reservePorts([undefined]);
      if (port === undefined) throw new Error('minio: no free port');
      try {
        proc = await startOnce(port, dataDir, logger, pidFile, accessKeyId, secretAccessKey, timeoutMs);
        logger.info({ service: 'minio', port, dataDir }, 'minio ready');
        const endpoint = `http://${LOOPBACK}:${port}`;
        const running = proc;
        const dog = watchdog;
        let stopping: Promise<void> | undefined;
        return {
          endpoint,
          region: 'us-east-1',
          accessKeyId,
          secretAccessKey,
          dataDir,
          process: running,
          stop: () =>
            (stopping ??= (async () => {
              await running.stop();
              dog.stop();
              try {
                removeDir();
              } catch (err) {
                logger.warn({ err, dataDir }, 'minio: could not remove the data directory');
              }
              forgetExitCleanup();
            })()),
        };
      } catch (err) {
        const inUse = err instanceof Error && /address already in use|port is already in use|bind:/i.test(err.message);
        if (!inUse || attempt >= START_ATTEMPTS) throw err;
        logger.warn({ service: 'minio', port, attempt }, 'minio: port taken while starting, retrying on another port');
      }
    }
    throw new Error('minio: unreachable');
  } catch (err) {
    watchdog?.stop();
    try {
      removeDir();
    } catch {
      // best effort
    }
    forgetExitCleanup();
    throw err;
  }
}
