/** Channel fixtures and event reads shared by the ingest integration tests. */
import { ensureChannelWithKey, generateStreamKey, hashStreamKey, type Db } from '@live/db';
import { readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamSubject, type DomainEvent } from '@live/events';

/** A channel `slug` with one new active key: the channel id, the key and its `stream_keys.id`. */
export async function channelWithKey(db: Db, slug: string): Promise<{ channelId: string; key: string; keyId: string }> {
  const key = generateStreamKey();
  const channelId = await ensureChannelWithKey(db, { slug, displayName: slug, title: '' }, key);
  const row = await db.selectFrom('stream_keys').select('id').where('key_hash', '=', hashStreamKey(key)).executeTakeFirstOrThrow();
  return { channelId, key, keyId: row.id };
}

/** Every event of the channel's stream subject (`evt.stream.<channelId>`), in order. */
export async function streamEvents(messaging: Messaging, channelId: string): Promise<DomainEvent[]> {
  return (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);
}
