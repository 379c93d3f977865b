import { createRequire } from 'node:module';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type { createChdbConnection as CreateChdbConnection } from 'chdb/connection';

/**
 * Where analytics data lives. Either a ClickHouse server (`url`, production) or an embedded
 * chDB data directory (`chdbPath`, the embedded default). `url` wins when both are given.
 */
export interface AnalyticsClientOptions {
  /** HTTP(S) URL of a ClickHouse server, e.g. `CLICKHOUSE_URL=http://clickhouse:8123`. */
  url?: string;
  /** ClickHouse user (server only; chDB has no authentication). */
  username?: string;
  /** ClickHouse password (server only). Never logged. */
  password?: string;
  /**
   * Database the queries run in (server only; defaults to the server's `default`). chDB's
   * connection does not apply a database, so with `chdbPath` only `default` is accepted.
   */
  database?: string;
  /** Data directory of the embedded chDB engine; required when `url` is absent. */
  chdbPath?: string;
}

// Loaded on first use only: `chdb/connection` dlopens libchdb (~550 MB) when required, which a
// process talking to a ClickHouse server over HTTP must not pay for.
const require = createRequire(import.meta.url);
let chdbConnectionFactory: typeof CreateChdbConnection | undefined;

/** The chDB connection behind each client made by {@link createAnalyticsClient} with `chdbPath` (for its raw insert path). */
const chdbConnections = new WeakMap<ClickHouseClient, ReturnType<typeof CreateChdbConnection>>();

/**
 * The chDB connection behind a client made by {@link createAnalyticsClient} with `chdbPath`, or
 * undefined for a ClickHouse server client (or any other client). Used for chDB's raw
 * passthrough insert (`connection.chdb.rawInsert`), which hands a payload Buffer to chDB's
 * own parser without building the SQL text in JavaScript.
 */
export function chdbConnectionOf(client: ClickHouseClient): ReturnType<typeof CreateChdbConnection> | undefined {
  return chdbConnections.get(client);
}
function loadChdb(): typeof CreateChdbConnection {
  chdbConnectionFactory ??= (require('chdb/connection') as { createChdbConnection: typeof CreateChdbConnection }).createChdbConnection;
  return chdbConnectionFactory;
}

/**
 * Creates the `@clickhouse/client` client the platform's analytics code uses, with the same
 * API (`command`, `insert`, `query`, `close`) and SQL for both backends:
 * - with `url`: a ClickHouse server over HTTP (production `CLICKHOUSE_URL`, plus `username`,
 *   `password`, `database`);
 * - otherwise: embedded chDB, in this process, on the data directory `chdbPath`
 *   (`chdb/connection` plugged into `createClient({ connection })`, chdb-node Layer 2).
 *
 * chDB is an in-process engine: ONE process owns a chDB data directory at a time (it locks the
 * directory's `status` file; a second process fails to open it), and one process can have only
 * one on-disk chDB directory open at a time. Open it in the single process that writes
 * analytics (the projector of the embedded stack) and call `client.close()` before another
 * process takes the directory over.
 *
 * Load chDB on a process's main thread, not only in a `worker_threads` worker: when the last
 * thread that loaded the addon exits, Node unloads it and the process dies with SIGSEGV
 * (measured with chdb 3.4.0 on Node 20: exit code 139; vitest's `threads` pool does this, its
 * default `forks` pool does not).
 *
 * With chDB, JSON output is pinned to the server's default of quoting 64-bit integers, so a
 * `UInt64` column reads back as a string on both backends.
 *
 * @throws TypeError when neither `url` nor `chdbPath` is given, or when `database` other than
 *   `default` is given with `chdbPath`.
 * @throws ChdbConnectionError (`code: 'CHDB_CONNECTION'`) from chDB when the directory cannot be
 *   opened: another process owns it ("Cannot lock file .../status"), or another on-disk path is
 *   already open in this process.
 */
export function createAnalyticsClient(opts: AnalyticsClientOptions): ClickHouseClient {
  if (opts.url) {
    return createClient({
      url: opts.url,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.database !== undefined ? { database: opts.database } : {}),
    });
  }
  if (!opts.chdbPath) {
    throw new TypeError('createAnalyticsClient: either `url` (ClickHouse server) or `chdbPath` (embedded chDB directory) is required');
  }
  if (opts.database !== undefined && opts.database !== 'default') {
    throw new TypeError(`createAnalyticsClient: \`database\` ${JSON.stringify(opts.database)} is not supported with \`chdbPath\` (chDB runs every query in \`default\`)`);
  }
  // chdb's connection is typed against `@clickhouse/client-common` while `@clickhouse/client`
  // 1.23 bundles its own copy of the same declarations; TypeScript sees two distinct (identical)
  // `ClickHouseSettings` types. The runtime contract is the same `Connection` interface.
  const chdb = loadChdb()({ path: opts.chdbPath });
  const connection = chdb as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>;
  const client = createClient({
    connection,
    // chDB writes 64-bit integers as bare JSON numbers; a ClickHouse server quotes them by
    // default (`output_format_json_quote_64bit_integers = 1`, ClickHouse docs "Format settings").
    // Pinning the server's default keeps JSON results (UInt64 → string) identical on both backends.
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
  chdbConnections.set(client, chdb);
  return client;
}
