import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { chdbConnectionOf } from './client.js';

/** A ClickHouse identifier as `INSERT` accepts it here: `name` or `database.name`, `[A-Za-z0-9_]` segments. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/**
 * Encodes rows as JSONCompactEachRow: one JSON array per line holding the values of `columns`
 * in that order (ClickHouse docs "Formats: JSONCompactEachRow"). Compared with JSONEachRow the
 * column names are not repeated on every row, which roughly halves the bytes ClickHouse parses
 * and the JSON JavaScript writes for the analytics tables.
 * @param rows objects whose own properties include every column (a missing one encodes as
 *   `null`, which ClickHouse refuses for a non-Nullable column).
 * @returns the UTF-8 payload, every line ending in `\n`.
 */
export function encodeCompactRows(rows: readonly object[], columns: readonly string[]): Buffer {
  const n = columns.length;
  const values: unknown[] = new Array<unknown>(n);
  let text = '';
  for (const row of rows) {
    const r = row as Record<string, unknown>;
    for (let i = 0; i < n; i++) values[i] = r[columns[i]!];
    text += JSON.stringify(values) + '\n';
  }
  return Buffer.from(text);
}

/**
 * Inserts a JSONCompactEachRow payload (see {@link encodeCompactRows}) into `table`'s
 * `columns`, as one insert:
 * - on embedded chDB (a client of `createAnalyticsClient({ chdbPath })`), through chDB's raw
 *   passthrough insert, which hands the Buffer to chDB's parser as is;
 * - on a ClickHouse server, as the body of `INSERT INTO table (columns) FORMAT
 *   JSONCompactEachRow` over HTTP (`client.exec` with `values`).
 * An insert is atomic per block as ClickHouse's inserts are; nothing is retried here.
 * @throws TypeError when `table` or a column is not a plain identifier (`[A-Za-z0-9_]`, with
 *   at most one `.`), or `columns` is empty; the ClickHouse / chDB error when the insert fails
 *   (bad row, unknown column, server down).
 */
export async function insertCompactRows(client: ClickHouseClient, table: string, columns: readonly string[], payload: Buffer): Promise<void> {
  if (!IDENTIFIER.test(table)) throw new TypeError(`insertCompactRows: invalid table name ${JSON.stringify(table)}`);
  if (columns.length === 0) throw new TypeError('insertCompactRows: no columns');
  for (const c of columns) if (!IDENTIFIER.test(c) || c.includes('.')) throw new TypeError(`insertCompactRows: invalid column name ${JSON.stringify(c)}`);
  if (payload.length === 0) return;
  const chdb = chdbConnectionOf(client);
  if (chdb) {
    await chdb.chdb.rawInsert({ table, columns: [...columns], values: payload, format: 'JSONCompactEachRow' });
    return;
  }
  const result = await client.exec({
    query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT JSONCompactEachRow`,
    values: Readable.from([payload], { objectMode: false }),
  });
  // The response body is empty for an insert; drain it so that the socket is released.
  result.stream.resume();
}
