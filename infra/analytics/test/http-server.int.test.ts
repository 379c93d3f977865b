/**
 * The chDB owner's ClickHouse HTTP interface: this process owns a real chDB directory and
 * serves it; ordinary `@clickhouse/client` clients (and raw `fetch`) talk to it over HTTP, as the
 * API process and the CLI do in the embedded stack. Covers the protocol (query with parameters,
 * command, insert, exec, ping, errors), authentication, GET and read-only users, and the refusal
 * of everything that reaches files, processes or the network — each refusal checked to have
 * stored, changed, read or written nothing.
 * Runs in vitest's default `forks` pool (chDB must be loaded by the process's main thread).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseError, ClickHouseLogLevel, TupleParam, createClient, type ClickHouseClient } from '@clickhouse/client';
import {
  analyticsOverview, createAnalyticsClient, decodeQueryParams, insertCompactRows, migrateAnalytics, serveClickHouseHttp, streamAnalytics,
  type ClickHouseHttpServer,
} from '../src/index.js';

const WRITER = { name: 'writer', password: 'writer-pw-1234', readonly: false };
const READER = { name: 'reader', password: 'reader-pw-5678', readonly: true };

let dir: string;
/** Where refused statements would have written files (must stay empty). */
let scratch: string;
let owner: ClickHouseClient;
let server: ClickHouseHttpServer;
/** The writer, as the CLI's replay connects. */
let remote: ClickHouseClient;
/** The same as `remote` without the client's own console error log, for the tests that expect errors. */
let quiet: ClickHouseClient;
/** The read-only user, as the API connects (errors not logged). */
let reader: ClickHouseClient;
const clients: ClickHouseClient[] = [];

function client(opts: Parameters<typeof createClient>[0]): ClickHouseClient {
  const c = createClient({ log: { level: ClickHouseLogLevel.OFF }, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'live-analytics-http-'));
  scratch = await mkdtemp(join(tmpdir(), 'live-analytics-http-scratch-'));
  owner = createAnalyticsClient({ chdbPath: dir });
  await migrateAnalytics(owner);
  server = await serveClickHouseHttp({ client: owner, users: [WRITER, READER] });
  remote = createAnalyticsClient({ url: server.url, username: WRITER.name, password: WRITER.password });
  clients.push(remote);
  quiet = client({ url: server.url, username: WRITER.name, password: WRITER.password });
  reader = client({ url: server.url, username: READER.name, password: READER.password });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
  await owner?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function one<T>(c: ClickHouseClient, query: string, query_params?: Record<string, unknown>): Promise<T> {
  const rs = await c.query({ query, format: 'JSONEachRow', ...(query_params ? { query_params } : {}) });
  const [row] = await rs.json<T>();
  return row as T;
}

const basic = (u: { name: string; password: string }): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}` });

/** A raw request; `body` is POSTed, else GET. */
async function raw(path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; code: string | null; text: string; headers: Headers }> {
  const r = await fetch(`${server.url}${path}`, { method: opts.body !== undefined ? 'POST' : 'GET', headers: opts.headers ?? {}, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  return { status: r.status, code: r.headers.get('x-clickhouse-exception-code'), text: await r.text(), headers: r.headers };
}

/** What the owner sees: every table of `default` and the rows of http_t, to check that a refused statement changed nothing. */
async function state(): Promise<{ tables: string[]; rows: unknown[] }> {
  const tables = (await (await owner.query({ query: 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name', format: 'JSONEachRow' })).json<{ name: string }>()).map((t) => t.name);
  const rows = tables.includes('http_t') ? await (await owner.query({ query: 'SELECT * FROM http_t ORDER BY id', format: 'JSONEachRow' })).json() : [];
  return { tables, rows };
}

/** Runs `attempt` (which must fail with `code`), and checks that the owner's tables and http_t's rows are as before. */
async function refusedWithoutEffect(code: string, attempt: () => Promise<unknown>): Promise<ClickHouseError> {
  const before = await state();
  const err = await attempt().then(() => new Error('the statement was not refused'), (e: unknown) => e);
  expect(err).toBeInstanceOf(ClickHouseError);
  expect(err).toMatchObject({ code });
  expect(await state()).toEqual(before);
  return err as ClickHouseError;
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
    // VALUES rows are literals (expressions are off on this server).
    await remote.command({ query: "INSERT INTO http_t VALUES (4, 'v', '2026-01-02 03:04:08.000')" });
    expect(await one<{ n: string }>(remote, 'SELECT count() AS n FROM http_t')).toEqual({ n: '4' });
  });

  it('binds query parameters of every shape the client sends, never splicing them into SQL', async () => {
    const nasty = "a'b\\c\td\ne' OR 1=1 --; DROP TABLE http_t";
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
    // The read-only session too.
    expect(await (await reader.query({ query: 'SELECT toUInt64(5) AS x', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json()).toEqual([{ x: 5 }]);
    expect(await one(reader, 'SELECT toUInt64(5) AS x')).toEqual({ x: '5' });
    // Formats other than JSON: the text comes back as the engine wrote it.
    const text = await remote.query({ query: 'SELECT 1 AS a, \'b\' AS b', format: 'TabSeparatedWithNames' });
    expect(await text.text()).toBe('a\tb\n1\tb\n');
  });

  it('answers errors the way a ClickHouse server does: the client throws ClickHouseError with code and type', async () => {
    const unknownTable = await quiet.query({ query: 'SELECT * FROM no_such_table', format: 'JSONEachRow' }).catch((e: unknown) => e);
    expect(unknownTable).toBeInstanceOf(ClickHouseError);
    expect(unknownTable).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    const syntax = await quiet.command({ query: 'SELEC 1' }).catch((e: unknown) => e);
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });
    // chDB would run a text that is no statement as a SELECT (implicit_select); not here.
    await expect(quiet.command({ query: "file('/etc/hostname')" })).rejects.toMatchObject({ code: '62' });
    const badInsert = await quiet.insert({ table: 'http_t', values: [{ id: 'not a number' }], format: 'JSONEachRow' }).catch((e: unknown) => e);
    expect(badInsert).toBeInstanceOf(ClickHouseError);
    const r = await raw('/?query=SELEC%201', { headers: basic(WRITER) });
    expect([r.status, r.code]).toEqual([400, '62']);
    expect(r.text).toMatch(/^Code: 62\. DB::Exception: .*\(SYNTAX_ERROR\)/s);
    // After errors the server still serves.
    expect(await one<{ n: number }>(remote, 'SELECT 1 AS n')).toEqual({ n: 1 });
  });

  it('refuses a database other than default, and multipart parameters', async () => {
    const other = client({ url: server.url, username: WRITER.name, password: WRITER.password, database: 'analytics' });
    await expect(other.query({ query: 'SELECT 1', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '81', type: 'UNKNOWN_DATABASE' });
    const multipart = client({ url: server.url, username: WRITER.name, password: WRITER.password, use_multipart_params: true });
    await expect(multipart.query({ query: 'SELECT {a:String}', query_params: { a: 'x' }, format: 'JSONEachRow' })).rejects.toMatchObject({ type: 'UNSUPPORTED_METHOD' });
  });

  it('accepts compressed requests and compresses responses when asked', async () => {
    const gz = client({ url: server.url, username: WRITER.name, password: WRITER.password, compression: { request: true, response: true } });
    await gz.insert({ table: 'http_t', values: [{ id: 10, name: 'gz', at: '2026-01-02 03:04:08.000' }], format: 'JSONEachRow' });
    const rs = await gz.query({ query: 'SELECT name FROM http_t WHERE id = {id:UInt64}', query_params: { id: 10 }, format: 'JSONEachRow' });
    expect(rs.response_headers['content-encoding']).toBe('gzip');
    expect(await rs.json()).toEqual([{ name: 'gz' }]);
  });

  it('serves the migrated analytics schema to the remote client', async () => {
    const tables = await (await reader.query({ query: "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ('playback_beacons', 'chat_messages', 'chat_message_deletions', 'ingest_health', 'domain_events') ORDER BY name", format: 'JSONEachRow' })).json<{ name: string }>();
    expect(tables.map((t) => t.name)).toEqual(['chat_message_deletions', 'chat_messages', 'domain_events', 'ingest_health', 'playback_beacons']);
  });
});

describe('authentication', () => {
  it('refuses a request without credentials with 401, and runs nothing', async () => {
    const before = await state();
    const r = await raw('/', { body: 'CREATE TABLE auth_probe (a UInt8) ENGINE = Memory' });
    expect([r.status, r.code]).toEqual([401, '516']);
    expect(r.text).toMatch(/^Code: 516\. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name\. \(AUTHENTICATION_FAILED\)/);
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const get = await raw(`/?query=${encodeURIComponent('SELECT 1')}`);
    expect(get.status).toBe(401);
    // A client without username sends ClickHouse's `default` user with an empty password.
    const anonymous = client({ url: server.url });
    await expect(anonymous.command({ query: 'CREATE TABLE auth_probe (a UInt8) ENGINE = Memory' })).rejects.toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' });
    expect((await anonymous.ping()).success).toBe(true); // /ping runs no SQL and stays open
    expect(await state()).toEqual(before);
  });

  it('refuses a wrong password or an unknown user with 401, by every method', async () => {
    const before = await state();
    const insert = encodeURIComponent("INSERT INTO http_t VALUES (77, 'auth', '2026-01-02 03:04:05.000')");
    for (const headers of [
      basic({ name: WRITER.name, password: 'wrong' }), basic({ name: 'nobody', password: WRITER.password }), basic({ name: WRITER.name, password: '' }),
      { 'x-clickhouse-user': WRITER.name, 'x-clickhouse-key': 'wrong' }, { 'x-clickhouse-user': WRITER.name },
    ]) {
      const r = await raw(`/?query=${insert}`, { body: '', headers });
      expect([r.status, r.code], JSON.stringify(headers)).toEqual([401, '516']);
    }
    const byParams = await raw(`/?user=writer&password=wrong&query=${insert}`, { body: '' });
    expect([byParams.status, byParams.code]).toEqual([401, '516']);
    const wrong = client({ url: server.url, username: WRITER.name, password: 'wrong' });
    await expect(wrong.query({ query: 'SELECT 1', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' });
    // Two methods at once are refused even when both are right, as ClickHouse does.
    const mixed = await raw(`/?user=writer&password=${WRITER.password}&query=SELECT%201`, { headers: basic(WRITER) });
    expect([mixed.status, mixed.code]).toEqual([401, '516']);
    expect(await state()).toEqual(before);
  });

  it('accepts the right credentials by Basic auth, X-ClickHouse headers and URL parameters', async () => {
    const q = `query=${encodeURIComponent('SELECT 41 + 1')}`;
    expect((await raw(`/?${q}`, { headers: basic(READER) })).text).toBe('42\n');
    expect((await raw(`/?${q}`, { headers: { 'x-clickhouse-user': READER.name, 'x-clickhouse-key': READER.password } })).text).toBe('42\n');
    expect((await raw(`/?user=${READER.name}&password=${READER.password}&${q}`)).text).toBe('42\n');
  });

  it('refuses to start without users', async () => {
    await expect(serveClickHouseHttp({ client: owner, users: [] })).rejects.toThrow(TypeError);
    await expect(serveClickHouseHttp({ client: owner, users: [{ name: 'x', password: '', readonly: true }] })).rejects.toThrow(/non-empty password/);
    await expect(serveClickHouseHttp({ client: owner, users: [{ name: 'a:b', password: 'p', readonly: true }] })).rejects.toThrow(TypeError);
  });
});

describe('GET and read-only users', () => {
  it('refuses a write sent by GET, even by the writer: READONLY, nothing changes', async () => {
    const before = await state();
    for (const sql of ["INSERT INTO http_t VALUES (78, 'by get', '2026-01-02 03:04:05.000')", 'CREATE TABLE get_t (a UInt8) ENGINE = Memory', 'DROP TABLE http_t', 'TRUNCATE TABLE http_t', 'ALTER TABLE http_t DELETE WHERE 1']) {
      const r = await raw(`/?query=${encodeURIComponent(sql)}`, { headers: basic(WRITER) });
      expect([r.status, r.code], sql).toEqual([500, '164']);
      expect(r.text).toContain('writer: Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries (READONLY)');
    }
    expect(await state()).toEqual(before);
    // Reads by GET work.
    expect((await raw(`/?query=${encodeURIComponent('SELECT count() FROM http_t')}`, { headers: basic(WRITER) })).text).toBe(`${before.rows.length}\n`);
  });

  it('lets a read-only user read only, by any method: READONLY, nothing changes', async () => {
    await refusedWithoutEffect('164', () => reader.command({ query: 'CREATE TABLE ro_t (a UInt8) ENGINE = Memory' }));
    await refusedWithoutEffect('164', () => reader.insert({ table: 'http_t', values: [{ id: 79, name: 'ro', at: '2026-01-02 03:04:05.000' }], format: 'JSONEachRow' }));
    await refusedWithoutEffect('164', () => reader.command({ query: "INSERT INTO http_t VALUES (79, 'ro', '2026-01-02 03:04:05.000')" }));
    await refusedWithoutEffect('164', () => reader.command({ query: 'DROP TABLE http_t' }));
    await refusedWithoutEffect('164', () => reader.command({ query: 'ALTER TABLE http_t DELETE WHERE 1' }));
    await refusedWithoutEffect('164', () => insertCompactRows(reader, 'http_t', ['id', 'name', 'at'], Buffer.from('[80,"ro","2026-01-02 03:04:05.000"]\n')));
    const err = await refusedWithoutEffect('164', () => reader.command({ query: 'OPTIMIZE TABLE http_t FINAL' }));
    expect(err.message.trim()).toBe('reader: Cannot execute query in readonly mode');
    // ClickHouse's own readonly setting holds the session the reader runs on, and cannot be lifted.
    expect(await one(reader, "SELECT getSetting('readonly') AS r")).toEqual({ r: 2 });
    await expect(reader.query({ query: 'SELECT 1 SETTINGS readonly = 0', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '164', type: 'READONLY' });
    // Reads: SELECT, WITH … SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN.
    expect(await one(reader, 'WITH 2 AS x SELECT count() * x AS n FROM http_t')).toEqual({ n: String((await state()).rows.length * 2) });
    expect(await (await reader.query({ query: 'SHOW TABLES', format: 'JSONEachRow' })).json()).toContainEqual({ name: 'http_t' });
    expect((await (await reader.query({ query: 'DESCRIBE TABLE http_t', format: 'JSONEachRow' })).json<{ name: string }>()).map((c) => c.name)).toEqual(['id', 'name', 'at']);
    expect(await one(reader, 'EXISTS TABLE http_t')).toEqual({ result: 1 });
    expect(await (await reader.query({ query: 'EXPLAIN SELECT count() FROM http_t', format: 'JSONEachRow' })).json()).not.toEqual([]);
  });

  it('runs the platform\'s own statements: the API\'s analytics queries as the reader, the replay\'s as the writer', async () => {
    const range = { from: new Date(Date.UTC(2026, 0, 1)), to: new Date(Date.UTC(2026, 0, 2)) };
    expect(await streamAnalytics(reader, { channelId: 'chan-a', sessionId: 'sess-a', ...range, intervalSeconds: 3600 })).toMatchObject({ uniqueViewers: 0, series: expect.any(Array) });
    expect(await streamAnalytics(reader, { channelId: 'chan-a', ...range, intervalSeconds: 3600 })).toMatchObject({ playbackSessions: 0 });
    expect(await analyticsOverview(reader, range)).toMatchObject({ uniqueViewers: 0, topChannels: [] });
    // What `replay analytics` sends (apps/cli/src/replay-analytics.ts), and the projector's compact insert.
    expect(await one(remote, 'EXISTS TABLE domain_events')).toEqual({ result: 1 });
    await remote.command({ query: 'DROP TABLE IF EXISTS domain_events_replay SYNC' });
    await remote.command({ query: 'CREATE TABLE domain_events_replay AS domain_events' });
    await remote.command({ query: 'INSERT INTO domain_events_replay SELECT * FROM domain_events' });
    await remote.insert({
      table: 'domain_events_replay', format: 'JSONEachRow',
      values: [{ event_id: 'e1', stream_seq: 1, type: 'T', version: 1, occurred_at: '2026-01-01 00:00:00.000', subject: 's', channel_id: 'c', session_id: '', user_id: '', producer: 'p', data: '{"x":"a;b"}' }],
    });
    await insertCompactRows(remote, 'domain_events_replay', ['event_id', 'stream_seq', 'type', 'version', 'occurred_at', 'subject', 'channel_id', 'session_id', 'user_id', 'producer', 'data'],
      Buffer.from('["e2",2,"T",1,"2026-01-01 00:00:01.000","s","c","","","p","{}"]\n'));
    expect(await one(remote, 'SELECT count() AS n FROM domain_events_replay FINAL')).toEqual({ n: '2' });
    await remote.command({ query: 'EXCHANGE TABLES domain_events AND domain_events_replay' });
    await remote.command({ query: 'EXCHANGE TABLES domain_events AND domain_events_replay' });
    await remote.command({ query: 'DROP TABLE IF EXISTS domain_events_replay SYNC' });
    expect(await one(reader, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name LIKE '%\\_replay'")).toEqual({ n: '0' });
  });
});

describe('no filesystem, processes or network, for any user', () => {
  const hostname = existsSync('/etc/hostname') ? readFileSync('/etc/hostname', 'utf8').trim() : '';

  it('refuses the file() table function and reads nothing', async () => {
    for (const c of [quiet, reader]) {
      const err = await refusedWithoutEffect('446', () => c.query({ query: "SELECT * FROM file('/etc/hostname', 'RawBLOB')", format: 'JSONEachRow' }));
      expect(err.type).toBe('FUNCTION_NOT_ALLOWED');
      expect(err.message).toMatch(/^Table function file is not allowed on this server/);
      if (hostname) expect(err.message).not.toContain(hostname);
    }
    const r = await raw('/', { body: "SELECT * FROM file('/etc/hostname', 'RawBLOB')", headers: basic(WRITER) });
    expect([r.status, r.code]).toEqual([403, '446']);
    expect(r.text).toMatch(/^Code: 446\. DB::Exception: Table function file is not allowed on this server .*\(FUNCTION_NOT_ALLOWED\)/);
    // Case, quoting, joins, subqueries and DESCRIBE do not get it through.
    for (const sql of [
      "SELECT * FROM FILE('/etc/hostname', 'RawBLOB')", "SELECT * FROM `file`('/etc/hostname', 'RawBLOB')",
      "SELECT * FROM http_t JOIN file('/etc/hostname', 'RawBLOB') AS f ON 1", "SELECT * FROM (SELECT * FROM file('/etc/hostname', 'RawBLOB'))",
      "SELECT * FROM http_t WHERE name IN (SELECT * FROM file('/etc/hostname', 'RawBLOB'))", "DESCRIBE file('/etc/hostname', 'RawBLOB')",
      "WITH x AS (SELECT * FROM file('/etc/hostname', 'RawBLOB')) SELECT * FROM x", "SELECT * FROM view(SELECT * FROM file('/etc/hostname', 'RawBLOB'))",
    ]) await refusedWithoutEffect('446', () => quiet.query({ query: sql, format: 'JSONEachRow' }));
  });

  it('refuses INSERT INTO FUNCTION file(…) and writes no file', async () => {
    const out = join(scratch, 'insert-function.csv');
    const err = await refusedWithoutEffect('446', () => quiet.command({ query: `INSERT INTO FUNCTION file('${out}', 'CSV') SELECT 1` }));
    expect(err.message).toMatch(/^INSERT INTO FUNCTION file is not allowed/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses the scalar file() function', async () => {
    for (const sql of ["SELECT file('/etc/hostname') AS f", "SELECT length(FiLe('/etc/hostname')) AS n", "SELECT id FROM http_t WHERE name = file('/etc/hostname')"]) {
      const err = await refusedWithoutEffect('446', () => quiet.query({ query: sql, format: 'JSONEachRow' }));
      expect(err.message).toMatch(/^Function file is not allowed/i);
    }
    // Nor as an expression in VALUES rows (evaluated by the rows' parser, which this server limits to literals).
    await refusedWithoutEffect('344', () => quiet.command({ query: "INSERT INTO http_t VALUES (81, file('/etc/hostname'), '2026-01-02 03:04:05.000')" }));
  });

  it('refuses ENGINE = File(…) and creates neither the table nor the file', async () => {
    const out = join(scratch, 'engine-file.csv');
    const err = await refusedWithoutEffect('446', () => quiet.command({ query: `CREATE TABLE f_t (a UInt8) ENGINE = File(CSV, '${out}')` }));
    expect(err.message).toMatch(/^Table engine File is not allowed/);
    for (const sql of [`CREATE TABLE u_t (a UInt8) ENGINE = URL('http://127.0.0.1:1/x', CSV)`, 'CREATE TABLE e_t (a UInt8) ENGINE = Executable(\'x.sh\', CSV)', 'CREATE TABLE d_t (a UInt8) ENGINE = Distributed(c, default, http_t)']) {
      await refusedWithoutEffect('446', () => quiet.command({ query: sql }));
    }
    // A table's custom disk at a path of its own.
    const disk = join(scratch, 'disk');
    await refusedWithoutEffect('452', () => quiet.command({ query: `CREATE TABLE k_t (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS disk = disk(type = 'local', path = '${disk}/')` }));
    await refusedWithoutEffect('446', () => quiet.command({ query: `CREATE TABLE k_t (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS storage_policy = 'default', d = disk(type = 'local', path = '${disk}/')` }));
    expect(existsSync(out) || existsSync(disk)).toBe(false);
  });

  it('refuses SELECT … INTO OUTFILE and INSERT … FROM INFILE, and writes or reads no file', async () => {
    const out = join(scratch, 'outfile.csv');
    const err = await refusedWithoutEffect('497', () => quiet.query({ query: `SELECT * FROM http_t INTO OUTFILE '${out}'`, format: 'CSV' }));
    expect(err.message).toMatch(/INTO OUTFILE/);
    for (const sql of [`SELECT 1 INTO OUTFILE '${out}' AND STDOUT`, `SHOW TABLES INTO OUTFILE '${out}'`, `DESCRIBE TABLE http_t INTO OUTFILE '${out}'`, `EXPLAIN SELECT 1 INTO OUTFILE '${out}'`, `EXISTS TABLE http_t INTO OUTFILE '${out}'`]) {
      await refusedWithoutEffect('497', () => quiet.command({ query: sql }));
      await refusedWithoutEffect('497', () => reader.command({ query: sql }));
    }
    expect(existsSync(out)).toBe(false);
    await refusedWithoutEffect('497', () => quiet.command({ query: "INSERT INTO http_t FROM INFILE '/etc/hostname' FORMAT TSV" }));
  });

  it('refuses the other table functions that reach files, processes, the network or other servers', async () => {
    for (const sql of [
      "SELECT * FROM url('http://127.0.0.1:1/x', CSV, 'a String')", "SELECT * FROM s3('http://127.0.0.1:1/b/k', CSV, 'a String')",
      "SELECT * FROM remote('127.0.0.1:1', system.one)", "SELECT * FROM remoteSecure('127.0.0.1:1', system.one)", "SELECT * FROM cluster('default', system.one)",
      "SELECT * FROM clusterAllReplicas('default', system.one)", "SELECT * FROM hdfs('hdfs://127.0.0.1:1/x', CSV, 'a String')",
      "SELECT * FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')", "SELECT * FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')",
      "SELECT * FROM jdbc('x', 'y')", "SELECT * FROM odbc('x', 'y', 'z')", "SELECT * FROM executable('x.sh', CSV, 'a String')",
      "SELECT * FROM python(x)", "SELECT * FROM azureBlobStorage('x', 'y', 'z')", "SELECT * FROM gcs('http://127.0.0.1:1/x')",
      "SELECT * FROM icebergS3('http://127.0.0.1:1/x')", "SELECT * FROM deltaLake('http://127.0.0.1:1/x')", "SELECT * FROM hudi('http://127.0.0.1:1/x')",
      "SELECT * FROM mongodb('127.0.0.1:1', 'd', 'c', 'u', 'p', 'a String')", "SELECT * FROM redis('127.0.0.1:1', 'k', 'k String')",
      "SELECT * FROM sqlite('/tmp/x.db', 't')", "SELECT * FROM fileCluster('default', '/etc/hostname')", "SELECT * FROM s3Cluster('default', 'http://127.0.0.1:1/x')",
      "SELECT * FROM urlCluster('default', 'http://127.0.0.1:1/x')", "SELECT * FROM filesystem('/')", "SELECT * FROM dictionary('d')",
    ]) {
      const err = await refusedWithoutEffect('446', () => quiet.query({ query: sql, format: 'JSONEachRow' }));
      expect(err.message, sql).toMatch(/^(?:Table function|Function) \S+ is not allowed/);
    }
    await refusedWithoutEffect('446', () => quiet.command({ query: "INSERT INTO http_t SELECT * FROM input('id UInt64, name String, at DateTime64(3)') FORMAT CSV" }));
  });

  it('refuses SYSTEM, BACKUP, RESTORE, ATTACH, dictionaries, SET, USE and other statements it does not classify', async () => {
    const backup = join(scratch, 'backup');
    for (const sql of [
      'SYSTEM FLUSH LOGS', `BACKUP TABLE http_t TO File('${backup}')`, `RESTORE TABLE http_t FROM File('${backup}')`,
      `ATTACH TABLE a_t FROM '${scratch}' (a UInt8) ENGINE = MergeTree ORDER BY a`, 'DETACH TABLE http_t',
      "CREATE DICTIONARY d_x (a UInt64) PRIMARY KEY a SOURCE(FILE(path '/etc/passwd' format 'CSV')) LAYOUT(FLAT()) LIFETIME(0)",
      "CREATE DATABASE fs_db ENGINE = Filesystem('/')", 'CREATE FUNCTION f_x AS (x) -> x + 1', 'SET max_threads = 1', 'USE system',
      'KILL QUERY WHERE 1', 'SHOW GRANTS', 'ALTER TABLE http_t FREEZE', "ALTER TABLE http_t MODIFY SETTING index_granularity = 100",
      'UNDROP TABLE http_t', 'EXPLAIN SYNTAX INSERT INTO http_t SELECT * FROM http_t',
    ]) {
      const err = await refusedWithoutEffect(sql.includes('FILE(') || sql.includes('File(') || sql.includes('Filesystem') ? '446' : '497', () => quiet.command({ query: sql }));
      expect(err.message, sql).toMatch(/is not allowed on this server/);
    }
    expect(existsSync(backup)).toBe(false);
  });

  it('refuses settings that name paths, reach the network, change parsing or lock the session', async () => {
    for (const settings of [{ format_schema: '/etc/passwd' }, { readonly: 1 }, { allow_ddl: 0 }, { dialect: 'prql' }, { input_format_values_interpret_expressions: 1 }, { default_table_engine: 'File' }, { output_format_schema: join(scratch, 's') }]) {
      await refusedWithoutEffect('452', () => quiet.query({ query: 'SELECT 1', format: 'JSONEachRow', clickhouse_settings: settings as never }));
    }
    await refusedWithoutEffect('452', () => quiet.exec({ query: "SELECT 1 FORMAT Template SETTINGS format_template_resultset = '/etc/passwd'" }));
    await refusedWithoutEffect('452', () => quiet.command({ query: "INSERT INTO http_t SETTINGS input_format_values_interpret_expressions = 1 VALUES (82, file('/etc/hostname'), now())" }));
    // A value that would end the `SET name = '…'` literal chDB's connection builds (for a string setting, the DROP would run).
    await refusedWithoutEffect('36', () => quiet.query({ query: 'SELECT 1', format: 'JSONEachRow', clickhouse_settings: { log_comment: "\\'; DROP TABLE http_t; --" } }));
    // The owner's session is not locked: the writer still writes.
    await remote.command({ query: 'CREATE TABLE still_writable (a UInt8) ENGINE = Memory' });
    await remote.command({ query: 'DROP TABLE still_writable' });
  });

  it('refuses several statements in one request, and runs none of them', async () => {
    for (const sql of [
      "INSERT INTO http_t VALUES (83, 'multi', '2026-01-02 03:04:05.000'); DROP TABLE http_t", 'SELECT 1; DROP TABLE http_t',
      "SELECT ';'; DROP TABLE http_t", 'SELECT 1 -- ; DROP TABLE http_t',
    ]) {
      const err = await refusedWithoutEffect('62', () => quiet.command({ query: sql }));
      expect(err.message).toMatch(/^Multi-statements are not allowed/);
    }
    // VALUES rows in the body are split at ';' by chDB: refused too.
    const r = await raw(`/?query=${encodeURIComponent('INSERT INTO http_t VALUES')}`, { body: "(84, 'x', '2026-01-02 03:04:05.000'); DROP TABLE http_t", headers: basic(WRITER) });
    expect([r.status, r.code]).toEqual([400, '62']);
    // A body next to a statement other than an INSERT taking rows is refused (it would be appended to the SQL).
    const tail = await raw(`/?query=${encodeURIComponent('SELECT 1')}`, { body: ' UNION ALL SELECT * FROM file(\'/etc/hostname\')', headers: basic(WRITER) });
    expect([tail.status, tail.code]).toEqual([400, '497']);
    // A trailing ';' is fine.
    expect(await one(remote, 'SELECT 7 AS n;')).toEqual({ n: 7 });
  });

  it('never runs a statement hidden after the rows of an INSERT, in any format it accepts', async () => {
    await remote.command({ query: 'CREATE TABLE canary (a UInt8) ENGINE = Memory' });
    await remote.command({ query: 'CREATE TABLE canary_rows (a UInt8) ENGINE = Memory' });
    for (const [format, row] of [['JSONEachRow', '{"a":1}'], ['JSONCompactEachRow', '[1]'], ['CSV', '1'], ['TabSeparated', '1'], ['TSVWithNames', 'a\n1'], ['JSONStringsEachRow', '{"a":"1"}']] as const) {
      const r = await raw(`/?query=${encodeURIComponent(`INSERT INTO canary_rows FORMAT ${format}`)}`, { body: `${row}\n;\nDROP TABLE canary`, headers: basic(WRITER) });
      expect(r.status, format).not.toBe(200);
      expect(await one(owner, 'EXISTS TABLE canary'), format).toEqual({ result: 1 });
    }
    expect(await one(owner, 'SELECT count() AS n FROM canary_rows')).toEqual({ n: '0' });
    // Binary formats are not taken (the rows would be decoded as text).
    const binary = await raw(`/?query=${encodeURIComponent('INSERT INTO canary_rows FORMAT RowBinary')}`, { body: '\u0001', headers: basic(WRITER) });
    expect([binary.status, binary.code]).toEqual([403, '497']);
    expect(await one(owner, 'SELECT count() AS n FROM canary_rows')).toEqual({ n: '0' });
  });

  it('runs nothing while it inspects a statement: no implicit SELECT behind EXPLAIN AST', async () => {
    const out = join(scratch, 'implicit.csv');
    for (const sql of [", file('/etc/hostname') FROM (SELECT 1 AS EXPLAIN)", `, 1 FROM (SELECT 1 AS EXPLAIN) INTO OUTFILE '${out}'`, "file('/etc/hostname')"]) {
      const err = await refusedWithoutEffect('62', () => quiet.command({ query: sql }));
      if (hostname) expect(err.message).not.toContain(hostname);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a statement whose parse tree an identifier tries to forge', async () => {
    await refusedWithoutEffect('497', () => quiet.query({ query: 'SELECT 1 AS `x\n Function numbers`', format: 'JSONEachRow' }));
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
