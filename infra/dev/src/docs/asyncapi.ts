/**
 * The published event API: an AsyncAPI 3.1 document (https://www.asyncapi.com/docs/reference/specification/v3.1.0)
 * generated from the event catalogue (`@live/events`): one message per event type with its
 * current version, its payload schema (the envelope with the type's `data` interface, turned
 * into JSON Schema by ts-json-schema-generator, doc comments included), and the subject families
 * it is stored under (`EVENT_SUBJECT_FAMILIES`) as channels with their parameters. Integrators
 * read the log with a NATS user the operator grants (`$JS.API.CONSUMER.*` on EVENTS).
 *
 * `pnpm asyncapi` writes it to `events/src/asyncapi.generated.ts` (served by the API at
 * `/docs/asyncapi.json`); the unit tests check that the file is current and that the document
 * validates with the AsyncAPI parser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGenerator, type Definition } from 'ts-json-schema-generator';
import { CURRENT_VERSION, EVENT_SUBJECT_FAMILIES, type EventSubjectFamily, type EventType } from '@live/events';

/** The repository's root directory. */
const REPO_ROOT = join(import.meta.dirname, '../../../..');

/** A JSON Schema object as ts-json-schema-generator writes it (draft-07). */
export type JsonSchema = Definition;

/** Where the generated document is written, from the repository root. */
export const ASYNCAPI_MODULE_PATH = 'events/src/asyncapi.generated.ts';

/** The catalogue's JSON Schemas ({@link catalogueSchemas}). */
export interface CatalogueSchemas {
  /** Every interface the event data refers to, and `EventMeta`, by name; references are `#/components/schemas/<name>`. */
  readonly schemas: Record<string, JsonSchema>;
  /** The schema name of each event type's `data` (`UserRoleGranted` → `UserRoleChangedV1`). */
  readonly dataSchemaOf: Record<string, string>;
}

/**
 * The JSON Schemas of the catalogue's types, from the TypeScript source of `@live/events`: the
 * `data` interface of each event type (as `EventDataByType` maps them) with every type it
 * refers to, and `EventMeta`. Takes a few seconds (a TypeScript program).
 * @throws the generator's error when a type cannot be turned into JSON Schema.
 * @throws TypeError when an entry of `EventDataByType` is not a named interface.
 */
export function catalogueSchemas(root = REPO_ROOT): CatalogueSchemas {
  const generator = createGenerator({
    path: join(root, 'events/src/index.ts'), tsconfig: join(root, 'events/tsconfig.json'),
    skipTypeCheck: true, expose: 'export', topRef: false, jsDoc: 'extended', additionalProperties: true,
  });
  const byType = generator.createSchema('EventDataByType');
  const { $schema: _s, definitions: _d, ...meta } = generator.createSchema('EventMeta');
  const dataSchemaOf: Record<string, string> = {};
  for (const [type, ref] of Object.entries(byType.properties ?? {})) {
    const target = typeof ref === 'object' ? ref.$ref : undefined;
    if (!target?.startsWith('#/definitions/')) throw new TypeError(`EventDataByType.${type} is not a named interface`);
    dataSchemaOf[type] = target.slice('#/definitions/'.length);
  }
  const schemas = { ...byType.definitions, EventMeta: meta } as Record<string, JsonSchema>;
  return { schemas: JSON.parse(JSON.stringify(schemas).replaceAll('"#/definitions/', '"#/components/schemas/')) as Record<string, JsonSchema>, dataSchemaOf };
}

/** A channel of the document: one subject family. */
interface FamilyChannel {
  readonly id: string;
  readonly address: string;
  readonly stream: 'EVENTS' | 'CHAT';
  readonly description: string;
  readonly parameters: Record<string, { description: string; enum?: string[] }>;
}

const FAMILY_CHANNELS: { readonly [F in EventSubjectFamily]: FamilyChannel } = {
  stream: {
    id: 'streamEvents', address: 'evt.stream.{channelId}', stream: 'EVENTS',
    description: 'The broadcast sessions of one channel: publish, transcode, renditions, VOD, failures, ingest health. Kept forever.',
    parameters: { channelId: { description: 'The channel (a subject token: [A-Za-z0-9_-], 1-128 characters).' } },
  },
  channel: {
    id: 'channelEvents', address: 'evt.channel.{channelId}', stream: 'EVENTS',
    description: 'The channel aggregate: creation, metadata, moderators, stream keys, playback policy, viewer counts, chat moderation. Kept forever.',
    parameters: { channelId: { description: 'The channel.' } },
  },
  user: {
    id: 'userEvents', address: 'evt.user.{userId}', stream: 'EVENTS',
    description: 'The user aggregate: registration, profile, password, roles, follows, notifications read. Kept forever.',
    parameters: { userId: { description: 'The user.' } },
  },
  claim: {
    id: 'claimEvents', address: 'evt.claim.{kind}.{digest}', stream: 'EVENTS',
    description: 'The guards that keep a username or an email unique: the last event of a subject says who holds the value.',
    parameters: { kind: { description: 'What is claimed.', enum: ['username', 'email'] }, digest: { description: 'Hex digest of the normalised value (16-64 characters).' } },
  },
  platform: {
    id: 'platformChatEvents', address: 'evt.platform.chat', stream: 'EVENTS',
    description: 'Platform-wide chat policy: the global banned-term list (its events carry channelId \'\').',
    parameters: {},
  },
  chat: {
    id: 'chatRooms', address: 'chat.{channelId}', stream: 'CHAT',
    description: "One chat room's accepted messages and deletion tombstones (the deletion's id is the deleted message's tombstone). Kept 24 h, at most the room's history length.",
    parameters: { channelId: { description: 'The channel whose room it is.' } },
  },
};

/** The payload schema of a `type` event: the envelope (envelope.ts) with `data` at `dataRef`. */
function envelopeSchema(type: EventType, dataRef: string): JsonSchema {
  return {
    type: 'object',
    description: `The envelope of a ${type} event (docs/architecture.md, "Event conventions"): \`data\` is version ${CURRENT_VERSION[type]} of its schema.`,
    required: ['id', 'type', 'version', 'occurredAt', 'subject', 'data', 'meta'],
    properties: {
      id: { type: 'string', description: 'UUIDv7 (RFC 9562), also the JetStream Nats-Msg-Id: a retried publish is stored once.' },
      type: { type: 'string', const: type },
      version: { type: 'integer', const: CURRENT_VERSION[type], description: 'Schema version of `data`, the one described here. The log is never rewritten: an event stored at an older version keeps it, and lacks the fields added since (the platform lifts it with an upcaster when it reads it, events/src/catalogue.ts).' },
      occurredAt: { type: 'string', format: 'date-time', description: 'ISO-8601 UTC with milliseconds.' },
      subject: { type: 'string', description: 'The subject the event is stored under.' },
      data: { $ref: dataRef },
      meta: { $ref: '#/components/schemas/EventMeta' },
    },
  };
}

/** Options of {@link renderAsyncApiDocument}. */
export interface AsyncApiOptions {
  /** `info.version` of the document, e.g. the platform's version. */
  readonly version: string;
}

/**
 * The AsyncAPI 3.1 document of the catalogue, from {@link catalogueSchemas}: one message per
 * event type (named as the type, in the catalogue's order), one channel and one `receive`
 * operation per subject family. Pure.
 * @throws TypeError when `catalogue` lacks the data schema of an event type.
 */
export function renderAsyncApiDocument(catalogue: CatalogueSchemas, opts: AsyncApiOptions): Record<string, unknown> {
  const types = Object.keys(CURRENT_VERSION) as EventType[];
  const messages: Record<string, unknown> = {};
  const componentSchemas: Record<string, unknown> = { ...catalogue.schemas };
  for (const type of types) {
    const data = catalogue.dataSchemaOf[type];
    if (!data || !catalogue.schemas[data]) throw new TypeError(`no data schema for ${type}`);
    componentSchemas[type] = envelopeSchema(type, `#/components/schemas/${data}`);
    messages[type] = {
      name: type,
      title: `${type} v${CURRENT_VERSION[type]}`,
      contentType: 'application/json',
      headers: { type: 'object', properties: { 'Nats-Msg-Id': { type: 'string', description: 'The event id (JetStream deduplication).' } } },
      payload: { $ref: `#/components/schemas/${type}` },
    };
  }
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const [family, c] of Object.entries(FAMILY_CHANNELS) as Array<[EventSubjectFamily, FamilyChannel]>) {
    const members = types.filter((t) => EVENT_SUBJECT_FAMILIES[t].includes(family));
    channels[c.id] = {
      address: c.address,
      description: `${c.description} JetStream stream ${c.stream}.`,
      ...(Object.keys(c.parameters).length > 0 ? { parameters: c.parameters } : {}),
      messages: Object.fromEntries(members.map((t) => [t, { $ref: `#/components/messages/${t}` }])),
    };
    operations[`receive${c.id[0]!.toUpperCase()}${c.id.slice(1)}`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${c.id}` },
      summary: `Read ${c.address} from the ${c.stream} stream (a JetStream consumer with that filter subject).`,
      messages: members.map((t) => ({ $ref: `#/channels/${c.id}/messages/${t}` })),
    };
  }
  return {
    asyncapi: '3.1.0',
    info: {
      title: 'Live platform events',
      version: opts.version,
      description: 'The domain events of the platform as stored in NATS JetStream: every fact about streams, channels, users and chat. Events are immutable and versioned; consumers read them in stream order with a durable or ordered consumer and must be idempotent (an event may be delivered again). Field names and meanings follow `events/src` of the repository.',
    },
    defaultContentType: 'application/json',
    servers: {
      nats: { host: 'localhost:4222', protocol: 'nats', description: 'The platform\'s nats-server (or cluster): use the URL and credentials the operator grants.' },
    },
    channels,
    operations,
    components: { messages, schemas: componentSchemas },
  };
}

/** The TypeScript module that holds `doc` (what `pnpm asyncapi` writes to {@link ASYNCAPI_MODULE_PATH}). */
export function renderAsyncApiModule(doc: Record<string, unknown>): string {
  return [
    '// Generated by `pnpm asyncapi` from the event catalogue (infra/dev/src/docs/asyncapi.ts): do not edit.',
    '/** The AsyncAPI 3.1 document of the domain events (served by the API at `/docs/asyncapi.json`). */',
    `export const ASYNCAPI_DOCUMENT: Readonly<Record<string, unknown>> = ${JSON.stringify(doc, null, 2)};`,
    '',
  ].join('\n');
}

/**
 * The text of {@link ASYNCAPI_MODULE_PATH} as the catalogue says it should be now: the document
 * of {@link catalogueSchemas} with `info.version` the version of `@live/events`.
 */
export function asyncApiModuleText(root = REPO_ROOT): string {
  const { version } = JSON.parse(readFileSync(join(root, 'events/package.json'), 'utf8')) as { version: string };
  return renderAsyncApiModule(renderAsyncApiDocument(catalogueSchemas(root), { version }));
}
