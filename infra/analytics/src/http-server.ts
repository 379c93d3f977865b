/**
 * A ClickHouse HTTP interface in front of an embedded chDB client, so that the one process that
 * owns a chDB directory can serve the other processes of the platform, which keep using the
 * normal `@clickhouse/client` with `url` (ClickHouse docs "HTTP Interface"). It behaves like a
 * ClickHouse server with password users, a readonly profile and no file, process or network
 * access; see {@link serveClickHouseHttp}.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions, type ClickHouseSettings } from '@clickhouse/client';
import type { createChdbConnection as CreateChdbConnection } from 'chdb/connection';
import { chdbConnectionOf } from './client.js';
import { ClickHouseHttpError, clickHouseErrorBody } from './http-error.js';
import { AUTH_REALM, createUserDirectory, credentialsOf, type ClickHouseHttpUser } from './http-auth.js';
import { decodeQueryParams } from './query-params.js';
import { PINNED_SETTINGS, checkSettingName, checkSettingValue, checkValuesRows, classifyStatement, statementText, type StatementClass } from './sql-guard.js';

export type { ClickHouseHttpUser } from './http-auth.js';

/** Version string the server reports in errors and `X-ClickHouse-Server-Display-Name`. */
const SERVER_NAME = 'live-analytics-chdb';

/** A pino-compatible logger (only the two levels used). */
export interface HttpServerLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Options of {@link serveClickHouseHttp}. */
export interface ClickHouseHttpServerOptions {
  /**
   * The owner's chDB client (`createAnalyticsClient({ chdbPath })`): writes run on it. Not
   * closed by the server. The server opens a second, read-only chDB session on the same
   * directory for reads of read-only users and GET requests.
   */
  readonly client: ClickHouseClient;
  /** Who may connect (at least one). Credentials are required for every request but `/ping`. */
  readonly users: readonly ClickHouseHttpUser[];
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Largest accepted request body after decompression, bytes; default 64 MiB (HTTP 413 beyond). */
  readonly maxBodyBytes?: number;
  /**
   * Settings every request starts from, like a server's profile; default
   * `{ output_format_json_quote_64bit_integers: 1 }` (the ClickHouse server default that chDB
   * does not share: JSON formats quote 64-bit integers).
   */
  readonly serverDefaults?: ClickHouseSettings;
  readonly logger?: HttpServerLogger;
}

/** A listening server; `close()` stops accepting, ends idle keep-alive sockets, closes its read-only session, and resolves when closed. */
export interface ClickHouseHttpServer {
  /** `http://<host>:<port>`, what `createClient({ url })` takes (with `username` and `password`). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Settings of the HTTP layer itself (ClickHouse docs "HTTP Interface"); never forwarded as engine settings. */
const HTTP_ONLY_SETTINGS: ReadonlySet<string> = new Set([
  'enable_http_compression', 'http_zlib_compression_level', 'wait_end_of_query', 'send_progress_in_http_headers',
  'http_headers_progress_interval_ms', 'http_send_progress_interval_ms', 'http_response_buffer_size',
  'http_native_compression_disable_checksumming_on_decompress', 'http_response_compression_method',
]);
/** URL parameters that are not settings (ClickHouse docs "HTTP Interface"). `session_*`: the server has no sessions. */
const NON_SETTING_PARAMS: ReadonlySet<string> = new Set([
  'query', 'query_id', 'database', 'default_format', 'session_id', 'session_timeout', 'session_check', 'role', 'user', 'password',
  'quota_key', 'compress', 'decompress', 'buffer_size', 'stacktrace', 'client_protocol_version',
]);
const JSON_FORMATS = /^JSON/i;

// `chdb/connection` is loaded by `createAnalyticsClient` already (the owner client is a chDB one).
const require = createRequire(import.meta.url);

/**
 * Opens a second chDB session on the owner's directory, pinned to ClickHouse's `readonly = 2`
 * (reads, and changes of settings other than `readonly`; `SET readonly = 0` is refused by the
 * engine) and to `PINNED_SETTINGS`. chDB runs several sessions on one directory in one process;
 * each has its own settings.
 * @throws TypeError when `client` is not a chDB client; Error when the session is not read-only.
 */
async function openReadonlySession(client: ClickHouseClient): Promise<ClickHouseClient> {
  const path = chdbConnectionOf(client)?.chdb.session.path;
  if (!path) throw new TypeError('serveClickHouseHttp: `client` must be an embedded chDB client (createAnalyticsClient({ chdbPath }))');
  const { createChdbConnection } = require('chdb/connection') as { createChdbConnection: typeof CreateChdbConnection };
  const connection = createChdbConnection({ path }) as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>;
  const ro = createClient({ connection });
  try {
    for (const [name, value] of Object.entries(PINNED_SETTINGS)) await ro.command({ query: `SET ${name} = ${value}` });
    await ro.command({ query: 'SET readonly = 2' });
    const [row] = await (await ro.query({ query: "SELECT getSetting('readonly') AS r", format: 'JSONEachRow' })).json<{ r: string | number }>();
    if (Number(row?.r) !== 2) throw new Error('the read-only chDB session did not take readonly = 2');
    return ro;
  } catch (err) {
    await ro.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Serves the ClickHouse HTTP interface (the subset `@clickhouse/client` 1.23 uses) on
 * `host:port` over embedded chDB, like a ClickHouse server configured with `users`:
 * - `GET /ping` (and `GET /` without a query) answers `Ok.\n` without credentials;
 * - every other request must name a user of `users` (HTTP Basic auth, `X-ClickHouse-User` /
 *   `X-ClickHouse-Key`, or `user` / `password` URL parameters: one method per request);
 *   otherwise HTTP 401, `WWW-Authenticate: Basic`, `Code: 516 … (AUTHENTICATION_FAILED)` (a
 *   ClickHouse server answers a wrong password with 403; 401 here for both cases);
 * - `POST /?query_id=…&<setting>=…&param_<name>=…` with the SQL in the body, `POST
 *   /?query=INSERT INTO t FORMAT JSONEachRow&…` with the rows in the body, `GET /?query=…`.
 * One statement per request (a `;` only at its end). Before it runs, ClickHouse's parser
 * inspects it on the read-only session (`EXPLAIN AST` and `formatQuerySingleLine`, with the
 * request's parameters bound; nothing is executed) and `classifyStatement` (`sql-guard.ts`)
 * refuses, for every user, what reaches files, processes or the network — table functions,
 * functions, engines, dictionaries, `INTO OUTFILE`, `FROM INFILE`, SYSTEM, BACKUP, ATTACH,
 * settings that name paths — and tells reads from writes. A GET request, and every request of a
 * `readonly` user, may run only reads (else `Code: 164 … (READONLY)`, HTTP 500 as on a
 * ClickHouse server) and runs on the read-only session (`readonly = 2`, enforced by the engine
 * too); a writer's POST runs on `client`. Every statement runs with `PINNED_SETTINGS`. Settings
 * in the URL are checked by name and value (`checkSettingName`, `checkSettingValue`). A body
 * next to `?query=` is INSERT rows, in a text format of the guard's list.
 *
 * Query parameters arrive as `param_<name>` in the escaped text form ClickHouse parses for the
 * placeholder's type and are bound by the engine, never spliced into the SQL
 * (`decodeQueryParams`). `database` other than `default` is refused (`UNKNOWN_DATABASE`).
 * `session_id` is ignored. Request bodies may be gzip/deflate/br compressed; with
 * `enable_http_compression=1` the response is compressed per `Accept-Encoding`.
 *
 * Errors are answered like a ClickHouse server: the status ClickHouse maps the code to
 * (`httpStatusOfCode`; refusals by the guard 403, 413 for a body over `maxBodyBytes`),
 * `X-ClickHouse-Exception-Code`, and `Code: N. DB::Exception: <message> (TYPE)`, which the
 * client's `parseError` turns into a `ClickHouseError` with `code` and `type`.
 *
 * Statements run one at a time, in arrival order (chDB applies settings with `SET` on a
 * session), each with `serverDefaults`, the default again of every setting an earlier request
 * changed, and its own settings.
 * @throws TypeError when `users` is empty or malformed, or `client` is not a chDB client; the
 *   `listen` error (e.g. `EADDRINUSE`) when the port cannot be bound.
 */
export async function serveClickHouseHttp(opts: ClickHouseHttpServerOptions): Promise<ClickHouseHttpServer> {
  const { client, logger } = opts;
  const users = createUserDirectory(opts.users);
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? 64 * 1024 * 1024;
  const serverDefaults: ClickHouseSettings = opts.serverDefaults ?? { output_format_json_quote_64bit_integers: 1 };
  /** Value each setting ever changed by a request goes back to; starts as the server defaults. */
  const baseline = new Map<string, unknown>(Object.entries(serverDefaults));
  const ro = await openReadonlySession(client);
  let queue: Promise<unknown> = Promise.resolve();

  function serially<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  }

  async function learnDefaults(names: string[]): Promise<void> {
    const unknown = names.filter((k) => !baseline.has(k));
    if (unknown.length === 0) return;
    // Names passed checkSettingName ([A-Za-z0-9_]), so they are safe as literals.
    const rs = await ro.query({
      query: `SELECT name, default FROM system.settings WHERE name IN (${unknown.map((k) => `'${k}'`).join(', ')})`,
      format: 'JSONEachRow',
    });
    for (const r of await rs.json<{ name: string; default: string }>()) baseline.set(r.name, r.default);
  }

  async function textOf(query: string, params: Record<string, unknown>, bytes: number): Promise<string> {
    const result = await ro.exec({
      query, query_params: params,
      // PINNED_SETTINGS here too: with chDB's default implicit_select, `EXPLAIN AST , file('/x') FROM (SELECT 1 AS EXPLAIN)` runs as a SELECT.
      clickhouse_settings: { ...Object.fromEntries(baseline), ...PINNED_SETTINGS, max_query_size: String(Math.max(262_144, bytes + 4096)), default_format: 'TSVRaw' } as unknown as ClickHouseSettings,
    });
    return (await readAll(result.stream)).toString('utf8');
  }

  /** ClickHouse's parser's view of the statement (executes nothing), classified. */
  async function inspect(stmt: string, params: Record<string, unknown>): Promise<StatementClass> {
    const bytes = Buffer.byteLength(stmt);
    const ast = await textOf(`EXPLAIN AST ${stmt}`, params, bytes).catch((err: unknown) => {
      // Positions in a syntax error count from the start of the statement, not of `EXPLAIN AST `.
      const e = toHttpError(err);
      const shift = (n: string): number => Math.max(1, Number(n) - 'EXPLAIN AST '.length);
      throw new ClickHouseHttpError(e.code, e.type, e.message.replace(/(position |line 1, col )(\d+)/g, (_m, p: string, n: string) => `${p}${shift(n)}`), e.status);
    });
    const normalized = await textOf('SELECT formatQuerySingleLine({q:String})', { q: stmt }, bytes);
    return classifyStatement(ast, normalized.replace(/\n$/, ''));
  }

  async function run(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/ping' || (url.pathname === '/' && method === 'GET' && !url.searchParams.has('query'))) {
      req.resume();
      if (method !== 'GET' && method !== 'HEAD') throw new ClickHouseHttpError(1, 'UNSUPPORTED_METHOD', `HTTP method ${method} is not allowed for ${url.pathname}`, 405);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      req.resume();
      throw new ClickHouseHttpError(1, 'UNSUPPORTED_METHOD', `There is no handle ${url.pathname}`, 404);
    }
    if (method !== 'GET' && method !== 'POST') {
      req.resume();
      throw new ClickHouseHttpError(1, 'UNSUPPORTED_METHOD', `HTTP method ${method} is not allowed`, 405);
    }
    let user: ClickHouseHttpUser;
    try {
      user = users.authenticate(credentialsOf(req.headers, url.searchParams));
    } catch (err) {
      req.resume();
      throw err;
    }
    if (/^multipart\//i.test(req.headers['content-type'] ?? '')) {
      req.resume();
      throw new ClickHouseHttpError(1, 'UNSUPPORTED_METHOD', 'multipart/form-data requests (use_multipart_params) are not supported by this server: send query parameters in the URL', 400);
    }
    const body = method === 'POST' ? await readBody(req, maxBodyBytes) : Buffer.alloc(0);

    const queryId = url.searchParams.get('query_id') || randomUUID();
    const database = url.searchParams.get('database');
    if (database !== null && database !== '' && database !== 'default') {
      throw new ClickHouseHttpError(81, 'UNKNOWN_DATABASE', `Database ${database} does not exist: this server (embedded chDB) runs every query in \`default\``, 400);
    }
    const format = url.searchParams.get('default_format') || 'TabSeparated';
    if (!/^[A-Za-z0-9_]{1,64}$/.test(format)) throw new ClickHouseHttpError(73, 'UNKNOWN_FORMAT', `Unknown format ${JSON.stringify(format.slice(0, 64))}`);
    const rawParams = new Map<string, string>();
    const settings: Record<string, unknown> = {};
    for (const [key, value] of url.searchParams) {
      if (key.startsWith('param_')) rawParams.set(key.slice('param_'.length), value);
      else if (NON_SETTING_PARAMS.has(key) || HTTP_ONLY_SETTINGS.has(key)) continue;
      else {
        checkSettingName(key);
        checkSettingValue(key, value);
        settings[key] = value;
      }
    }
    const compressResponse = url.searchParams.get('enable_http_compression') === '1';

    const urlQuery = url.searchParams.get('query');
    const stmt = statementText(urlQuery ?? body.toString('utf8'));
    const values = urlQuery !== null && body.length > 0 ? body : undefined;
    const queryParams = decodeQueryParams(stmt, rawParams);
    // ClickHouse sets readonly for GET (ClickHouse docs "HTTP Interface"); a readonly user's profile does for every method.
    const readonly = method === 'GET' || user.readonly;

    const { output, summary } = await serially(async () => {
      await learnDefaults(Object.keys(settings));
      const cls = await inspect(stmt, queryParams);
      if (values !== undefined) {
        if (cls.insertFormat === null) {
          throw new ClickHouseHttpError(497, 'ACCESS_DENIED', 'A request body next to ?query= holds INSERT rows: ?query= must then be INSERT INTO <table> … FORMAT <format> (or VALUES)', 400);
        }
        if (cls.insertFormat.toLowerCase() === 'values') checkValuesRows(values);
      }
      if (readonly && cls.access !== 'read') {
        throw new ClickHouseHttpError(164, 'READONLY', method === 'GET' && !user.readonly
          ? `${user.name}: Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries`
          : `${user.name}: Cannot execute query in readonly mode`);
      }
      const result = await (readonly ? ro : client).exec({
        query: stmt,
        query_id: queryId,
        query_params: queryParams,
        clickhouse_settings: { ...Object.fromEntries(baseline), ...PINNED_SETTINGS, ...settings, default_format: format } as ClickHouseSettings,
        ...(values !== undefined ? { values: Readable.from([values]) } : {}),
      });
      return { output: await readAll(result.stream), summary: result.summary };
    });

    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': JSON_FORMATS.test(formatOf(stmt, format)) ? 'application/json; charset=UTF-8' : 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Format': formatOf(stmt, format),
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': SERVER_NAME,
    };
    if (summary) headers['X-ClickHouse-Summary'] = JSON.stringify(summary);
    const encoding = compressResponse ? pickEncoding(req.headers['accept-encoding']) : undefined;
    if (encoding) {
      headers['Content-Encoding'] = encoding;
      res.writeHead(200, headers).end(encoding === 'gzip' ? zlib.gzipSync(output) : encoding === 'br' ? zlib.brotliCompressSync(output) : zlib.deflateSync(output));
    } else {
      res.writeHead(200, headers).end(output);
    }
  }

  const server = http.createServer((req, res) => {
    run(req, res).catch((err: unknown) => {
      const e = toHttpError(err);
      logger?.debug({ err: e.message, code: e.code, type: e.type, status: e.status }, 'clickhouse http: request refused or failed');
      if (res.headersSent) { res.destroy(); return; }
      res.writeHead(e.status, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Exception-Code': String(e.code),
        'X-ClickHouse-Server-Display-Name': SERVER_NAME,
        ...(e.status === 401 ? { 'WWW-Authenticate': `Basic realm="${AUTH_REALM}", charset="UTF-8"` } : {}),
      }).end(clickHouseErrorBody(e, SERVER_NAME));
    });
  });
  // Longer than the client's idle socket TTL (2.5 s), so that the client drops a socket first.
  server.keepAliveTimeout = 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
    });
  } catch (err) {
    await ro.close().catch(() => undefined);
    throw err;
  }
  server.on('error', (err) => logger?.warn({ err: err.message }, 'clickhouse http: server error'));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => (closed ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await queue;
      await ro.close();
    })()),
  };
}

/** chDB's own error text: `Code: N. DB::Exception: <message> (TYPE)`, the type being the last parenthesized name. */
const CHDB_ERROR = /^Code: (\d+)\. DB::Exception: ([\s\S]*?)\.? \(([A-Z][A-Z0-9_]+)\)(?: \(version [^)]*\))?\.?\s*$/;

function toHttpError(err: unknown): ClickHouseHttpError {
  if (err instanceof ClickHouseHttpError) return err;
  const e = err as { code?: unknown; type?: unknown; message?: unknown; cause?: { message?: unknown } };
  // The chDB connection parses its error with @clickhouse/client's parseError, which takes the
  // first parenthesized capitals as the type (e.g. `(TABLE)` of a syntax error): re-read the original.
  const original = typeof e?.cause?.message === 'string' ? CHDB_ERROR.exec(e.cause.message) : null;
  if (original) return new ClickHouseHttpError(Number(original[1]), original[3]!, original[2]!);
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // ClickHouseError: `code` is the numeric code as a string, `type` the error name.
  if (typeof e?.type === 'string' && /^\d+$/.test(String(e.code))) return new ClickHouseHttpError(Number(e.code), e.type, message);
  return new ClickHouseHttpError(1001, 'STD_EXCEPTION', message);
}

async function readAll(stream: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** The format of the result: the SQL's trailing `FORMAT <name>`, else the default. */
function formatOf(sql: string, fallback: string): string {
  const m = /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql);
  return m?.[1] ?? fallback;
}

function pickEncoding(accept: string | undefined): 'gzip' | 'br' | 'deflate' | undefined {
  const a = (accept ?? '').toLowerCase();
  if (a.includes('gzip')) return 'gzip';
  if (a.includes('br')) return 'br';
  if (a.includes('deflate')) return 'deflate';
  return undefined;
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  let source: NodeJS.ReadableStream = req;
  if (encoding === 'gzip') source = req.pipe(zlib.createGunzip());
  else if (encoding === 'deflate') source = req.pipe(zlib.createInflate());
  else if (encoding === 'br') source = req.pipe(zlib.createBrotliDecompress());
  else if (encoding === 'zstd' && typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function') {
    source = req.pipe((zlib as unknown as { createZstdDecompress(): NodeJS.ReadWriteStream }).createZstdDecompress());
  } else if (encoding !== '' && encoding !== 'identity') {
    req.resume();
    throw new ClickHouseHttpError(1, 'UNSUPPORTED_METHOD', `Unknown Content-Encoding ${encoding}`, 400);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        req.resume();
        throw new ClickHouseHttpError(307, 'TOO_MANY_BYTES', `Request body larger than ${max} bytes`, 413);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ClickHouseHttpError) throw err;
    throw new ClickHouseHttpError(1, 'CANNOT_DECOMPRESS', `Cannot read the request body: ${(err as Error).message}`, 400);
  }
  return Buffer.concat(chunks);
}
