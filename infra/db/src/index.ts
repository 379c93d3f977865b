/**
 * PostgreSQL access: the Kysely schema, migrations, stream-key checks, the stream session
 * read model, the chat read models' and the playback policy's loaders, the webhook endpoints and
 * their delivery queue. `createDb(url)` is the only place a pool is made.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export * from './schema.js';
export * from './migrations.js';
export * from './keys.js';
export * from './sessions.js';
export * from './projections.js';
export * from './chat.js';
export * from './playback.js';
export * from './restream.js';
export * from './webhooks.js';
export * from './recordings.js';

/**
 * Opens a pooled Kysely instance on `databaseUrl` (`postgres://user:pass@host:port/db`).
 * Call `db.destroy()` to close the pool.
 * @param max pool size (default 10).
 */
export function createDb(databaseUrl: string, max = 10): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 10_000 });
  // A dropped idle client must not crash the process (pg emits 'error' on the pool).
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** The platform database handle every app receives through its factory. */
export type Db = Kysely<Database>;

/**
 * Round-trips `select 1` to check that the database answers (for `/readyz`).
 * @throws the driver's error when it does not.
 */
export async function pingDb(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
export * from './discovery.js';
