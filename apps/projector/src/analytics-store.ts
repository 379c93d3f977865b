/**
 * Where the projector's analytics go, from the environment: a ClickHouse server, or the
 * embedded chDB directory that this process owns and serves to the other processes.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { createAnalyticsClient, migrateAnalytics, serveClickHouseHttp, type ClickHouseClient, type ClickHouseHttpServer, type ClickHouseHttpUser } from '@live/analytics';

/** An open analytics store. */
export interface AnalyticsStore {
  /** `server`: a ClickHouse server (`CLICKHOUSE_URL`); `embedded`: chDB owned by this process. */
  readonly mode: 'server' | 'embedded';
  /** The migrated client the projection writes with. */
  readonly client: ClickHouseClient;
  /** In embedded mode with `CLICKHOUSE_HTTP_PORT`, the ClickHouse HTTP interface served to other processes; else null. */
  readonly http: ClickHouseHttpServer | null;
  /** Stops serving, then closes the client (releasing the chDB directory). Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the analytics store the environment describes and applies pending ClickHouse
 * migrations (`migrateAnalytics`):
 * - `CLICKHOUSE_URL` set: that ClickHouse server (`CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD`,
 *   `CLICKHOUSE_DATABASE` optional), e.g. the HTTP endpoint of another process that owns chDB;
 *   nothing is served. With `opts.migrate: false` its migrations are left to the caller (the
 *   holder of the analytics projection's lease runs `migrateAnalytics`, so that of several
 *   projectors one changes the schema).
 * - otherwise embedded chDB in the directory `CHDB_PATH`, default `<DATA_DIR>/chdb` (created
 *   when missing). This process then owns the directory (one process at a time: chDB locks
 *   it), and when `CLICKHOUSE_HTTP_PORT` is set it serves the ClickHouse HTTP interface there
 *   (`serveClickHouseHttp`, on `CLICKHOUSE_HTTP_HOST`, default `127.0.0.1`; port 0 = any free
 *   port) so that the API and tools use `@clickhouse/client` with
 *   `url = http://127.0.0.1:<port>` and a user's credentials. Its users come from
 *   `CLICKHOUSE_HTTP_READER_USER` (default `reader`) / `CLICKHOUSE_HTTP_READER_PASSWORD`, a
 *   read-only user (the API, analysts), and `CLICKHOUSE_HTTP_WRITER_USER` (default `writer`) /
 *   `CLICKHOUSE_HTTP_WRITER_PASSWORD`, who may also write (the CLI's `replay analytics`); a user
 *   whose password is unset or empty does not exist.
 * @returns null when none of `CLICKHOUSE_URL`, `CHDB_PATH`, `DATA_DIR` is set (analytics off).
 * @throws TypeError (one line, naming the variable) when `CLICKHOUSE_HTTP_PORT` is not a port
 *   number, or is set while neither user's password is, or a user's name is set without its
 *   password, or both users have the same name; checked before chDB is opened.
 * @throws ChdbConnectionError when another process owns the chDB directory; the ClickHouse
 *   error of a failed migration; the listen error when the HTTP port is taken. Whatever was
 *   opened is closed first.
 */
export async function openAnalyticsStore(env: NodeJS.ProcessEnv, logger: Logger, opts: { migrate?: boolean } = {}): Promise<AnalyticsStore | null> {
  const log = logger.child({ component: 'analytics-store' });
  const url = env.CLICKHOUSE_URL?.trim();
  if (url) {
    const client = createAnalyticsClient({
      url,
      ...(env.CLICKHOUSE_USER ? { username: env.CLICKHOUSE_USER } : {}),
      ...(env.CLICKHOUSE_PASSWORD ? { password: env.CLICKHOUSE_PASSWORD } : {}),
      ...(env.CLICKHOUSE_DATABASE ? { database: env.CLICKHOUSE_DATABASE } : {}),
    });
    try {
      const applied = opts.migrate === false ? null : await migrateAnalytics(client);
      log.info({ mode: 'server', applied }, 'analytics store ready (ClickHouse server)');
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    let closed: Promise<void> | undefined;
    return { mode: 'server', client, http: null, close: () => (closed ??= client.close()) };
  }
  const chdbPath = env.CHDB_PATH?.trim() || (env.DATA_DIR?.trim() ? join(env.DATA_DIR.trim(), 'chdb') : '');
  if (!chdbPath) {
    log.warn('analytics off: set CLICKHOUSE_URL, CHDB_PATH or DATA_DIR');
    return null;
  }
  const port = env.CLICKHOUSE_HTTP_PORT?.trim();
  const users: ClickHouseHttpUser[] = [];
  if (port) {
    if (!/^\d+$/.test(port) || Number(port) > 65_535) throw new TypeError(`CLICKHOUSE_HTTP_PORT must be a port number, got ${JSON.stringify(port)}`);
    for (const [role, readonly, fallback] of [['READER', true, 'reader'], ['WRITER', false, 'writer']] as const) {
      const userVar = `CLICKHOUSE_HTTP_${role}_USER`;
      const passwordVar = `CLICKHOUSE_HTTP_${role}_PASSWORD`;
      const name = env[userVar]?.trim();
      const password = env[passwordVar] ?? '';
      if (password === '') {
        if (name) throw new TypeError(`${userVar} is set but ${passwordVar} is not: the ClickHouse HTTP endpoint's users need a password`);
        continue;
      }
      users.push({ name: name || fallback, password, readonly });
    }
    if (users.length === 0) {
      throw new TypeError('CLICKHOUSE_HTTP_PORT is set but neither CLICKHOUSE_HTTP_READER_PASSWORD nor CLICKHOUSE_HTTP_WRITER_PASSWORD is: the ClickHouse HTTP endpoint needs at least one user');
    }
    if (users.length === 2 && users[0]!.name === users[1]!.name) {
      throw new TypeError(`CLICKHOUSE_HTTP_READER_USER and CLICKHOUSE_HTTP_WRITER_USER are both ${JSON.stringify(users[0]!.name)}: give them different names`);
    }
  }
  mkdirSync(chdbPath, { recursive: true });
  const client = createAnalyticsClient({ chdbPath });
  let http: ClickHouseHttpServer | null = null;
  try {
    const applied = await migrateAnalytics(client);
    if (port) {
      http = await serveClickHouseHttp({ client, users, port: Number(port), host: env.CLICKHOUSE_HTTP_HOST?.trim() || '127.0.0.1', logger: log });
    }
    log.info({ mode: 'embedded', chdbPath, applied, httpUrl: http?.url ?? null, httpUsers: users.map((u) => `${u.name}${u.readonly ? ' (readonly)' : ''}`) }, 'analytics store ready (embedded chDB)');
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    mode: 'embedded', client, http,
    close: () => (closed ??= (async () => {
      await http?.close();
      await client.close();
    })()),
  };
}
