/**
 * Reports of chat messages: one report per message and reporter. Pure; no I/O.
 *
 * A report's event id (`ChatMessageReported`, also the moderation-queue item's id) is derived
 * from the room, the message and the reporter instead of drawn at random, so the same user
 * reporting the same message again produces the same id everywhere: JetStream drops the second
 * append inside the EVENTS duplicate window (`Nats-Msg-Id`, the ack says `duplicate`), and the
 * read-model projection, which inserts queue items `on conflict (id) do nothing`, never makes a
 * second item — whichever gateway the reports come through, however close together.
 */
import { createHash } from 'node:crypto';
import { UUID_V7_PATTERN, formatUuidV7, uuidV7Time } from '@live/events';

/**
 * The id of `reporterUserId`'s report of `messageId` in `channelId`: a UUIDv7 (the platform's
 * event-id format) whose time is the reported message's (its id is a UUIDv7; 0 otherwise) and
 * whose 74 "random" bits are SHA-256 of the three ids. Deterministic: equal inputs, equal ids.
 */
export function reportIdOf(channelId: string, messageId: string, reporterUserId: string): string {
  const digest = createHash('sha256').update(JSON.stringify(['chat-report', channelId, messageId, reporterUserId])).digest();
  const time = UUID_V7_PATTERN.test(messageId) ? uuidV7Time(messageId) : 0;
  return formatUuidV7(time, digest.subarray(0, 10));
}
