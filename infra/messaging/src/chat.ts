/**
 * The CHAT stream's room histories (created by `ensureEventStreams`): append, delete with a
 * tombstone, read back.
 */
import {
  CHAT_STREAM, chatSubject, decodeChatRecord, type ChatLine, type EventOf,
} from '@live/events';

export { decodeChatRecord, type ChatRecord } from '@live/events';
import type { Messaging } from './connection.js';
import { appendEvent, type AppendResult } from './publish.js';

/** The member-facing form of an accepted message stored at `seq`. */
export function chatLineOf(seq: number, event: EventOf<'ChatMessageAccepted'>): ChatLine {
  const d = event.data;
  return { id: event.id, seq, kind: d.kind, userId: d.userId, username: d.username, text: d.text, at: event.occurredAt };
}

/**
 * Appends an accepted message to its room (`chat.<channelId>` of CHAT, `Nats-Msg-Id` = message
 * id, so a retried append is stored once).
 * @throws TypeError when `event.subject` is not the room's subject.
 * @throws the nats.js error when JetStream does not answer.
 */
export async function appendChatMessage(m: Messaging, event: EventOf<'ChatMessageAccepted'>): Promise<AppendResult> {
  if (event.subject !== chatSubject(event.data.channelId)) throw new TypeError(`a chat message belongs on ${chatSubject(event.data.channelId)}`);
  return appendEvent(m.js, event);
}

/**
 * Deletes a message: appends the deletion to EVENTS (its `subject`, `evt.channel.<id>`: the
 * audit record, kept forever), then the same event (same id) as a tombstone to the room's CHAT
 * subject so that every gateway and the history drop the message, then erases the original
 * from CHAT storage (JetStream secure delete), so its text is gone from the log too.
 * Retrying after a failure is safe: both appends are deduplicated by id and an already-erased
 * message is not an error.
 * @throws the nats.js error when JetStream does not answer.
 */
export async function deleteChatMessage(m: Messaging, event: EventOf<'ChatMessageDeleted'>): Promise<void> {
  await appendEvent(m.js, event);
  await appendEvent(m.js, { ...event, subject: chatSubject(event.data.channelId) });
  try {
    await m.jsm.streams.deleteMessage(CHAT_STREAM, event.data.messageSeq, true);
  } catch (err) {
    if (!/no message found|not found/i.test((err as Error)?.message ?? '')) throw err;
  }
}

/**
 * Every message still stored for a room (at most `CHAT_HISTORY_PER_ROOM`, at most 24 h old),
 * oldest first, with tombstones applied (a deleted message is left out). Reads with an
 * ephemeral ordered consumer filtered on the room's subject.
 * @throws the nats.js error when JetStream does not answer.
 */
export async function readChatHistory(m: Messaging, channelId: string): Promise<ChatLine[]> {
  const consumer = await m.js.consumers.get(CHAT_STREAM, { filter_subjects: chatSubject(channelId) });
  const info = await consumer.info(true);
  const lines = new Map<string, ChatLine>();
  if (info.num_pending > 0) {
    const messages = await consumer.consume();
    for await (const msg of messages) {
      const r = decodeChatRecord(msg.seq, (() => { try { return msg.json(); } catch { return null; } })());
      if (r?.event.type === 'ChatMessageAccepted') lines.set(r.event.id, chatLineOf(r.seq, r.event));
      else if (r?.event.type === 'ChatMessageDeleted') lines.delete(r.event.data.messageId);
      if (msg.info.pending === 0) break;
    }
    await messages.close().catch(() => undefined);
  }
  return [...lines.values()].sort((a, b) => a.seq - b.seq);
}
