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
  '0002_accounts_channels_follows': {
    async up(db: Kysely<any>) {
      // Trigram similarity for typo-tolerant discovery search (PostgreSQL contrib pg_trgm).
      await sql`create extension if not exists pg_trgm`.execute(db);
      await db.schema.createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('username_lower', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('bio', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('notifications_read_up_to', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('channels')
        .addColumn('owner_user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('category', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .addColumn('language', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('mature', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('follower_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('viewer_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('live_session_id', 'text')
        .addColumn('live_started_at', 'timestamptz')
        .addColumn('search_text', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('updated_at', 'timestamptz')
        .execute();
      await sql`alter table channels add column search_vector tsvector generated always as (to_tsvector('simple', search_text)) stored`.execute(db);
      await sql`create index channels_search_vector_idx on channels using gin (search_vector)`.execute(db);
      await sql`create index channels_search_trgm_idx on channels using gin (search_text gin_trgm_ops)`.execute(db);
      await sql`create index channels_discovery_idx on channels ((live_session_id is not null) desc, viewer_count desc, id)`.execute(db);
      await db.schema.createIndex('channels_owner_idx').on('channels').column('owner_user_id').execute();
      await db.schema.createIndex('channels_category_idx').on('channels').column('category').execute();
      await db.schema.alterTable('stream_keys')
        .addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('allowed_cidrs', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('replaced_by', 'text')
        .execute();
      await db.schema.createTable('channel_moderators')
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('channel_moderators_pk', ['channel_id', 'user_id'])
        .execute();
      await db.schema.createTable('follows')
        .addColumn('follower_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id').onDelete('cascade'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('follows_pk', ['follower_id', 'channel_id'])
        .execute();
      await db.schema.createIndex('follows_channel_idx').on('follows').columns(['channel_id', 'created_at']).execute();
      await db.schema.createTable('notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('notifications_user_idx').on('notifications').columns(['user_id', 'created_at']).execute();
      // Credential stores (command side, not projections of EVENTS): see README "Accounts".
      await db.schema.createTable('auth_refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('auth_refresh_tokens_family_idx').on('auth_refresh_tokens').column('family_id').execute();
      await db.schema.createIndex('auth_refresh_tokens_user_idx').on('auth_refresh_tokens').column('user_id').execute();
      await db.schema.createTable('auth_login_failures')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_start', 'timestamptz', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('blocked_until', 'timestamptz')
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['auth_login_failures', 'auth_refresh_tokens', 'notifications', 'follows', 'channel_moderators']) await db.schema.dropTable(t).ifExists().execute();
      await sql`alter table stream_keys drop column if exists label, drop column if exists allowed_cidrs, drop column if exists revoked_at, drop column if exists replaced_by`.execute(db);
      await sql`alter table channels drop column if exists search_vector, drop column if exists owner_user_id, drop column if exists category, drop column if exists tags, drop column if exists language, drop column if exists mature, drop column if exists follower_count, drop column if exists viewer_count, drop column if exists live_session_id, drop column if exists live_started_at, drop column if exists search_text, drop column if exists updated_at`.execute(db);
      await db.schema.dropTable('users').ifExists().execute();
    },
  },
  '0003_search_index_pending_lists': {
    // A GIN index's pending list is scanned linearly by every search until VACUUM merges it;
    // bounding it at 256 kB keeps searches fast after a burst of channel updates (PostgreSQL docs
    // "GIN Fast Update Technique"). Measured after a 10,000-channel load: a zero-hit lookup read
    // 223 buffers (2.4 ms) with the default 4 MB list, 3 buffers (0.01 ms) once merged.
    async up(db: Kysely<any>) {
      await sql`alter index channels_search_vector_idx set (gin_pending_list_limit = 256)`.execute(db);
      await sql`alter index channels_search_trgm_idx set (gin_pending_list_limit = 256)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`alter index channels_search_vector_idx reset (gin_pending_list_limit)`.execute(db);
      await sql`alter index channels_search_trgm_idx reset (gin_pending_list_limit)`.execute(db);
    },
  },
  '0004_chat': {
    // Chat moderation read models (projected from EVENTS; see projections.ts). No foreign keys:
    // the log is the truth, and a projection must never stop on an event that names a channel or
    // user the read models do not have (yet). Every timestamp comes from the event, so a replay
    // writes identical rows; nothing here defaults to now().
    async up(db: Kysely<any>) {
      await db.schema.createTable('chat_settings')
        .addColumn('channel_id', 'text', (c) => c.primaryKey())
        .addColumn('slow_mode_seconds', 'integer', (c) => c.notNull())
        .addColumn('followers_only', 'boolean', (c) => c.notNull())
        .addColumn('emote_only', 'boolean', (c) => c.notNull())
        .addColumn('links_allowed', 'boolean', (c) => c.notNull())
        .addColumn('duplicate_filter', 'boolean', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createTable('chat_restrictions')
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('ban','timeout')`))
        .addColumn('until', 'timestamptz')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('actor_user_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('chat_restrictions_pk', ['channel_id', 'user_id'])
        .addCheckConstraint('chat_restrictions_until_check', sql`(kind = 'ban') = (until is null)`)
        .execute();
      await db.schema.createTable('chat_banned_terms')
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('pattern', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('block','hold')`))
        .addPrimaryKeyConstraint('chat_banned_terms_pk', ['channel_id', 'position'])
        .execute();
      await db.schema.createTable('moderation_queue')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('report','held')`))
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('message_seq', 'bigint')
        .addColumn('message_kind', 'text', (c) => c.check(sql`message_kind in ('message','emote')`))
        .addColumn('author_user_id', 'text', (c) => c.notNull())
        .addColumn('author_username', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('reporter_user_id', 'text')
        .addColumn('session_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open','approved','dismissed','deleted')`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('resolved_by', 'text')
        .addColumn('resolved_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('moderation_queue_channel_idx').on('moderation_queue').columns(['channel_id', 'status', 'seq']).execute();
      await db.schema.createIndex('moderation_queue_status_idx').on('moderation_queue').columns(['status', 'seq']).execute();
      await db.schema.createIndex('moderation_queue_message_idx').on('moderation_queue').column('message_id').execute();
      await db.schema.createTable('chat_moderation_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('actor_user_id', 'text', (c) => c.notNull())
        .addColumn('target_user_id', 'text')
        .addColumn('message_id', 'text')
        .addColumn('detail', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('chat_moderation_log_channel_idx').on('chat_moderation_log').columns(['channel_id', 'seq']).execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['chat_moderation_log', 'moderation_queue', 'chat_banned_terms', 'chat_restrictions', 'chat_settings']) await db.schema.dropTable(t).ifExists().execute();
    },
  },
  '0005_playback_policy': {
    // Signed playback (ChannelPlaybackPolicyChanged, projections.ts): the policy on channels, the
    // allow-list in its own table. Defaults are the policy of a channel that never set one, so
    // existing rows and a replay agree. No foreign keys (see 0004).
    async up(db: Kysely<any>) {
      await db.schema.alterTable('channels')
        .addColumn('playback_visibility', 'text', (c) => c.notNull().defaultTo('public').check(sql`playback_visibility in ('public','followers','allowlist')`))
        .execute();
      await db.schema.alterTable('channels').addColumn('playback_encrypted', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
      await db.schema.alterTable('channels')
        .addColumn('playback_key_rotation_segments', 'integer', (c) => c.notNull().defaultTo(0).check(sql`playback_key_rotation_segments >= 0`))
        .execute();
      await db.schema.createTable('channel_playback_allowlist')
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('channel_playback_allowlist_pk', ['channel_id', 'user_id'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('channel_playback_allowlist').ifExists().execute();
      for (const c of ['playback_key_rotation_segments', 'playback_encrypted', 'playback_visibility']) await db.schema.alterTable('channels').dropColumn(c).execute();
    },
  },
  '0006_playback_policy_version': {
    // Playback tokens carry the policy version they were issued under; the edge refuses older
    // ones. The version counts the channel's ChannelPlaybackPolicyChanged events (0: never set).
    // bindAddress: every token of the channel is bound to the requester's address (v2 field).
    async up(db: Kysely<any>) {
      await db.schema.alterTable('channels').addColumn('playback_policy_version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('channels').addColumn('playback_bind_address', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
    },
    async down(db: Kysely<any>) {
      for (const c of ['playback_bind_address', 'playback_policy_version']) await db.schema.alterTable('channels').dropColumn(c).execute();
    },
  },
  '0007_webhooks': {
    // Webhooks (infra/db/src/webhooks.ts): endpoints with their secrets, the per-endpoint delivery
    // queue and its attempt log. Operational state written by the API and the projector's webhook
    // dispatcher, not read models: a secret must never be in the log, and the queue's progress is
    // not a domain fact (a replay of the read models leaves these tables alone).
    async up(db: Kysely<any>) {
      await db.schema.createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('channel','platform')`))
        .addColumn('channel_id', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('event_types', sql`text[]`, (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('disabled_reason', 'text')
        .addColumn('disabled_at', 'timestamptz')
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addCheckConstraint('webhook_endpoints_scope_channel', sql`(scope = 'channel') = (channel_id is not null)`)
        .execute();
      await db.schema.createIndex('webhook_endpoints_channel_idx').on('webhook_endpoints').columns(['channel_id']).execute();
      await db.schema.createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
        .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('event_seq', 'bigint', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending','delivered')`))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('delivered_at', 'timestamptz')
        .addColumn('redelivery_of', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await sql`create unique index webhook_deliveries_once_idx on webhook_deliveries (endpoint_id, event_id) where redelivery_of is null`.execute(db);
      await sql`create index webhook_deliveries_pending_idx on webhook_deliveries (endpoint_id, seq) where status = 'pending'`.execute(db);
      await db.schema.createIndex('webhook_deliveries_log_idx').on('webhook_deliveries').columns(['endpoint_id', 'seq']).execute();
      await db.schema.createTable('webhook_attempts')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
        .addColumn('attempted_at', 'timestamptz', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('ok', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_attempts_delivery_idx').on('webhook_attempts').columns(['delivery_id', 'id']).execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['webhook_attempts', 'webhook_deliveries', 'webhook_endpoints']) await db.schema.dropTable(t).ifExists().execute();
    },
  },
  '0008_session_metadata': {
    // A session owns its metadata (issue 14): the channel's title, category and tags when the
    // session started, followed while it is live; a recording keeps them after the channel changes.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('stream_sessions')
        .addColumn('title', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('category', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const c of ['tags', 'category', 'title']) await db.schema.alterTable('stream_sessions').dropColumn(c).execute();
    },
  },
  '0009_restream_destinations': {
    // Restreaming (events/src/restream.ts): a channel's destinations with their sealed keys
    // (AES-256-GCM, opened only by the ingest node) and the state of their latest push.
    async up(db: Kysely<any>) {
      await db.schema.createTable('restream_destinations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('key_sealed', 'text', (c) => c.notNull())
        .addColumn('key_last4', 'text', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().defaultTo('idle').check(sql`state in ('idle','live','reconnecting','stopped')`))
        .addColumn('state_session_id', 'text')
        .addColumn('state_attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('state_reason', 'text')
        .addColumn('state_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('restream_destinations_channel_idx').on('restream_destinations').column('channel_id').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('restream_destinations').ifExists().execute();
    },
  },
  '0010_recording_retention': {
    // A channel's recording retention (RecordingRetentionSet, events/src/recordings.ts): whole
    // days after a recording ends before the retention workflow deletes it; null keeps it forever.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('channels').addColumn('recording_retention_days', 'integer').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('channels').dropColumn('recording_retention_days').execute();
    },
  },
  '0011_channel_description': {
    // The channel's "about" text (ChannelMetadataUpdated.description), shown on its page.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('channels').addColumn('description', 'text', (c) => c.notNull().defaultTo('')).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('channels').dropColumn('description').execute();
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
