import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { credsAuthenticator } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import pino, { type Logger } from 'pino';
import { CHAT_STREAM_DEFINITION, EVENTS_STREAM, EVENTS_STREAM_DEFINITION, LEASES_STREAM_DEFINITION, TELEMETRY_STREAM_DEFINITION, type StreamDefinition } from '@live/events';
import { inboxPrefixFor, type NatsCredential } from './permissions.js';
import { isJetStreamApiError, isPermissionViolation, isStreamNotFound, permissionViolationOf, StreamMissingError, type EnsureStreamOutcome } from './errors.js';
import { ensureLeaseBucket, leaseBucketStream } from './kv-lease.js';
import { retryTransient } from './transient.js';

/** An open NATS connection with its JetStream client and manager. */
export interface Messaging {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Drains subscriptions and closes the connection. */
  close(): Promise<void>;
}

/**
 * How to authenticate to NATS (nats-server docs "Authentication"):
 * - `{ user, pass }`: a user of the server's `authorization` block (see `renderPlatformAuthorization`);
 * - `{ token }`: a token (`authorization { token }`);
 * - `{ credsFile }`: a decentralized-auth credentials file (user JWT + nkey seed, `nsc` output),
 *   read at connect (nats.js `credsAuthenticator`).
 * `inboxPrefix` is where replies to this connection arrive (nats.js `inboxPrefix`); default for
 * `{ user }` the user's own prefix `_INBOX_<user>` (what the platform's permissions allow it to
 * subscribe to), otherwise nats.js's `_INBOX`.
 */
export type NatsAuth =
  | { readonly user: string; readonly pass: string; readonly inboxPrefix?: string }
  | { readonly token: string; readonly inboxPrefix?: string }
  | { readonly credsFile: string; readonly inboxPrefix?: string };

/**
 * The {@link NatsAuth} the environment names, or undefined when it names none (anonymous):
 * `NATS_CREDS` (path of a `.creds` file), `NATS_TOKEN`, or `NATS_USER` with `NATS_PASSWORD`; plus
 * `NATS_INBOX_PREFIX` (optional, see {@link NatsAuth}). Empty values count as unset.
 * @throws TypeError when more than one kind is set, or only one of `NATS_USER` / `NATS_PASSWORD`.
 */
export function natsAuthFromEnv(env: Readonly<Record<string, unknown>>): NatsAuth | undefined {
  const v = (name: string): string | undefined => (typeof env[name] === 'string' && env[name] !== '' ? env[name] : undefined);
  const user = v('NATS_USER');
  const pass = v('NATS_PASSWORD');
  const token = v('NATS_TOKEN');
  const credsFile = v('NATS_CREDS');
  const inboxPrefix = v('NATS_INBOX_PREFIX');
  const kinds = [user !== undefined || pass !== undefined ? 'NATS_USER/NATS_PASSWORD' : null, token ? 'NATS_TOKEN' : null, credsFile ? 'NATS_CREDS' : null].filter(Boolean);
  if (kinds.length > 1) throw new TypeError(`NATS credentials: set only one of ${kinds.join(', ')}`);
  const extra = inboxPrefix ? { inboxPrefix } : {};
  if (credsFile) return { credsFile, ...extra };
  if (token) return { token, ...extra };
  if (user !== undefined || pass !== undefined) {
    if (!user || !pass) throw new TypeError(`NATS credentials: ${user ? 'NATS_PASSWORD' : 'NATS_USER'} is not set (both NATS_USER and NATS_PASSWORD are needed)`);
    return { user, pass, ...extra };
  }
  return undefined;
}

/** `{ user, pass }` of a {@link NatsCredential} (the embedded stack's `natsCredentials` entries). */
export function natsAuthFromCredential(c: NatsCredential): NatsAuth {
  return { user: c.user, pass: c.password };
}

/** The inbox prefix a connection with `auth` uses (see {@link NatsAuth}); undefined = nats.js's default `_INBOX`. */
export function natsInboxPrefix(auth: NatsAuth | undefined): string | undefined {
  if (!auth) return undefined;
  if (auth.inboxPrefix) return auth.inboxPrefix;
  if ('user' in auth && /^[A-Za-z0-9_-]{1,64}$/.test(auth.user)) return inboxPrefixFor(auth.user);
  return undefined;
}

function authOptions(auth: NatsAuth | undefined): Partial<ConnectionOptions> {
  if (!auth) return {};
  const inboxPrefix = natsInboxPrefix(auth);
  const base: Partial<ConnectionOptions> = inboxPrefix ? { inboxPrefix } : {};
  if ('credsFile' in auth) return { ...base, authenticator: credsAuthenticator(new Uint8Array(readFileSync(auth.credsFile))) };
  if ('token' in auth) return { ...base, token: auth.token };
  return { ...base, user: auth.user, pass: auth.pass };
}

/** Options of {@link connectMessaging}. */
export interface ConnectMessagingOptions {
  /** Where permission violations are reported (one warn line each); default a pino logger named `nats` at LOG_LEVEL. */
  readonly logger?: Logger;
}

/** Same (operation, subject) violations are logged at most once per this many ms. */
const VIOLATION_LOG_INTERVAL_MS = 60_000;

/**
 * Connects to NATS and opens JetStream.
 *
 * Permission violations (the server refused a publish or a subscription; nats.js reports them
 * on `nc.status()` and rejects the matching request with a `RequestError` whose cause is a
 * `PermissionViolationError`) are logged as one warn line naming the operation and the subject,
 * e.g. `NATS permission violation: publish to "evt.user.x" refused (user ingest)`, at most once
 * a minute per subject, so that a missing permission is visible rather than a silent hang.
 * @param url e.g. `nats://127.0.0.1:4222` (comma-separated for a cluster).
 * @param name connection name shown in the server's monitoring, e.g. `ingest`.
 * @param auth credentials (see {@link NatsAuth}, {@link natsAuthFromEnv}); none = anonymous.
 * @throws the nats.js connection error when no server answers within its timeout, or
 *   `AuthorizationError` ("Authorization Violation") when the server refuses the credentials
 *   (or, without any, an anonymous connection).
 * @throws the file system error when `auth.credsFile` cannot be read.
 */
export async function connectMessaging(url: string, name: string, auth?: NatsAuth, opts: ConnectMessagingOptions = {}): Promise<Messaging> {
  const nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, ...authOptions(auth) });
  const who = auth && 'user' in auth ? auth.user : auth && 'token' in auth ? 'token' : auth ? 'creds' : 'anonymous';
  const logger = opts.logger ?? pino({ name: 'nats', level: process.env.LOG_LEVEL ?? 'info' });
  const lastLogged = new Map<string, number>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== 'error') continue;
      const pv = permissionViolationOf(s.error);
      if (!pv) continue;
      const key = `${pv.operation} ${pv.subject}`;
      const now = Date.now();
      if ((lastLogged.get(key) ?? -Infinity) > now - VIOLATION_LOG_INTERVAL_MS) continue;
      lastLogged.set(key, now);
      const op = pv.operation === 'subscription' ? 'subscribe' : 'publish';
      logger.warn({ natsUser: who, connection: name, operation: op, subject: pv.subject }, `NATS permission violation: ${op} to "${pv.subject}" refused (user ${who})`);
    }
  })().catch(() => undefined);
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  const js = jetstream(nc);
  return {
    nc, js, jsm,
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}


/** Options of {@link ensureStream} and {@link ensureEventStreams}. */
export interface EnsureStreamOptions {
  /** Where a configuration this user may not update is reported (warn); default a pino logger named `nats`. */
  readonly logger?: Logger;
  /**
   * Copies kept of every stream (JetStream `num_replicas`, 1 to 5), overriding the definitions'
   * `replicas` (1): 3 on a three-server cluster (`NATS_REPLICAS`, docs/architecture.md "Cluster
   * mode"). Raising it on an existing stream is an update (JetStream copies the data to the new
   * peers); the server refuses more replicas than it has servers.
   */
  readonly replicas?: number;
}

/**
 * The JetStream `StreamConfig` fields of a {@link StreamDefinition}. EVENTS also allows direct
 * gets (`allow_direct`): `lastSubjectMessage` reads the last message of one subject through
 * `$JS.API.DIRECT.GET.EVENTS.<subject>`, a request subject that names the subject, so that NATS
 * permissions can allow it per subject (the API reads `evt.claim.>` this way and nothing else).
 */
function streamConfigOf(def: StreamDefinition): Partial<StreamConfig> & { name: string } {
  return {
    name: def.name,
    subjects: [...def.subjects],
    retention: RetentionPolicy.Limits,
    storage: def.storage === 'file' ? StorageType.File : StorageType.Memory,
    discard: DiscardPolicy.Old,
    duplicate_window: def.duplicateWindowNs,
    max_age: def.maxAgeNs,
    max_msgs_per_subject: def.maxMsgsPerSubject,
    max_msg_size: def.maxMsgSize,
    num_replicas: def.replicas,
    allow_direct: def.name === EVENTS_STREAM,
  };
}

/** Names of the fields whose value in `actual` differs from `wanted`. */
function differingFields(actual: Partial<StreamConfig>, wanted: Partial<StreamConfig>): string[] {
  const norm = (k: string, v: unknown): unknown => (k === 'subjects' && Array.isArray(v) ? [...v].sort().join(',') : k === 'allow_direct' ? v === true : v);
  return Object.keys(wanted).filter((k) => norm(k, (actual as Record<string, unknown>)[k]) !== norm(k, (wanted as Record<string, unknown>)[k]));
}

function isStreamNameInUse(err: unknown): boolean {
  return isJetStreamApiError(err, 10058, /stream name already in use/i);
}

/**
 * Makes the stream match its {@link StreamDefinition} as far as this connection's NATS user may:
 * reads it (`$JS.API.STREAM.INFO`, which every app may), creates it when missing, updates it only
 * when a configured field differs. Safe for every process to call at start: an app user, which
 * may not create or update streams, only checks that they exist (a differing configuration is
 * logged at warn and left to the admin identity).
 * @returns what was done.
 * @throws StreamMissingError when the stream does not exist and this user may not create it.
 * @throws JetStreamApiError when the server refuses the configuration (the admin identity).
 */
export async function ensureStream(jsm: JetStreamManager, def: StreamDefinition, opts: EnsureStreamOptions = {}): Promise<EnsureStreamOutcome> {
  const config = streamConfigOf(opts.replicas === undefined ? def : { ...def, replicas: opts.replicas });
  let actual: Partial<StreamConfig>;
  try {
    actual = (await jsm.streams.info(def.name)).config;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
      return 'created';
    } catch (addErr) {
      if (isPermissionViolation(addErr)) throw new StreamMissingError(def.name, addErr);
      if (!isStreamNameInUse(addErr)) throw addErr;
      actual = (await jsm.streams.info(def.name)).config; // another process created it meanwhile
    }
  }
  const differing = differingFields(actual, config);
  if (differing.length === 0) return 'unchanged';
  try {
    const { name: _name, ...changes } = config;
    await jsm.streams.update(def.name, changes);
    return 'updated';
  } catch (err) {
    if (!isPermissionViolation(err)) throw err;
    (opts.logger ?? pino({ name: 'nats', level: process.env.LOG_LEVEL ?? 'info' }))
      .warn({ stream: def.name, fields: differing }, `stream ${def.name} differs from its definition and this NATS user may not update it; run \`pnpm cli nats-streams\` with the admin/CLI identity`);
    return 'differs';
  }
}

/**
 * Ensures every stream the platform needs: EVENTS (the log), LEASES (claims), CHAT (room history),
 * TELEMETRY (player beacons) and the KV lease bucket `leases` (stream `KV_leases`, the
 * projections' leases, `ensureLeaseBucket`) — see {@link ensureStream}: created/updated by the admin
 * identity (the embedded stack's bootstrap, `pnpm cli nats-streams`), checked by the apps. A
 * transient failure (a cluster still forming, a late answer) is retried ({@link retryTransient}).
 * @returns what was done to each stream, by name.
 * @throws StreamMissingError when a stream is missing and this user may not create it.
 */
export async function ensureEventStreams(jsm: JetStreamManager, opts: EnsureStreamOptions = {}): Promise<Record<string, EnsureStreamOutcome>> {
  const out: Record<string, EnsureStreamOutcome> = {};
  const logger = opts.logger ?? pino({ name: 'nats', level: process.env.LOG_LEVEL ?? 'info' });
  for (const def of [EVENTS_STREAM_DEFINITION, LEASES_STREAM_DEFINITION, CHAT_STREAM_DEFINITION, TELEMETRY_STREAM_DEFINITION]) {
    out[def.name] = await retryTransient(() => ensureStream(jsm, def, opts), { what: `stream ${def.name}`, logger });
  }
  out[leaseBucketStream()] = await retryTransient(
    () => ensureLeaseBucket(jsm, { logger, ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }) }),
    { what: `stream ${leaseBucketStream()}`, logger },
  );
  return out;
}
