import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Versioned schema migrations, in code (Kysely Migrator). Names sort in apply order; a
 * migration that has run anywhere is never edited — add a new one.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_channels_keys_sessions': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('channels')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('slug', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createTable('stream_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id').onDelete('cascade'))
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('key_last4', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active','disabled','revoked')`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('stream_keys_channel_idx').on('stream_keys').column('channel_id').execute();
      await db.schema.createTable('stream_sessions')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ended_at', 'timestamptz')
        .addColumn('renditions', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('master_playlist_key', 'text')
        .addColumn('vod_master_playlist_key', 'text')
        .addColumn('vod_mp4_key', 'text')
        .addColumn('duration_seconds', 'double precision')
        .addColumn('failure_reason', 'text')
        .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('stream_sessions_channel_idx').on('stream_sessions').columns(['channel_id', 'started_at']).execute();
      await db.schema.createIndex('stream_sessions_status_idx').on('stream_sessions').column('status').execute();
      await db.schema.createTable('projection_offsets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['projection_offsets', 'stream_sessions', 'stream_keys', 'channels']) await db.schema.dropTable(t).ifExists().execute();
    },
  },
};

class InCodeProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> { return MIGRATIONS; }
}

/**
 * Applies every pending migration. Safe to call from several processes at once (Kysely takes a
 * Postgres advisory lock).
 * @returns names of the migrations applied by this call.
 * @throws the failing migration's error.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new InCodeProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
