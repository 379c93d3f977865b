/**
 * The chDB owner's ClickHouse HTTP interface: this process owns a real chDB directory and
 * serves it; a second, ordinary `@clickhouse/client` talks to it over HTTP, as the API process
 * does in the embedded stack (query with parameters, command, insert, exec, ping, errors).
 * Runs in vitest's default `forks` pool (chDB must be loaded by the process's main thread).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseError, ClickHouseLogLevel, TupleParam, createClient, type ClickHouseClient } from '@clickhouse/client';
import { createAnalyticsClient, decodeQueryParams, migrateAnalytics, serveClickHouseHttp, type ClickHouseHttpServer } from '../src/index.js';

let dir: string;
let owner: ClickHouseClient;
let server: ClickHouseHttpServer;
let remote: ClickHouseClient;
/** The same as `remote` without the client's own console error log, for the tests that expect errors. */
let quiet: ClickHouseClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'live-analytics-http-'));
  owner = createAnalyticsClient({ chdbPath: dir });
  await migrateAnalytics(owner);
  server = await serveClickHouseHttp({ client: owner });
  remote = createAnalyticsClient({ url: server.url });
  quiet = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF } });
});

afterAll(async () => {
  await remote?.close();
  await quiet?.close();
  await server?.close();
  await owner?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function one<T>(client: ClickHouseClient, query: string, query_params?: Record<string, unknown>): Promise<T> {
  const rs = await client.query({ query, format: 'JSONEachRow', ...(query_params ? { query_params } : {}) });
  const [row] = await rs.json<T>();
  return row as T;
}

describe('ClickHouse HTTP interface over chDB', () => {
  it('answers ping, both the /ping endpoint and a SELECT ping', async () => {
    expect((await remote.ping()).success).toBe(true);
    expect((await remote.ping({ select: true })).success).toBe(true);
    const r = await fetch(`${server.url}/ping`);
    expect([r.status, await r.text()]).toEqual([200, 'Ok.\n']);
  });

  it('runs commands and inserts, and the owner sees the rows', async () => {
    await remote.command({ query: 'CREATE TABLE IF NOT EXISTS http_t (id UInt64, name String, at DateTime64(3, \'UTC\')) ENGINE = MergeTree ORDER BY id' });
    const inserted = await remote.insert({
      table: 'http_t', format: 'JSONEachRow',
      values: [{ id: 1, name: "it's", at: '2026-01-02 03:04:05.678' }, { id: 2, name: 'tab\there\\back', at: '2026-01-02 03:04:06.000' }],
    });
    expect(inserted.executed).toBe(true);
    const back = await (await owner.query({ query: 'SELECT id, name, toString(at) AS at FROM http_t ORDER BY id', format: 'JSONEachRow' })).json();
    expect(back).toEqual([{ id: '1', name: "it's", at: '2026-01-02 03:04:05.678' }, { id: '2', name: 'tab\there\\back', at: '2026-01-02 03:04:06.000' }]);
    // exec with values: the URL carries the INSERT, the body the rows.
    await remote.exec({ query: 'INSERT INTO http_t FORMAT JSONEachRow', values: Readable.from(['{"id":3,"name":"x","at":"2026-01-02 03:04:07.000"}\n']) });
    expect(await one<{ n: string }>(remote, 'SELECT count() AS n FROM http_t')).toEqual({ n: '3' });
  });

  it('binds query parameters of every shape the client sends, never splicing them into SQL', async () => {
    const nasty = "a'b\\c\td\ne' OR 1=1 --";
    const row = await one<Record<string, unknown>>(remote, `SELECT
        {s:String} AS s, {arr:Array(String)} AS arr, {n:Int64} AS n, {f:Float64} AS f, {nul:Nullable(String)} AS nul,
        {t:Tuple(String, UInt8)} AS t, {m:Map(String, UInt8)} AS m, toUnixTimestamp64Milli({d:DateTime64(3, 'UTC')}) AS d,
        {b:Bool} AS b`, {
      s: nasty, arr: ["x'y", 'z\\w', 'q,r]'], n: 1_767_225_600_123, f: 2.5, nul: null,
      t: new TupleParam(['t\'1', 7]), m: { "k'1": 1, k2: 2 }, d: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 123)), b: true,
    });
    expect(row).toEqual({
      s: nasty, arr: ["x'y", 'z\\w', 'q,r]'], n: '1767225600123', f: 2.5, nul: null,
      t: ["t'1", 7], m: { "k'1": 1, k2: 2 }, d: '1767225600123', b: true,
    });
    // The injection attempt is a value, not SQL: it matches nothing.
    expect(await one<{ n: string }>(remote, 'SELECT count() AS n FROM http_t WHERE name = {name:String}', { name: "x' OR '1'='1" })).toEqual({ n: '0' });
  });

  it('echoes the query id, quotes 64-bit integers in JSON like a server, and does not leak settings between requests', async () => {
    const rs = await remote.query({ query: 'SELECT toUInt64(5) AS x', format: 'JSONEachRow', query_id: 'my-query-1' });
    expect(rs.query_id).toBe('my-query-1');
    expect(rs.response_headers['x-clickhouse-query-id']).toBe('my-query-1');
    expect(await rs.json()).toEqual([{ x: '5' }]);
    const unquoted = await remote.query({ query: 'SELECT toUInt64(5) AS x', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    expect(await unquoted.json()).toEqual([{ x: 5 }]);
    const again = await remote.query({ query: 'SELECT toUInt64(5) AS x', format: 'JSONEachRow' });
    expect(await again.json()).toEqual([{ x: '5' }]);
    // Formats other than JSON: the text comes back as the engine wrote it.
    const text = await remote.query({ query: 'SELECT 1 AS a, \'b\' AS b', format: 'TabSeparatedWithNames' });
    expect(await text.text()).toBe('a\tb\n1\tb\n');
  });

  it('answers errors the way a ClickHouse server does: the client throws ClickHouseError with code and type', async () => {
    const unknownTable = await quiet.query({ query: 'SELECT * FROM no_such_table', format: 'JSONEachRow' }).catch((e: unknown) => e);
    expect(unknownTable).toBeInstanceOf(ClickHouseError);
    expect(unknownTable).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    const syntax = await quiet.command({ query: 'CREAT TABLE x' }).catch((e: unknown) => e);
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });
    const badInsert = await quiet.insert({ table: 'http_t', values: [{ id: 'not a number' }], format: 'JSONEachRow' }).catch((e: unknown) => e);
    expect(badInsert).toBeInstanceOf(ClickHouseError);
    const r = await fetch(`${server.url}/?query=SELEC%201`);
    expect(r.status).toBe(500);
    expect(r.headers.get('x-clickhouse-exception-code')).toBe('62');
    expect(await r.text()).toMatch(/^Code: 62\. DB::Exception: .*\(SYNTAX_ERROR\)/s);
    // After errors the server still serves.
    expect(await one<{ n: number }>(remote, 'SELECT 1 AS n')).toEqual({ n: 1 });
  });

  it('refuses a database other than default, and multipart parameters', async () => {
    const other = createClient({ url: server.url, database: 'analytics', log: { level: ClickHouseLogLevel.OFF } });
    try {
      await expect(other.query({ query: 'SELECT 1', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '81', type: 'UNKNOWN_DATABASE' });
    } finally {
      await other.close();
    }
    const multipart = createClient({ url: server.url, use_multipart_params: true, log: { level: ClickHouseLogLevel.OFF } });
    try {
      await expect(multipart.query({ query: 'SELECT {a:String}', query_params: { a: 'x' }, format: 'JSONEachRow' })).rejects.toMatchObject({ type: 'UNSUPPORTED_METHOD' });
    } finally {
      await multipart.close();
    }
  });

  it('accepts compressed requests and compresses responses when asked', async () => {
    const gz = createClient({ url: server.url, compression: { request: true, response: true } });
    try {
      await gz.insert({ table: 'http_t', values: [{ id: 10, name: 'gz', at: '2026-01-02 03:04:08.000' }], format: 'JSONEachRow' });
      const rs = await gz.query({ query: 'SELECT name FROM http_t WHERE id = {id:UInt64}', query_params: { id: 10 }, format: 'JSONEachRow' });
      expect(rs.response_headers['content-encoding']).toBe('gzip');
      expect(await rs.json()).toEqual([{ name: 'gz' }]);
    } finally {
      await gz.close();
    }
  });

  it('serves the migrated analytics schema to the remote client', async () => {
    const tables = await (await remote.query({ query: "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ('playback_beacons', 'chat_messages', 'chat_message_deletions', 'ingest_health', 'domain_events') ORDER BY name", format: 'JSONEachRow' })).json<{ name: string }>();
    expect(tables.map((t) => t.name)).toEqual(['chat_message_deletions', 'chat_messages', 'domain_events', 'ingest_health', 'playback_beacons']);
  });
});

describe('decodeQueryParams', () => {
  it('decodes the escaped text form by placeholder type', () => {
    const sql = 'SELECT {s:String}, {a:Array(Nullable(String))}, {n:Nullable(UInt8)}, {lc:LowCardinality(String)}';
    expect(decodeQueryParams(sql, new Map([['s', "it\\'s\\ta\\\\b"], ['a', "['x\\'y',NULL]"], ['n', '\\N'], ['lc', 'plain']]))).toEqual({
      s: "it's\ta\\b", a: ["x'y", null], n: null, lc: 'plain',
    });
    expect(() => decodeQueryParams('SELECT {a:Array(String)}', new Map([['a', "['unterminated"]]))).toThrow(/BAD|cannot be parsed/i);
  });
});
