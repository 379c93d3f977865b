/**
 * Reads of the `restream_destinations` read model (projected from the RestreamDestination* and
 * Restream* events, projection/rules.ts): the API lists a channel's destinations, the ingest node
 * loads the enabled ones when the channel goes live.
 */
import type { Selectable } from 'kysely';
import type { Db } from './index.js';
import type { RestreamDestinationsTable } from './schema.js';

/** A row of `restream_destinations` (its key sealed; see `@live/auth` `openSecret`). */
export type RestreamDestination = Selectable<RestreamDestinationsTable>;

/**
 * The destinations of a channel, oldest first.
 * @param opts.enabledOnly only those pushed when the channel goes live.
 * @throws the driver's error.
 */
export async function restreamDestinationsOf(db: Db, channelId: string, opts: { enabledOnly?: boolean } = {}): Promise<RestreamDestination[]> {
  let q = db.selectFrom('restream_destinations').selectAll().where('channel_id', '=', channelId);
  if (opts.enabledOnly) q = q.where('enabled', '=', true);
  return q.orderBy('created_at').orderBy('id').execute();
}

/**
 * One destination by id, or undefined.
 * @throws the driver's error.
 */
export async function restreamDestinationById(db: Db, destinationId: string): Promise<RestreamDestination | undefined> {
  return db.selectFrom('restream_destinations').selectAll().where('id', '=', destinationId).executeTakeFirst();
}
