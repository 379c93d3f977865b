import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Prefix of every stream key, so that a leaked key is recognisable by secret scanners. */
export const STREAM_KEY_PREFIX = 'live_';

/** Generates a new stream key: `live_` + 32 base64url chars (192 random bits). */
export function generateStreamKey(): string {
  return STREAM_KEY_PREFIX + randomBytes(24).toString('base64url');
}

/** Hex SHA-256 of a stream key: the only form in which keys are stored. */
export function hashStreamKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Outcome of looking a stream key up for a publish. */
export type StreamKeyCheck =
  | { ok: true; channelId: string; keyId: string }
  | { ok: false; code: 'UNKNOWN_STREAM_KEY' | 'STREAM_KEY_DISABLED' | 'STREAM_KEY_EXPIRED'; description: string };

/**
 * Checks a stream key presented by a publisher against the `stream_keys` read model.
 * Looks up by hash (an index lookup; the plaintext never reaches the database).
 * @param now the time to check expiry against.
 */
export async function checkStreamKey(db: Kysely<Database>, key: string, now = new Date()): Promise<StreamKeyCheck> {
  if (key.length === 0 || key.length > 256) return { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'unknown stream key' };
  const row = await db.selectFrom('stream_keys').select(['id', 'channel_id', 'status', 'expires_at'])
    .where('key_hash', '=', hashStreamKey(key)).executeTakeFirst();
  if (!row) return { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'unknown stream key' };
  if (row.status !== 'active') return { ok: false, code: 'STREAM_KEY_DISABLED', description: `stream key is ${row.status}` };
  if (row.expires_at && row.expires_at.getTime() <= now.getTime()) return { ok: false, code: 'STREAM_KEY_EXPIRED', description: 'stream key expired' };
  return { ok: true, channelId: row.channel_id, keyId: row.id };
}

/**
 * Ensures a channel exists (by slug) and, when `streamKey` is given and its hash is not stored
 * yet, stores it as an active key of that channel. Used by the embedded stack's bootstrap to
 * create the demo channel. Idempotent.
 * @returns the channel id.
 */
export async function ensureChannelWithKey(
  db: Kysely<Database>,
  channel: { slug: string; displayName: string; title: string },
  streamKey?: string,
): Promise<string> {
  await db.insertInto('channels')
    .values({ id: channel.slug, slug: channel.slug, display_name: channel.displayName, title: channel.title })
    .onConflict((oc) => oc.column('slug').doNothing()).execute();
  const ch = await db.selectFrom('channels').select('id').where('slug', '=', channel.slug).executeTakeFirstOrThrow();
  if (streamKey) {
    await db.insertInto('stream_keys')
      .values({ id: randomUUID(), channel_id: ch.id, key_hash: hashStreamKey(streamKey), key_last4: streamKey.slice(-4), status: 'active', expires_at: null })
      .onConflict((oc) => oc.column('key_hash').doNothing()).execute();
  }
  return ch.id;
}
