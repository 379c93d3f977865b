/**
 * Where the CLI connects: `NATS_URL`, `DATABASE_URL`, `CLICKHOUSE_URL` from the environment,
 * else the embedded stack's `.run/stack.json` (written by `npm start`), so that on a developer
 * machine `pnpm cli …` works against the running local platform without any setting.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The platform's `.run/stack.json`, three levels above this file (apps/cli/src). */
export const DEFAULT_STACK_FILE = fileURLToPath(new URL('../../../.run/stack.json', import.meta.url));

/** Thrown when an endpoint the command needs is configured nowhere (exit code 1, one line). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The three endpoints and which environment variable / stack.json key names each. */
const ENDPOINTS = {
  nats: { env: 'NATS_URL', stackKey: 'natsUrl' },
  database: { env: 'DATABASE_URL', stackKey: 'databaseUrl' },
  clickhouse: { env: 'CLICKHOUSE_URL', stackKey: 'clickhouseUrl' },
} as const;

/** One of the endpoints the CLI may connect to. */
export type Endpoint = keyof typeof ENDPOINTS;

/**
 * The URL of `endpoint`: the environment variable when set and non-empty, else the matching key
 * of the stack file (`natsUrl`, `databaseUrl`, `clickhouseUrl`) when the file exists.
 * @param stackFile path of the stack file; default {@link DEFAULT_STACK_FILE}; env
 *   `LIVE_STACK_FILE` overrides it.
 * @throws ConfigError naming the variable when neither gives a value.
 */
export function endpointUrl(endpoint: Endpoint, env: Readonly<Record<string, string | undefined>>, stackFile?: string): string {
  const e = ENDPOINTS[endpoint];
  const fromEnv = env[e.env];
  if (fromEnv) return fromEnv;
  const file = env.LIVE_STACK_FILE || stackFile || DEFAULT_STACK_FILE;
  let stack: Record<string, unknown> | null = null;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    stack = null;
  }
  const v = stack?.[e.stackKey];
  if (typeof v === 'string' && v !== '') return v;
  throw new ConfigError(`${e.env} is not set${stack ? ` and ${file} has no ${e.stackKey}` : ' (and no embedded stack is running: no .run/stack.json)'}`);
}

/**
 * `url` with `synchronous_commit=off` for every session opened with it (libpq `options`
 * parameter, which node-postgres reads from the connection string), for the replay's writes into
 * its fresh schema: commits stop waiting for the WAL flush. Safe there because nothing of the
 * fresh schema matters until the swap, which commits with `synchronous_commit = on` (and that
 * durable commit flushes every earlier record). Returns `url` unchanged when it is not a URL
 * (a bare libpq key=value string) or already sets `options`.
 */
export function withAsyncCommit(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.searchParams.has('options')) return url;
  u.searchParams.set('options', '-c synchronous_commit=off');
  return u.toString();
}
