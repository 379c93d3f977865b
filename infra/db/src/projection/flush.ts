/**
 * Writes a batch's working set back to the read models in the caller's transaction, with a
 * few set-based statements per table, each taking one array parameter per column
 * (`unnest($1::text[], $2::int[], …)`: the statement's size does not grow with the batch):
 * - rows the batch created: one `insert … select … from unnest(…)`;
 * - rows it changed: one `update … from unnest(…)` per set of changed columns, setting only
 *   those (a viewer count does not rewrite a channel's title, tags and search text);
 * - rows it removed: one `delete … where (key) in (select * from unnest(…))`;
 * - whole-set tables: the owners' rows deleted, their new sets inserted;
 * - insert-only tables: `on conflict (id) do nothing`.
 * Tables are written parents first (users, channels, then the rows that reference them), so
 * the live tables' foreign keys hold at every statement.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../schema.js';
import type { GroupState, TableState } from './state.js';
import type { WorkingSet } from './rows.js';

/** Kysely over the same transaction without the per-table types (the writes are generic). */
type Loose = Kysely<Record<string, Record<string, unknown>>>;
type Row = Record<string, unknown>;

/** Column types of the read-model tables (`format_type`), read once per process from `public`. */
const typeCache = new Map<string, Map<string, string>>();

async function columnTypes(db: Loose, table: string): Promise<Map<string, string>> {
  let types = typeCache.get(table);
  if (!types) {
    const r = await sql<{ name: string; type: string }>`select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
      where attrelid = ${`public.${table}`}::regclass and attnum > 0 and not attisdropped`.execute(db);
    types = new Map(r.rows.map((c) => [c.name, c.type]));
    typeCache.set(table, types);
  }
  return types;
}

/**
 * `unnest(…) as u(cols)` over the rows' values of `cols`, and the select expression of each
 * column. Array columns (`text[]`) travel as JSON text (unnest would flatten a 2-D array).
 */
async function unnestRows(db: Loose, table: string, cols: readonly string[], rows: readonly Row[]): Promise<{ from: RawBuilder<unknown>; select: RawBuilder<unknown>[] }> {
  const types = await columnTypes(db, table);
  const params: RawBuilder<unknown>[] = [];
  const select: RawBuilder<unknown>[] = [];
  for (const c of cols) {
    const type = types.get(c);
    if (!type) throw new Error(`read model ${table} has no column ${c}`);
    const u = sql.ref(`u.${c}`);
    if (type.endsWith('[]')) {
      params.push(sql`${rows.map((r) => JSON.stringify(r[c] ?? []))}::text[]`);
      select.push(sql`array(select jsonb_array_elements_text(${u}::jsonb))::${sql.raw(type)}`);
    } else {
      params.push(sql`${rows.map((r) => r[c] ?? null)}::${sql.raw(type)}[]`);
      select.push(sql`${u}`);
    }
  }
  return { from: sql`unnest(${sql.join(params)}) as u(${sql.join(cols.map((c) => sql.id(c)))})`, select };
}

async function insertRows(db: Loose, table: string, rows: readonly Row[], conflict?: 'id'): Promise<Set<string>> {
  const inserted = new Set<string>();
  if (rows.length === 0) return inserted;
  const cols = Object.keys(rows[0]!);
  const { from, select } = await unnestRows(db, table, cols, rows);
  const q = db.insertInto(table).columns(cols).expression(sql`select ${sql.join(select)} from ${from}`);
  if (!conflict) { await q.execute(); return inserted; }
  for (const r of await q.onConflict((oc) => oc.column(conflict).doNothing()).returning(conflict).execute()) inserted.add(String(r[conflict]));
  return inserted;
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) || Array.isArray(b)) return JSON.stringify(a) === JSON.stringify(b);
  if (a === null || b === null || a === undefined || b === undefined) return a === b || (a ?? null) === (b ?? null);
  return String(a) === String(b);
}

/** Updates changed rows: one statement per set of changed columns. */
async function updateRows(db: Loose, table: string, key: readonly string[], updates: ReadonlyArray<{ row: Row; before: Row }>): Promise<void> {
  const groups = new Map<string, { cols: string[]; rows: Row[] }>();
  for (const { row, before } of updates) {
    const cols = Object.keys(row).filter((c) => !key.includes(c) && !same(row[c], before[c]));
    if (cols.length === 0) continue;
    const g = groups.get(cols.join()) ?? { cols, rows: [] };
    g.rows.push(row);
    groups.set(cols.join(), g);
  }
  for (const { cols, rows } of groups.values()) {
    const { from, select } = await unnestRows(db, table, [...key, ...cols], rows);
    const values = sql`(select ${sql.join(select.map((s, i) => sql`${s} as ${sql.id([...key, ...cols][i]!)}`))} from ${from})`;
    await db.updateTable(`${table} as t`)
      .set(Object.fromEntries(cols.map((c) => [c, sql.ref(`v.${c}`)])))
      .from(values.as('v'))
      .where(sql<boolean>`${sql.join(key.map((k) => sql`${sql.ref(`t.${k}`)} = ${sql.ref(`v.${k}`)}`), sql` and `)}`)
      .execute();
  }
}

/** Deletes rows by their key columns (`(a, b) in unnest(…)`: one statement for any count). */
async function deleteRows(db: Loose, table: string, key: readonly string[], rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = sql.join(key.map((c) => sql.ref(c)));
  const arrays = sql.join(key.map((c) => sql`${rows.map((r) => String(r[c]))}::text[]`));
  await db.deleteFrom(table).where(sql<boolean>`(${cols}) in (select * from unnest(${arrays}))`).execute();
}

async function writeTable<R extends object, I extends string>(db: Loose, state: TableState<R, I>, key: readonly string[]): Promise<void> {
  const { inserts, updates, deletes } = state.changes();
  await deleteRows(db, state.table, key, deletes as unknown as Row[]);
  await updateRows(db, state.table, key, updates as unknown as Array<{ row: Row; before: Row }>);
  await insertRows(db, state.table, inserts as unknown as Row[]);
}

async function writeGroups<R extends object>(db: Loose, state: GroupState<R>, owner: string): Promise<void> {
  const changed = state.changes();
  if (changed.length === 0) return;
  await db.deleteFrom(state.table).where(owner, '=', sql<string>`any(${changed.map((c) => c.owner)})`).execute();
  await insertRows(db, state.table, changed.flatMap((c) => c.rows) as unknown as Row[]);
}

/**
 * Writes what the batch changed.
 * @returns the ids of the notifications really inserted (a notification whose id existed is not).
 * @throws the driver's error (e.g. a foreign-key violation); the caller's transaction then
 *   rolls back the whole batch.
 */
export async function flushWorkingSet(trx: Transaction<Database>, ws: WorkingSet): Promise<Set<string>> {
  const db = trx as unknown as Loose;
  await writeTable(db, ws.users, ['id']);
  await writeTable(db, ws.channels, ['id']);
  await writeTable(db, ws.streamKeys, ['id']);
  await writeTable(db, ws.moderators, ['channel_id', 'user_id']);
  await writeGroups(db, ws.allowlist, 'channel_id');
  await writeTable(db, ws.follows, ['follower_id', 'channel_id']);
  const notified = await insertRows(db, 'notifications', [...ws.notifications.values()], 'id');
  await writeTable(db, ws.sessions, ['session_id']);
  await writeTable(db, ws.chatSettings, ['channel_id']);
  await writeTable(db, ws.restrictions, ['channel_id', 'user_id']);
  await writeGroups(db, ws.bannedTerms, 'channel_id');
  await writeTable(db, ws.queue, ['id']);
  await insertRows(db, 'chat_moderation_log', [...ws.moderationLog.values()], 'id');
  await writeTable(db, ws.restreamDestinations, ['id']);
  return notified;
}
