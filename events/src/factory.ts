import { makeEnvelope, type EventClock, type EventEnvelope, type EventMeta } from './envelope.js';
import { CURRENT_VERSION, type EventDataByType, type EventType } from './catalogue.js';
import { streamSubject } from './subjects.js';

/** Event types of a broadcast session (their data carries `channelId` and `sessionId`). */
export type StreamEventType = { [K in EventType]: EventDataByType[K] extends { readonly channelId: string; readonly sessionId: string } ? K : never }[EventType];

/**
 * Builds a current-version stream lifecycle event stored under `evt.stream.<channelId>`,
 * with the session id as correlation id.
 * @param clock time and randomness (Node: `nodeClock`; workflows: the sandbox's deterministic ones).
 * @throws TypeError when `data.channelId` is not a valid subject token.
 */
export function streamEvent<K extends StreamEventType>(
  clock: EventClock,
  type: K,
  data: EventDataByType[K],
  meta: { producer: string; causationId?: string | null },
): EventEnvelope<K, EventDataByType[K]> {
  const d = data as { channelId: string; sessionId: string };
  const m: EventMeta = { correlationId: d.sessionId, causationId: meta.causationId ?? null, producer: meta.producer };
  return makeEnvelope(clock, { type, version: CURRENT_VERSION[type], subject: streamSubject(d.channelId), data, meta: m });
}

/**
 * Builds a current-version event of any catalogue type on an explicit subject (built with the
 * subject functions of subjects.ts). `correlationId` defaults to the new event's own id.
 */
export function domainEvent<K extends EventType>(
  clock: EventClock,
  type: K,
  subject: string,
  data: EventDataByType[K],
  meta: { producer: string; causationId?: string | null; correlationId?: string },
): EventEnvelope<K, EventDataByType[K]> {
  const env = makeEnvelope(clock, { type, version: CURRENT_VERSION[type], subject, data, meta: { correlationId: '', causationId: meta.causationId ?? null, producer: meta.producer } });
  return { ...env, meta: { ...env.meta, correlationId: meta.correlationId ?? env.id } };
}
