import { makeEnvelope, type EventClock, type EventEnvelope, type EventMeta } from './envelope.js';
import { CURRENT_VERSION, type EventDataByType, type EventType } from './catalogue.js';
import { streamSubject } from './subjects.js';

/**
 * Builds a current-version stream lifecycle event stored under `evt.stream.<channelId>`,
 * with the session id as correlation id.
 * @param clock time and randomness (Node: `nodeClock`; workflows: the sandbox's deterministic ones).
 * @throws TypeError when `data.channelId` is not a valid subject token.
 */
export function streamEvent<K extends EventType>(
  clock: EventClock,
  type: K,
  data: EventDataByType[K],
  meta: { producer: string; causationId?: string | null },
): EventEnvelope<K, EventDataByType[K]> {
  const m: EventMeta = { correlationId: data.sessionId, causationId: meta.causationId ?? null, producer: meta.producer };
  return makeEnvelope(clock, { type, version: CURRENT_VERSION[type], subject: streamSubject(data.channelId), data, meta: m });
}
