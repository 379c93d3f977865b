/**
 * A minimal ClickHouse HTTP interface in front of a `@clickhouse/client` client, so that the
 * one process that owns an embedded chDB directory can serve the other processes of the
 * platform, which keep using the normal `@clickhouse/client` with `url` (ClickHouse docs "HTTP
 * Interface"). Implements what `@clickhouse/client` 1.23 sends; see {@link serveClickHouseHttp}.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { TupleParam, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';

/** Version string the server reports in errors and `X-ClickHouse-Server-Display-Name`. */
const SERVER_NAME = 'live-analytics-chdb';

/** A pino-compatible logger (only the two levels used). */
export interface HttpServerLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Options of {@link serveClickHouseHttp}. */
export interface ClickHouseHttpServerOptions {
  /** The client every request runs on: in the embedded stack, the owner's chDB client. Not closed by the server. */
  readonly client: ClickHouseClient;
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to bind; default `127.0.0.1` (the server has no authentication: keep it on loopback). */
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

/** A listening server; `close()` stops accepting, ends idle keep-alive sockets and resolves when closed. */
export interface ClickHouseHttpServer {
  /** `http://<host>:<port>`, what `createClient({ url })` takes. */
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
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const JSON_FORMATS = /^JSON/i;

/** An error answered in ClickHouse's format: `Code: <code>. DB::Exception: <message> (<type>)`. */
class HttpError extends Error {
  constructor(readonly code: number, readonly type: string, message: string, readonly status = 500) {
    super(message);
  }
}

/**
 * Serves the ClickHouse HTTP interface (the subset `@clickhouse/client` 1.23 uses) on
 * `host:port`, running every statement on `client`:
 * - `GET /ping` (and `GET /` without a query) answers `Ok.\n`;
 * - `POST /?query_id=…&<setting>=…&param_<name>=…` with the SQL in the body: `client.query`
 *   (the SQL ends with `FORMAT <format>`; without one, `default_format` or TabSeparated) and
 *   `client.command`;
 * - `POST /?query=INSERT INTO t FORMAT JSONEachRow&…` with the rows in the body: `client.insert`
 *   and `client.exec` with `values` (the URL query, a newline, then the body);
 * - `GET /?query=…` (as `ping({ select: true })` sends).
 * Query parameters arrive as `param_<name>` in the escaped text form ClickHouse parses for the
 * placeholder's type (`{name:Type}`, ClickHouse docs "Queries with parameters"); they are
 * decoded back into values (strings, or arrays / maps / tuples for composite types) and bound
 * by the engine, never spliced into the SQL. `database` other than `default` is refused
 * (`UNKNOWN_DATABASE`): chDB runs in `default`. `session_id` is ignored (no sessions). Request
 * bodies may be gzip/deflate/br compressed (`Content-Encoding`); with
 * `enable_http_compression=1` the response is compressed per `Accept-Encoding` (gzip, deflate, br).
 *
 * Errors are answered like a ClickHouse server: a non-2xx status (500 for statement errors, 400
 * for a malformed request, 404 for an unknown path, 413 for a body over `maxBodyBytes`), header
 * `X-ClickHouse-Exception-Code`, and the body `Code: N. DB::Exception: <message> (TYPE)`, which
 * the client's `parseError` turns into a `ClickHouseError` with `code` and `type`.
 * Successful answers carry `X-ClickHouse-Query-Id`, `X-ClickHouse-Format`,
 * `X-ClickHouse-Timezone: UTC` and `X-ClickHouse-Summary`.
 *
 * Statements run one at a time, in arrival order: chDB applies settings with `SET` on the
 * client's one session and binds parameters under a process-wide lock anyway, so running one
 * at a time is what keeps one request's settings from leaking into another's. Each statement
 * runs with `serverDefaults` plus, for every setting an earlier request changed, its default
 * value again, plus its own settings.
 *
 * Trusted callers only: there is no authentication (credentials sent are ignored) and a body
 * with several statements is run as chDB runs it. Bind to loopback.
 * @throws the `listen` error (e.g. `EADDRINUSE`) when the port cannot be bound.
 */
export async function serveClickHouseHttp(opts: ClickHouseHttpServerOptions): Promise<ClickHouseHttpServer> {
  const { client, logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? 64 * 1024 * 1024;
  const serverDefaults: ClickHouseSettings = opts.serverDefaults ?? { output_format_json_quote_64bit_integers: 1 };
  /** Value each setting ever changed by a request goes back to; starts as the server defaults. */
  const baseline = new Map<string, unknown>(Object.entries(serverDefaults));
  let queue: Promise<unknown> = Promise.resolve();

  function serially<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  }

  async function learnDefaults(names: string[]): Promise<void> {
    const unknown = names.filter((k) => !baseline.has(k));
    if (unknown.length === 0) return;
    // Names match SETTING_NAME, so they are safe as literals.
    const rs = await client.query({
      query: `SELECT name, default FROM system.settings WHERE name IN (${unknown.map((k) => `'${k}'`).join(', ')})`,
      format: 'JSONEachRow',
    });
    for (const r of await rs.json<{ name: string; default: string }>()) baseline.set(r.name, r.default);
  }

  async function run(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/ping' || (url.pathname === '/' && method === 'GET' && !url.searchParams.has('query'))) {
      req.resume();
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(1, 'UNSUPPORTED_METHOD', `HTTP method ${method} is not allowed for ${url.pathname}`, 405);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      req.resume();
      throw new HttpError(1, 'UNSUPPORTED_METHOD', `There is no handle ${url.pathname}`, 404);
    }
    if (method !== 'GET' && method !== 'POST') {
      req.resume();
      throw new HttpError(1, 'UNSUPPORTED_METHOD', `HTTP method ${method} is not allowed`, 405);
    }
    if (/^multipart\//i.test(req.headers['content-type'] ?? '')) {
      req.resume();
      throw new HttpError(1, 'UNSUPPORTED_METHOD', 'multipart/form-data requests (use_multipart_params) are not supported by this server: send query parameters in the URL', 400);
    }
    const body = method === 'POST' ? await readBody(req, maxBodyBytes) : Buffer.alloc(0);

    const queryId = url.searchParams.get('query_id') || randomUUID();
    const database = url.searchParams.get('database');
    if (database !== null && database !== '' && database !== 'default') {
      throw new HttpError(81, 'UNKNOWN_DATABASE', `Database ${database} does not exist: this server (embedded chDB) runs every query in \`default\``, 400);
    }
    const format = url.searchParams.get('default_format') || 'TabSeparated';
    const rawParams = new Map<string, string>();
    const settings: Record<string, unknown> = {};
    for (const [key, value] of url.searchParams) {
      if (key.startsWith('param_')) rawParams.set(key.slice('param_'.length), value);
      else if (NON_SETTING_PARAMS.has(key) || HTTP_ONLY_SETTINGS.has(key)) continue;
      else if (!SETTING_NAME.test(key)) throw new HttpError(115, 'UNKNOWN_SETTING', `Unknown setting ${JSON.stringify(key)}`, 400);
      else settings[key] = value;
    }
    const compressResponse = url.searchParams.get('enable_http_compression') === '1';

    const urlQuery = url.searchParams.get('query');
    const sql = urlQuery ?? body.toString('utf8');
    const values = urlQuery !== null && body.length > 0 ? body : undefined;
    if (sql.trim() === '') throw new HttpError(62, 'SYNTAX_ERROR', 'Empty query', 400);
    const queryParams = decodeQueryParams(sql, rawParams);

    const { output, summary } = await serially(async () => {
      await learnDefaults(Object.keys(settings));
      const result = await client.exec({
        query: sql,
        query_id: queryId,
        query_params: queryParams,
        clickhouse_settings: { ...Object.fromEntries(baseline), ...settings, default_format: format } as ClickHouseSettings,
        ...(values !== undefined ? { values: Readable.from([values]) } : {}),
      });
      const chunks: Buffer[] = [];
      for await (const chunk of result.stream as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      return { output: Buffer.concat(chunks), summary: result.summary };
    });

    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': JSON_FORMATS.test(formatOf(sql, format)) ? 'application/json; charset=UTF-8' : 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Format': formatOf(sql, format),
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
      logger?.debug({ err: e.message, code: e.code, type: e.type, url: req.url }, 'clickhouse http: statement failed');
      if (res.headersSent) { res.destroy(); return; }
      res.writeHead(e.status, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Exception-Code': String(e.code),
        'X-ClickHouse-Server-Display-Name': SERVER_NAME,
      }).end(`Code: ${e.code}. DB::Exception: ${e.message.trim()} (${e.type}) (version ${SERVER_NAME})\n`);
    });
  });
  // Longer than the client's idle socket TTL (2.5 s), so that the client drops a socket first.
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  server.on('error', (err) => logger?.warn({ err: err.message }, 'clickhouse http: server error'));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { code?: unknown; type?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // ClickHouseError: `code` is the numeric code as a string, `type` the error name.
  if (typeof e?.type === 'string' && /^\d+$/.test(String(e.code))) return new HttpError(Number(e.code), e.type, message);
  return new HttpError(1001, 'STD_EXCEPTION', message);
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
    throw new HttpError(1, 'UNSUPPORTED_METHOD', `Unknown Content-Encoding ${encoding}`, 400);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        req.resume();
        throw new HttpError(307, 'TOO_MANY_BYTES', `Request body larger than ${max} bytes`, 413);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(1, 'CANNOT_DECOMPRESS', `Cannot read the request body: ${(err as Error).message}`, 400);
  }
  return Buffer.concat(chunks);
}

/**
 * The placeholder types of a statement, `{name:Type}` → name → Type (the first one when a name
 * occurs with several types).
 */
function placeholderTypes(sql: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of sql.matchAll(/\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/g)) {
    if (m[1] && m[2] && !types.has(m[1])) types.set(m[1], m[2]);
  }
  return types;
}

function isComposite(type: string | undefined): boolean {
  if (type === undefined) return false;
  let t = type.trim();
  for (let m = /^(?:Nullable|LowCardinality)\s*\((.*)\)$/s.exec(t); m; m = /^(?:Nullable|LowCardinality)\s*\((.*)\)$/s.exec(t)) t = (m[1] ?? '').trim();
  return /^(?:Array|Map|Tuple|Nested)\s*\(/i.test(t);
}

/**
 * Turns `param_<name>` values (ClickHouse's escaped text form, as `@clickhouse/client`'s
 * `formatQueryParams` writes them) back into values that the client re-serializes to the same
 * meaning: `\N` → null; composite types (Array, Map, Tuple, also inside Nullable /
 * LowCardinality) → arrays, `Map`s, `TupleParam`s parsed from their literal; every other type →
 * the unescaped string.
 * @throws Error (answered as `Code: 457 … (BAD_QUERY_PARAMETER)`, HTTP 400) when a composite
 *   literal does not parse.
 */
export function decodeQueryParams(sql: string, raw: ReadonlyMap<string, string>): Record<string, unknown> {
  if (raw.size === 0) return {};
  const types = placeholderTypes(sql);
  const out: Record<string, unknown> = {};
  for (const [name, value] of raw) {
    if (value === '\\N') { out[name] = null; continue; }
    const type = types.get(name);
    if (isComposite(type)) {
      try {
        out[name] = parseLiteral(value);
      } catch (err) {
        throw new HttpError(457, 'BAD_QUERY_PARAMETER', `Value ${JSON.stringify(value)} cannot be parsed as ${type} for query parameter '${name}': ${(err as Error).message}`, 400);
      }
    } else {
      out[name] = unescapeText(value);
    }
  }
  return out;
}

const ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', 0: '\0' };

/** ClickHouse's escaped text (TabSeparated / query parameter form): `\t`, `\n`, `\\`, `\'`, `\xHH`, …; an unknown escape is the character itself. */
function unescapeText(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) { out += c; continue; }
    const e = s[++i]!;
    if (e === 'x' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out += ESCAPES[e] ?? e;
    }
  }
  return out;
}

/** Parses a ClickHouse literal: arrays `[…]`, tuples `(…)`, maps `{k:v}`, quoted strings, numbers, NULL, true/false. */
function parseLiteral(s: string): unknown {
  let i = 0;
  const ws = (): void => { while (i < s.length && /\s/.test(s[i]!)) i++; };
  const expect = (c: string): void => {
    ws();
    if (s[i] !== c) throw new Error(`expected ${c} at ${i}`);
    i++;
  };
  function list(close: string, item: () => void): void {
    ws();
    if (s[i] === close) { i++; return; }
    for (;;) {
      item();
      ws();
      if (s[i] === ',') { i++; continue; }
      expect(close);
      return;
    }
  }
  function quoted(): string {
    const q = s[i++]!;
    let out = '';
    for (;;) {
      if (i >= s.length) throw new Error('unterminated string');
      const c = s[i++]!;
      if (c === q) {
        if (s[i] === q) { out += q; i++; continue; }
        return out;
      }
      if (c !== '\\') { out += c; continue; }
      if (i >= s.length) throw new Error('unterminated string');
      const e = s[i++]!;
      if (e === 'x' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i, i + 2))) {
        out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
        i += 2;
      } else {
        out += ESCAPES[e] ?? e;
      }
    }
  }
  function value(): unknown {
    ws();
    const c = s[i];
    if (c === undefined) throw new Error('unexpected end');
    if (c === '[') { i++; const out: unknown[] = []; list(']', () => out.push(value())); return out; }
    if (c === '(') { i++; const out: unknown[] = []; list(')', () => out.push(value())); return new TupleParam(out); }
    if (c === '{') {
      i++;
      const out = new Map<unknown, unknown>();
      list('}', () => { const k = value(); expect(':'); out.set(k, value()); });
      return out;
    }
    if (c === "'" || c === '"') return quoted();
    const m = /^[^\s,\]):}]+/.exec(s.slice(i));
    if (!m) throw new Error(`unexpected ${c} at ${i}`);
    i += m[0].length;
    const token = m[0];
    if (/^null$/i.test(token)) return null;
    if (/^true$/i.test(token)) return true;
    if (/^false$/i.test(token)) return false;
    if (/^[-+]?\d+$/.test(token)) {
      const v = Number(token);
      return Number.isSafeInteger(v) ? v : BigInt(token);
    }
    const v = Number(token);
    if (Number.isNaN(v)) throw new Error(`not a literal: ${token}`);
    return v;
  }
  const v = value();
  ws();
  if (i !== s.length) throw new Error(`trailing text at ${i}`);
  return v;
}
