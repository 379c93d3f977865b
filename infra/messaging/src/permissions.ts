/**
 * Who may publish and subscribe what on NATS: the platform's per-service permissions as data,
 * and the nats-server `authorization { users = [...] }` block that enforces them.
 *
 * Follows the nats-server configuration docs, "Authorization" (users with `publish`/`subscribe`
 * `allow`/`deny` subject lists; `deny` wins over `allow`) and the JetStream API subject reference
 * (`$JS.API.…`, "JetStream wire API reference"), restricted to what nats-server 2.9 understands.
 *
 * Derived from what each app really does (grep `appendEvent`, `publish(`, `subscribe(`,
 * `runDurableConsumer`, `followSubject`, `readChatHistory`, `createLeaseStore`, `lastSubjectMessage`
 * in apps/ and infra/messaging):
 *
 * | service   | appends (JetStream)                                          | reads                                                                 | core NATS                                   |
 * |-----------|--------------------------------------------------------------|-----------------------------------------------------------------------|---------------------------------------------|
 * | ingest    | `evt.stream.*`, leases `lease.publish.*`                     | ordered consumers on EVENTS `evt.channel.*`, `evt.stream.*`; LEASES   | request/reply `ingest.handover.*` (replies to its own inbox) |
 * | worker    | `evt.stream.*`                                               | durable `lifecycle` on EVENTS `evt.stream.*`                          | pub `media.*` (packager announcements)      |
 * | api       | `evt.user.*`, `evt.channel.*`, `evt.claim.>`, `evt.stream.*`, `evt.platform.chat`, `chat.*`, `tel.*` | last message of `evt.claim.…` (direct get), CHAT history and messages | sub `notify.user.*` |
 * | chat      | `evt.channel.*`, `chat.*`                                    | ordered consumers on CHAT `chat.*`                                    | pub `presence.chat.*`; sub `evt.channel.*`, `evt.stream.*`, `evt.platform.chat` |
 * | projector | `evt.channel.*` (viewer counts), leases in the KV bucket `leases` | durables on EVENTS `evt.>` (password hashes included), TELEMETRY, CHAT | pub `notify.user.*`; sub `presence.chat.*`, `evt.stream.*` |
 * | edge      | —                                                            | — (`$JS.API.INFO` only: the client's account check at connect)       | sub `media.*` (live parts and playlists)    |
 * | cli       | — (operator: streams, replays)                               | the whole JetStream API                                               | —                                           |
 * | bootstrap | everything (creates streams, seeds the demo channel, tests)  | everything                                                            | everything                                  |
 *
 * The edge reads PostgreSQL and object storage, and subscribes to the packager's media
 * announcements (`media.<sessionId>`, core NATS) of the sessions its viewers watch.
 *
 * Rules enforced here:
 * - an app publishes only its own event subjects (ingest: `evt.stream.*`, never `evt.user.*`);
 * - only the projector, the CLI and the bootstrap identity can read `evt.user.*` (UserRegistered
 *   and UserPasswordChanged carry password hashes): no other identity may subscribe to it, create
 *   a consumer whose filter covers it (consumers are created through
 *   `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`, which nats-server ≥ 2.9 checks against the
 *   configured filter, so the permission is on the filter), read a stream message by sequence
 *   (`$JS.API.STREAM.MSG.GET.<stream>`, `$JS.API.DIRECT.GET.<stream>` with a body are never
 *   granted on EVENTS), or pull from the projector's durables (denied by name);
 * - only the bootstrap identity and the CLI may create, update, purge or delete streams; apps get
 *   `$JS.API.STREAM.INFO.<stream>` only (see `ensureEventStreams`);
 * - every identity receives replies on its own inbox prefix (`_INBOX_<user>`, nats.js `inboxPrefix`),
 *   and may subscribe to nothing else of the inbox space, so it cannot read another's replies
 *   (JetStream deliveries of pull consumers arrive on those inboxes).
 */
import bcrypt from 'bcryptjs';
import {
  ALL_CHANNEL_SUBJECTS, ALL_CHAT_PRESENCE_SUBJECTS, ALL_MEDIA_SUBJECTS, ALL_STREAM_SUBJECTS, CHAT_POLICY_SUBJECT, CHAT_STREAM, EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX, LEASES_STREAM, TELEMETRY_STREAM, ALL_INGEST_HANDOVER_SUBJECTS,
} from '@live/events';
import { LEASE_BUCKET, leaseBucketStream } from './kv-lease.js';

/** The NATS identities of the platform: one per app that connects, plus the CLI and the admin (`bootstrap`). */
export type NatsService = 'ingest' | 'worker' | 'api' | 'chat' | 'projector' | 'edge' | 'cli' | 'bootstrap';

/** Every {@link NatsService}, in a stable order (the order of the rendered users). */
export const NATS_SERVICES: readonly NatsService[] = ['ingest', 'worker', 'api', 'chat', 'projector', 'edge', 'cli', 'bootstrap'];

/** Subjects one direction (publish or subscribe) allows, minus the denied ones (`deny` wins). */
export interface SubjectPermission {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** A NATS user's permissions (nats-server config `permissions { publish {…} subscribe {…} }`). */
export interface NatsPermissions {
  readonly publish: SubjectPermission;
  readonly subscribe: SubjectPermission;
}

/** A user's name and password, as the embedded stack hands them to an app (`NATS_USER`, `NATS_PASSWORD`). */
export interface NatsCredential {
  readonly user: string;
  readonly password: string;
}

/** Credentials per identity; an identity without an entry gets no user. */
export type NatsCredentials = Partial<Record<NatsService, NatsCredential>>;

/** One user of the rendered `authorization` block. */
export interface NatsUserEntry {
  /** User name: letters, digits, `_`, `-` (it also names the inbox prefix, see {@link inboxPrefixFor}). */
  readonly user: string;
  /** The plain password; {@link renderNatsAuthorization} writes its bcrypt hash unless told otherwise. */
  readonly password: string;
  readonly permissions: NatsPermissions;
}

/**
 * Durable consumers of the platform, by stream: the only consumers that do not belong to the
 * identity that pulls from an ordered (randomly named) consumer. Names as the apps define them:
 * `READ_MODELS_CONSUMER` (`projector-` + `READ_MODELS_PROJECTION`, apps/projector/src/projector.ts),
 * `ANALYTICS_DURABLE_PREFIX` + `-events`/`-telemetry`/`-chat` (apps/projector/src/analytics.ts),
 * `WEBHOOKS_DURABLE` (apps/projector/src/webhooks.ts),
 * `LIFECYCLE_CONSUMER` (apps/worker/src/lifecycle.ts). Identities that may use consumers of any
 * name on a stream are denied these (pulling, acknowledging, re-creating or deleting them would
 * read their messages or make their owner miss some).
 */
export const PLATFORM_DURABLES: Readonly<Record<string, ReadonlyArray<{ readonly name: string; readonly owner: NatsService }>>> = {
  [EVENTS_STREAM]: [
    { name: 'projector-readmodels', owner: 'projector' },
    { name: 'analytics-events', owner: 'projector' },
    { name: 'webhooks', owner: 'projector' },
    { name: 'lifecycle', owner: 'worker' },
  ],
  [TELEMETRY_STREAM]: [{ name: 'analytics-telemetry', owner: 'projector' }],
  [CHAT_STREAM]: [{ name: 'analytics-chat', owner: 'projector' }],
};

/** The streams every app checks at start (`ensureEventStreams`), the lease bucket's included. */
const ALL_STREAMS = [EVENTS_STREAM, LEASES_STREAM, CHAT_STREAM, TELEMETRY_STREAM, leaseBucketStream()] as const;

const USER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The inbox prefix of a user: `_INBOX_<user>`. Every reply to that user's requests (JetStream API
 * answers, publish acks, pull-consumer deliveries) arrives under it, and its permissions allow
 * subscribing to `_INBOX_<user>.>` only. `connectMessaging` sets it (nats.js `inboxPrefix`).
 * @throws TypeError when `user` is not 1..64 of [A-Za-z0-9_-] (it must be one subject token).
 */
export function inboxPrefixFor(user: string): string {
  if (!USER_NAME.test(user)) throw new TypeError(`NATS user name must be 1..64 of [A-Za-z0-9_-], got ${JSON.stringify(user)}`);
  return `_INBOX_${user}`;
}

const api = (rest: string): string => `$JS.API.${rest}`;

/** Builder of one identity's lists. */
class Perms {
  readonly pub = new Set<string>();
  readonly pubDeny = new Set<string>();
  readonly sub = new Set<string>();
  readonly subDeny = new Set<string>();

  constructor(readonly service: NatsService) {}

  publish(...subjects: string[]): this {
    for (const s of subjects) this.pub.add(s);
    return this;
  }

  subscribe(...subjects: string[]): this {
    for (const s of subjects) this.sub.add(s);
    return this;
  }

  /** `$JS.API.INFO` (nats.js `jetstreamManager()` checks the account) and `STREAM.INFO` of every platform stream. */
  streamInfo(): this {
    this.publish(api('INFO'), ...ALL_STREAMS.map((s) => api(`STREAM.INFO.${s}`)));
    return this;
  }

  /**
   * Consumers of any name on `stream` whose filter is within `filter` (ordered consumers of
   * `followSubject`, `readEvents`, `readChatHistory` have random names): create with that
   * filter, info, pull, delete. Durables of other identities are denied by name.
   */
  anyConsumer(stream: string, ...filters: string[]): this {
    for (const f of filters) this.publish(api(`CONSUMER.CREATE.${stream}.*.${f}`));
    this.publish(api(`CONSUMER.INFO.${stream}.*`), api(`CONSUMER.MSG.NEXT.${stream}.*`), api(`CONSUMER.DELETE.${stream}.*`));
    for (const d of PLATFORM_DURABLES[stream] ?? []) {
      if (d.owner === this.service) continue;
      this.pubDeny.add(api(`CONSUMER.CREATE.${stream}.${d.name}.>`));
      this.pubDeny.add(api(`CONSUMER.MSG.NEXT.${stream}.${d.name}`));
      this.pubDeny.add(api(`CONSUMER.DELETE.${stream}.${d.name}`));
      this.pubDeny.add(`$JS.ACK.${stream}.${d.name}.>`);
    }
    return this;
  }

  /** One named durable pull consumer with explicit acks (`runDurableConsumer`): create/update, info, pull, ack. */
  durable(stream: string, name: string, filter: string): this {
    return this.publish(
      api(`CONSUMER.CREATE.${stream}.${name}.${filter}`), api(`CONSUMER.INFO.${stream}.${name}`),
      api(`CONSUMER.MSG.NEXT.${stream}.${name}`), `$JS.ACK.${stream}.${name}.>`,
    );
  }

  /** Lease reads (`createLeaseStore`: last message of a LEASES subject) and writes on `subjects`. */
  leases(...subjects: string[]): this {
    return this.publish(api(`STREAM.MSG.GET.${LEASES_STREAM}`), ...subjects);
  }

  /**
   * Leases in the KV bucket `bucket` (`runUnderLease`): write its keys (`$KV.<bucket>.>`: create,
   * update, delete), read one (`STREAM.MSG.GET`), watch one (an ordered push consumer filtered on
   * the bucket's keys: create, info, delete, flow-control replies). Nothing of other buckets.
   */
  kvLeases(bucket: string): this {
    const stream = `KV_${bucket}`;
    return this.publish(
      `$KV.${bucket}.>`, api(`STREAM.MSG.GET.${stream}`), api(`CONSUMER.CREATE.${stream}.*.$KV.${bucket}.>`),
      api(`CONSUMER.INFO.${stream}.*`), api(`CONSUMER.DELETE.${stream}.*`), `$JS.FC.${stream}.>`,
    );
  }

  build(inboxPrefix: string): NatsPermissions {
    const sub = new Set(this.sub);
    if (!sub.has('>')) sub.add(`${inboxPrefix}.>`);
    return {
      publish: { allow: [...this.pub], deny: [...this.pubDeny] },
      subscribe: { allow: [...sub], deny: [...this.subDeny] },
    };
  }
}

const EVT = EVENTS_SUBJECT_PREFIX;

/**
 * The permissions of one identity (see the table in this module's header).
 * @param opts.inboxPrefix the identity's inbox prefix; default {@link inboxPrefixFor}(`service`).
 * @returns fresh arrays; `deny` entries win over `allow` (nats-server semantics).
 */
export function servicePermissions(service: NatsService, opts: { inboxPrefix?: string } = {}): NatsPermissions {
  const p = new Perms(service);
  switch (service) {
    case 'ingest':
      // StreamPublishStarted/Ended and health reports; the publish lease; key/stop control events;
      // lease handover between ingest nodes (core request/reply: the nodes share this identity,
      // so a reply goes to this identity's own inbox prefix).
      p.streamInfo()
        .publish(ALL_STREAM_SUBJECTS)
        .leases('lease.publish.*')
        .anyConsumer(EVENTS_STREAM, ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS)
        .publish(ALL_INGEST_HANDOVER_SUBJECTS, `${opts.inboxPrefix ?? inboxPrefixFor(service)}.>`)
        .subscribe(ALL_INGEST_HANDOVER_SUBJECTS);
      break;
    case 'worker':
      // Transcode and VOD events; the lifecycle consumer that starts the workflows; the
      // packager's announcements of parts, segments and playlists (core NATS).
      p.streamInfo()
        .publish(ALL_STREAM_SUBJECTS, ALL_MEDIA_SUBJECTS)
        .durable(EVENTS_STREAM, 'lifecycle', ALL_STREAM_SUBJECTS);
      break;
    case 'edge':
      // Media announcements of the sessions it serves; `$JS.API.INFO` is the JetStream account
      // check `connectMessaging` makes at connect. Nothing else: no stream, no event subject.
      p.publish(api('INFO')).subscribe(ALL_MEDIA_SUBJECTS);
      break;
    case 'api':
      // Commands: accounts (evt.user), channels, unique-value claims, stop requests, chat policy,
      // chat messages, beacons. Reads: claim subjects' last event (direct get by subject: the
      // subject is part of the request subject, so it can be permitted per subject), chat history.
      p.streamInfo()
        .publish(`${EVT}.user.*`, ALL_CHANNEL_SUBJECTS, `${EVT}.claim.>`, ALL_STREAM_SUBJECTS, CHAT_POLICY_SUBJECT, 'chat.*', 'tel.*')
        .publish(api(`DIRECT.GET.${EVENTS_STREAM}.${EVT}.claim.>`))
        .publish(api(`STREAM.MSG.GET.${CHAT_STREAM}`), api(`STREAM.MSG.DELETE.${CHAT_STREAM}`))
        .anyConsumer(CHAT_STREAM, 'chat.*')
        .subscribe('notify.user.*');
      break;
    case 'chat':
      // Messages, tombstones and secure erase on CHAT; moderation events; presence reports;
      // the rooms' rule changes as core NATS (the JetStream subjects seen by core subscribers).
      p.streamInfo()
        .publish('chat.*', ALL_CHANNEL_SUBJECTS, ALL_CHAT_PRESENCE_SUBJECTS)
        .publish(api(`STREAM.MSG.DELETE.${CHAT_STREAM}`))
        .anyConsumer(CHAT_STREAM, 'chat.*')
        .subscribe(ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS, CHAT_POLICY_SUBJECT);
      break;
    case 'projector':
      // Read models (every event, password hashes included), analytics (EVENTS, TELEMETRY, CHAT),
      // notifications, presence → viewer counts; each projection under its lease in the KV bucket.
      p.streamInfo()
        .publish(ALL_CHANNEL_SUBJECTS, 'notify.user.*')
        .kvLeases(LEASE_BUCKET)
        .anyConsumer(EVENTS_STREAM, `${EVT}.>`)
        .anyConsumer(TELEMETRY_STREAM, 'tel.*')
        .anyConsumer(CHAT_STREAM, 'chat.*')
        .publish(`$JS.ACK.${EVENTS_STREAM}.>`, `$JS.ACK.${TELEMETRY_STREAM}.>`, `$JS.ACK.${CHAT_STREAM}.>`)
        .subscribe(ALL_CHAT_PRESENCE_SUBJECTS, ALL_STREAM_SUBJECTS);
      break;
    case 'cli':
      // The operator's tool: replays, history, stream creation and updates. Appends nothing.
      p.publish(api('>'));
      break;
    case 'bootstrap':
      p.publish('>').subscribe('>');
      break;
  }
  return p.build(opts.inboxPrefix ?? inboxPrefixFor(service));
}

/**
 * Whether NATS subject `pattern` (tokens separated by `.`, `*` = any one token, a final `>` =
 * one or more tokens) matches `subject`. As nats-server matches permissions, a token of
 * `subject` is taken literally: a `*` or `>` in it is only matched by a wildcard of `pattern`.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Whether `permission` lets `subject` through: an `allow` pattern matches it and no `deny` pattern does. */
export function isSubjectAllowed(permission: SubjectPermission, subject: string): boolean {
  return permission.allow.some((a) => subjectMatches(a, subject)) && !permission.deny.some((d) => subjectMatches(d, subject));
}

/**
 * The users of an `authorization` block for the given credentials: each identity with a
 * credential gets its {@link servicePermissions}, with the inbox prefix of its user name.
 * @throws TypeError when a user name is not a valid token or two identities share a user name.
 */
export function natsUsersFor(credentials: NatsCredentials): NatsUserEntry[] {
  const seen = new Set<string>();
  const out: NatsUserEntry[] = [];
  for (const service of NATS_SERVICES) {
    const c = credentials[service];
    if (!c) continue;
    if (seen.has(c.user)) throw new TypeError(`NATS user ${JSON.stringify(c.user)} is given to two identities`);
    seen.add(c.user);
    out.push({ user: c.user, password: c.password, permissions: servicePermissions(service, { inboxPrefix: inboxPrefixFor(c.user) }) });
  }
  return out;
}

/** Options of {@link renderNatsAuthorization}. */
export interface RenderAuthorizationOptions {
  /**
   * Write bcrypt hashes of the passwords (default true; nats-server compares a `$2…` password
   * with bcrypt). False writes the plain passwords (only for debugging: the file then holds them).
   */
  readonly hashPasswords?: boolean;
  /** bcrypt cost (log2 rounds), 4..31; default 11 (what `nats server passwd` uses). */
  readonly bcryptCost?: number;
  /** A comment line put above the block (e.g. where it came from). */
  readonly comment?: string;
}

/** A double-quoted nats-server config string. */
function quoted(s: string): string {
  if (/["\\\r\n\t\u0000-\u001f]/.test(s)) throw new TypeError(`cannot write ${JSON.stringify(s)} into a nats-server config string`);
  return `"${s}"`;
}

function list(items: readonly string[]): string {
  return `[${items.map(quoted).join(', ')}]`;
}

function direction(name: 'publish' | 'subscribe', p: SubjectPermission): string[] {
  return [
    `        ${name} {`,
    `          allow: ${list(p.allow)}`,
    ...(p.deny.length > 0 ? [`          deny: ${list(p.deny)}`] : []),
    '        }',
  ];
}

/**
 * Renders the nats-server `authorization { users = [ … ] }` block (nats-server config docs,
 * "Authorization", "Permissions") for `users`: user name, password (bcrypt hash by default) and
 * publish/subscribe allow and deny lists. There is no `no_auth_user`: a server with this block
 * refuses connections without credentials. Include it in a server config (or pass it with `-c`).
 * @returns the block, ending with a newline.
 * @throws TypeError when a user name is invalid or duplicated, a password is empty or holds a
 *   character a config string cannot (quote, backslash, control), or a subject holds one.
 * @throws RangeError when `bcryptCost` is outside 4..31.
 */
export async function renderNatsAuthorization(users: readonly NatsUserEntry[], opts: RenderAuthorizationOptions = {}): Promise<string> {
  const cost = opts.bcryptCost ?? 11;
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError(`bcryptCost must be an integer in 4..31, got ${cost}`);
  const hash = opts.hashPasswords ?? true;
  const names = new Set<string>();
  const blocks: string[] = [];
  for (const u of users) {
    inboxPrefixFor(u.user); // validates the name
    if (names.has(u.user)) throw new TypeError(`NATS user ${JSON.stringify(u.user)} appears twice`);
    names.add(u.user);
    if (u.password === '') throw new TypeError(`NATS user ${u.user} has an empty password`);
    quoted(u.password);
    const password = hash ? await bcrypt.hash(u.password, cost) : u.password;
    blocks.push([
      '    {',
      `      user: ${quoted(u.user)}`,
      `      password: ${quoted(password)}`,
      '      permissions {',
      ...direction('publish', u.permissions.publish),
      ...direction('subscribe', u.permissions.subscribe),
      '      }',
      '    }',
    ].join('\n'));
  }
  const head = opts.comment ? `${opts.comment.split('\n').map((l) => `# ${l}`).join('\n')}\n` : '';
  return `${head}authorization {\n  users = [\n${blocks.join('\n')}\n  ]\n}\n`;
}

/**
 * {@link renderNatsAuthorization} of {@link natsUsersFor}(`credentials`): the block for the
 * platform's identities. The same function the embedded stack uses and `pnpm cli nats-config` prints.
 * @throws as {@link natsUsersFor} and {@link renderNatsAuthorization}.
 */
export async function renderPlatformAuthorization(credentials: NatsCredentials, opts: RenderAuthorizationOptions = {}): Promise<string> {
  return renderNatsAuthorization(natsUsersFor(credentials), opts);
}
