/**
 * PostgreSQL catalogue work of the read-model replay: an advisory lock, checks that the
 * read-model tables can be swapped, giving the rebuilt tables the live tables' index,
 * constraint and foreign-key names, privileges and owner, and row counts.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Db } from '@live/db';

/** Thrown when another process holds the advisory lock of a replay. */
export class ReplayBusyError extends Error {
  override readonly name = 'ReplayBusyError';
}

/**
 * The advisory-lock key of a name: the first 8 bytes of its SHA-256 as a signed 64-bit integer
 * (Postgres `pg_advisory_lock(bigint)`), as a decimal string.
 */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/**
 * Runs `fn` while holding the session-level advisory lock `name` (PostgreSQL "Advisory Locks"),
 * on a connection pinned for the whole call, so that two replays cannot run at once anywhere.
 * The lock is released (and the connection returned) when `fn` settles, or by the server when
 * the process dies.
 * @throws ReplayBusyError when another session holds the lock.
 */
export async function withAdvisoryLock<T>(db: Db, name: string, fn: () => Promise<T>): Promise<T> {
  const key = advisoryLockKey(name);
  return db.connection().execute(async (conn) => {
    const r = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${key}::bigint) as locked`.execute(conn);
    if (!r.rows[0]?.locked) throw new ReplayBusyError(`another ${name} is running (PostgreSQL advisory lock ${key} is held); try again when it has finished`);
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(${key}::bigint)`.execute(conn).catch(() => undefined);
    }
  });
}

/**
 * Refuses tables that a swap by `ALTER TABLE … SET SCHEMA` would break: views over them (they
 * would keep pointing at the old tables, then be dropped with them), foreign keys from other
 * tables into them, user triggers (not copied by `LIKE`), and `serial` sequences (owned by the
 * old table, dropped with it).
 * @throws Error naming every such object.
 */
export async function assertSwappable(db: Db, tables: readonly string[]): Promise<void> {
  const problems: string[] = [];
  const views = await sql<{ view: string; table: string }>`
    select distinct v.relname as view, t.relname as table
    from pg_depend d
    join pg_rewrite r on r.oid = d.objid
    join pg_class v on v.oid = r.ev_class
    join pg_class t on t.oid = d.refobjid
    join pg_namespace n on n.oid = t.relnamespace
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and n.nspname = 'public' and t.relname = any(${tables}) and v.oid <> t.oid`.execute(db);
  for (const v of views.rows) problems.push(`view ${v.view} reads ${v.table}`);
  const fks = await sql<{ name: string; from: string; to: string }>`
    select k.conname as name, f.relname as from, t.relname as to
    from pg_constraint k
    join pg_class f on f.oid = k.conrelid join pg_namespace fn on fn.oid = f.relnamespace
    join pg_class t on t.oid = k.confrelid join pg_namespace tn on tn.oid = t.relnamespace
    where k.contype = 'f' and tn.nspname = 'public' and t.relname = any(${tables})
      and not (fn.nspname = 'public' and f.relname = any(${tables}))`.execute(db);
  for (const k of fks.rows) problems.push(`foreign key ${k.name} of ${k.from} references ${k.to}`);
  const triggers = await sql<{ name: string; table: string }>`
    select g.tgname as name, c.relname as table
    from pg_trigger g join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where not g.tgisinternal and n.nspname = 'public' and c.relname = any(${tables})`.execute(db);
  for (const t of triggers.rows) problems.push(`trigger ${t.name} on ${t.table}`);
  // A `serial` column's sequence belongs to the old table: dropping that would break the
  // rebuilt table's default (identity columns get their own sequence with LIKE … INCLUDING ALL).
  const serials = await sql<{ sequence: string; table: string }>`
    select s.relname as sequence, c.relname as table
    from pg_depend d
    join pg_class s on s.oid = d.objid and s.relkind = 'S'
    join pg_class c on c.oid = d.refobjid join pg_namespace n on n.oid = c.relnamespace
    where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype = 'a'
      and n.nspname = 'public' and c.relname = any(${tables})`.execute(db);
  for (const q of serials.rows) problems.push(`serial sequence ${q.sequence} of ${q.table} (use an identity column)`);
  if (problems.length > 0) {
    throw new Error(`the read-model tables cannot be swapped: ${problems.join('; ')} (the replay moves tables between schemas; drop or move these first)`);
  }
}

/** `CREATE [UNIQUE] INDEX name ON schema.table USING …` without the name and the table. */
function indexShape(def: string): string {
  return def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ /, 'CREATE $1INDEX ON $2');
}

/**
 * Renames the indexes of the tables in schema `fresh` (made by `create table … (like public.…
 * including all)`, which picks default names) to the names of the matching indexes of the same
 * tables in `public`, matched by definition (`pg_get_indexdef` without name and table, including
 * storage parameters). Renaming an index that backs a primary-key or unique constraint renames
 * the constraint too, so after the swap every index and constraint name the application or a
 * later migration refers to exists again. Runs in one transaction (two passes, through temporary
 * names, so that names can be exchanged).
 * @throws Error when an index of one side has no counterpart on the other.
 */
export async function alignIndexNames(db: Db, fresh: string, tables: readonly string[]): Promise<void> {
  const rows = await sql<{ schema: string; table: string; index: string; def: string }>`
    select n.nspname as schema, c.relname as table, i.relname as index, pg_get_indexdef(i.oid) as def
    from pg_index x
    join pg_class i on i.oid = x.indexrelid
    join pg_class c on c.oid = x.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', ${fresh}) and c.relname = any(${tables})
    order by i.relname`.execute(db);
  const renames: Array<{ from: string; to: string }> = [];
  for (const table of tables) {
    const live = rows.rows.filter((r) => r.schema === 'public' && r.table === table);
    const built = rows.rows.filter((r) => r.schema === fresh && r.table === table);
    const unmatched = [...built];
    for (const l of live) {
      const i = unmatched.findIndex((b) => indexShape(b.def) === indexShape(l.def));
      if (i < 0) throw new Error(`the rebuilt ${table} has no index like ${l.index} (${l.def}); is the schema migrated?`);
      const [b] = unmatched.splice(i, 1);
      if (b && b.index !== l.index) renames.push({ from: b.index, to: l.index });
    }
    if (unmatched.length > 0) throw new Error(`the rebuilt ${table} has indexes the live table has not: ${unmatched.map((u) => u.def).join('; ')}`);
  }
  if (renames.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const [i, r] of renames.entries()) await sql`alter index ${sql.id(fresh, r.from)} rename to ${sql.id(`replay_tmp_${i}`)}`.execute(trx);
    for (const [i, r] of renames.entries()) await sql`alter index ${sql.id(fresh, `replay_tmp_${i}`)} rename to ${sql.id(r.to)}`.execute(trx);
  });
}

/** A secondary index dropped from a rebuilt table while it fills, with the statement that recreates it. */
export interface DeferredIndex {
  readonly table: string;
  readonly index: string;
  /** `CREATE INDEX …` as `pg_get_indexdef` gave it (schema-qualified: it recreates the same index). */
  readonly def: string;
}

/**
 * Drops the secondary indexes (neither primary key nor unique) of the tables of schema `fresh`,
 * except those whose leading column is listed for their table in `keep` (lookups a replay
 * still makes while it fills the tables), so that rows are written without maintaining them;
 * {@link buildIndexes} recreates them afterwards in one pass each (a bulk build, much cheaper
 * than one insertion per row, above all for GIN indexes).
 * @returns the dropped indexes, in name order.
 * @throws the driver's error.
 */
export async function deferIndexes(db: Db, fresh: string, tables: readonly string[], keep: Readonly<Record<string, readonly string[]>>): Promise<DeferredIndex[]> {
  const rows = await sql<{ table: string; index: string; def: string; lead: string | null }>`
    select c.relname as table, i.relname as index, pg_get_indexdef(i.oid) as def, a.attname as lead
    from pg_index x
    join pg_class i on i.oid = x.indexrelid
    join pg_class c on c.oid = x.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_attribute a on a.attrelid = c.oid and a.attnum = x.indkey[0]
    where n.nspname = ${fresh} and c.relname = any(${tables}) and not x.indisunique and not x.indisprimary
    order by i.relname`.execute(db);
  const deferred = rows.rows.filter((r) => !(r.lead && keep[r.table]?.includes(r.lead))).map(({ table, index, def }) => ({ table, index, def }));
  for (const d of deferred) await sql`drop index ${sql.id(fresh, d.index)}`.execute(db);
  return deferred;
}

/**
 * Recreates indexes {@link deferIndexes} dropped, with their names and definitions.
 * @throws the driver's error.
 */
export async function buildIndexes(db: Db, indexes: readonly DeferredIndex[]): Promise<void> {
  for (const d of indexes) await sql.raw(d.def).execute(db);
}

/**
 * Adds to the tables of schema `fresh` the foreign keys the same tables have in `public`, with
 * the same names and definitions, referring to the tables of `fresh` (and so, after the swap,
 * to the new live tables). Validated at once: a rebuilt table that breaks one fails here,
 * before anything is swapped.
 * @throws the driver's error (23503 foreign_key_violation) when the rebuilt rows break a key.
 */
export async function copyForeignKeys(db: Db, fresh: string, tables: readonly string[]): Promise<number> {
  // With search_path = public, pg_get_constraintdef names the referenced tables unqualified…
  const fks = await db.transaction().execute(async (trx) => {
    await sql`set local search_path to public`.execute(trx);
    return (await sql<{ table: string; name: string; def: string }>`
      select c.relname as table, k.conname as name, pg_get_constraintdef(k.oid) as def
      from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
      where k.contype = 'f' and n.nspname = 'public' and c.relname = any(${tables})
      order by c.relname, k.conname`.execute(trx)).rows;
  });
  // …so that with `fresh` first on the search path they resolve to the rebuilt tables.
  await db.transaction().execute(async (trx) => {
    await sql`select set_config('search_path', ${`${quoteIdent(fresh)}, public`}, true)`.execute(trx);
    for (const fk of fks) {
      await sql`alter table ${sql.id(fresh, fk.table)} add constraint ${sql.id(fk.name)} ${sql.raw(fk.def)}`.execute(trx);
    }
  });
  return fks.length;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Gives the tables of `fresh` the owner and the table privileges (`GRANT`s, including grant
 * options) of the same tables in `public`, so that roles the application connects as keep their
 * access after the swap. Column privileges and row-level security policies are not copied.
 * @throws the driver's error when the current role may not grant or change the owner.
 */
export async function copyPrivileges(db: Kysely<any>, fresh: string, tables: readonly string[]): Promise<void> {
  const acl = await sql<{ table: string; owner: string; grantee: string | null; privilege: string | null; grantable: boolean | null }>`
    select c.relname as table, pg_get_userbyid(c.relowner) as owner,
      case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end as grantee,
      a.privilege_type as privilege, a.is_grantable as grantable
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    left join lateral aclexplode(c.relacl) a on true
    where n.nspname = 'public' and c.relname = any(${tables})`.execute(db);
  const me = (await sql<{ u: string }>`select current_user as u`.execute(db)).rows[0]?.u;
  for (const row of acl.rows) {
    if (!row.grantee || !row.privilege || row.grantee === row.owner) continue;
    const to = row.grantee === 'PUBLIC' ? sql.raw('public') : sql.id(row.grantee);
    await sql`grant ${sql.raw(row.privilege)} on table ${sql.id(fresh, row.table)} to ${to}${sql.raw(row.grantable ? ' with grant option' : '')}`.execute(db);
  }
  for (const [table, owner] of new Map(acl.rows.map((r) => [r.table, r.owner]))) {
    if (owner !== me) await sql`alter table ${sql.id(fresh, table)} owner to ${sql.id(owner)}`.execute(db);
  }
}

/** Row counts of `tables` in `schema` (exact, `count(*)`). */
export async function countRows(db: Kysely<any>, schema: string, tables: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const t of tables) {
    const r = await sql<{ n: string }>`select count(*)::text as n from ${sql.id(schema, t)}`.execute(db);
    counts.set(t, Number(r.rows[0]?.n ?? 0));
  }
  return counts;
}

/** Columns of `schema.table` that can be inserted into (not generated, not dropped), in order. */
export async function insertableColumns(db: Kysely<any>, schema: string, table: string): Promise<string[]> {
  const r = await sql<{ name: string }>`
    select a.attname as name from pg_attribute a
    where a.attrelid = to_regclass(${`${quoteIdent(schema)}.${quoteIdent(table)}`}) and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
    order by a.attnum`.execute(db);
  return r.rows.map((c) => c.name);
}
