/**
 * The published event API (`events/src/asyncapi.generated.ts`, `pnpm asyncapi` writes it): it is
 * what the catalogue says now, the AsyncAPI parser accepts it without errors, it lists every event
 * type of the catalogue on the channels `EVENT_SUBJECT_FAMILIES` names, and events built by the
 * platform's own factories validate against their message's payload schema.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { Ajv } from 'ajv';
import { ASYNCAPI_DOCUMENT } from '@live/events/asyncapi';
import { channelSubject, CURRENT_VERSION, domainEvent, EVENT_SUBJECT_FAMILIES, streamEvent, subjectFamilyOf, systemClock, userSubject, type DomainEvent } from '@live/events';
import { ASYNCAPI_MODULE_PATH, asyncApiModuleText } from '../src/docs/asyncapi.js';

const root = join(import.meta.dirname, '../../..');
const types = Object.keys(CURRENT_VERSION);
let parsed: AsyncAPIDocumentInterface;

beforeAll(async () => {
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(ASYNCAPI_DOCUMENT));
  const errors = diagnostics.filter((d) => d.severity === 0);
  expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
  parsed = document!;
}, 60_000);

describe('the AsyncAPI document of the events', () => {
  it('is what the catalogue says now', () => {
    // On failure: run `pnpm asyncapi` and commit events/src/asyncapi.generated.ts.
    expect(asyncApiModuleText() === readFileSync(join(root, ASYNCAPI_MODULE_PATH), 'utf8')).toBe(true);
  }, 60_000);

  it('lists every event type of the catalogue with its current version', () => {
    const messages = parsed.allMessages().all();
    expect(messages.map((m) => m.name()).sort()).toEqual([...types].sort());
    for (const m of messages) expect(m.title()).toBe(`${m.name()} v${CURRENT_VERSION[m.name() as keyof typeof CURRENT_VERSION]}`);
  });

  it('puts each event type on the channels of its subject families', () => {
    const families: Record<string, string> = { 'evt.stream.{channelId}': 'stream', 'evt.channel.{channelId}': 'channel', 'evt.user.{userId}': 'user', 'evt.claim.{kind}.{digest}': 'claim', 'evt.platform.chat': 'platform', 'chat.{channelId}': 'chat' };
    const onChannels = new Map<string, string[]>();
    for (const c of parsed.channels().all()) {
      const family = families[c.address() ?? ''];
      expect(family, c.address() ?? '').toBeDefined();
      for (const m of c.messages().all()) onChannels.set(m.name()!, [...(onChannels.get(m.name()!) ?? []), family!]);
    }
    for (const t of types) expect(onChannels.get(t)?.sort(), t).toEqual([...EVENT_SUBJECT_FAMILIES[t as keyof typeof EVENT_SUBJECT_FAMILIES]].sort());
    expect(parsed.operations().all().every((o) => o.action() === 'receive')).toBe(true);
  });

  it('describes events as the factories build them, and refuses a malformed one', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    ajv.addSchema({ components: (ASYNCAPI_DOCUMENT as { components: unknown }).components }, 'doc');
    const validate = (e: DomainEvent) => ajv.validate({ $ref: `doc#/components/schemas/${e.type}` }, JSON.parse(JSON.stringify(e)));
    const events: DomainEvent[] = [
      streamEvent(systemClock, 'StreamPublishStarted', { channelId: 'c1', sessionId: 's1', ingestNodeId: 'n1', relayUrl: 'http://x/relay/s1.flv', app: 'live', source: { video: { codec: 'avc1', width: 1920, height: 1080 } } }, { producer: 'test' }) as DomainEvent,
      domainEvent(systemClock, 'ChannelFollowed', userSubject('u1'), { userId: 'u1', channelId: 'c1' }, { producer: 'test' }) as DomainEvent,
      domainEvent(systemClock, 'ChannelPlaybackPolicyChanged', channelSubject('c1'), { channelId: 'c1', visibility: 'public', allowList: [], encryption: { enabled: true, rotateEverySegments: 3 }, actorUserId: null, bindAddress: false }, { producer: 'test' }) as DomainEvent,
    ];
    for (const e of events) {
      expect(validate(e), `${e.type}: ${ajv.errorsText()}`).toBe(true);
      expect(EVENT_SUBJECT_FAMILIES[e.type]).toContain(subjectFamilyOf(e.subject));
    }
    expect(validate({ ...events[0]!, data: { channelId: 'c1' } } as unknown as DomainEvent)).toBe(false);
    expect(validate({ ...events[1]!, version: 2 } as unknown as DomainEvent)).toBe(false);
  });
});
