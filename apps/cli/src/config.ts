/**
 * Where the CLI connects: `NATS_URL`, `DATABASE_URL`, `CLICKHOUSE_URL` from the environment,
 * else the embedded stack's `.run/stack.json` (written by `npm start`), so that on a developer
 * machine `pnpm cli …` works against the running local platform without any setting; likewise
 * the NATS credentials (`NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`, `NATS_CREDS`, else the
 * stack's `cli` user: {@link natsAuthFor}) and the ClickHouse ones (`CLICKHOUSE_USER` /
 * `CLICKHOUSE_PASSWORD`, else the stack's writer: {@link clickhouseAuthFor}).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { natsAuthFromCredential, natsAuthFromEnv, type NatsAuth } from '@live/messaging';

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
 * of the stack file (`natsUrl`, `databaseUrl`, `clickhouseUrl`) when the file exists. For
 * `clickhouse` without `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD` in the environment, the URL
 * carries the embedded stack's writer credentials as `http://user:password@host:port`
 * ({@link clickhouseAuthFor}), which `@clickhouse/client` reads from the URL.
 * @param stackFile path of the stack file; default {@link DEFAULT_STACK_FILE}; env
 *   `LIVE_STACK_FILE` overrides it.
 * @throws ConfigError naming the variable when neither gives a value.
 */
export function endpointUrl(endpoint: Endpoint, env: Readonly<Record<string, string | undefined>>, stackFile?: string): string {
  const url = endpointUrlOnly(endpoint, env, stackFile);
  if (endpoint !== 'clickhouse' || env.CLICKHOUSE_USER || env.CLICKHOUSE_PASSWORD) return url;
  const auth = clickhouseAuthFor(env, stackFile);
  if (!auth) return url;
  try {
    const u = new URL(url);
    if (u.username || u.password) return url;
    u.username = encodeURIComponent(auth.username);
    u.password = encodeURIComponent(auth.password);
    return u.toString();
  } catch {
    return url;
  }
}

function endpointUrlOnly(endpoint: Endpoint, env: Readonly<Record<string, string | undefined>>, stackFile?: string): string {
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

function readStackFile(env: Readonly<Record<string, string | undefined>>, stackFile?: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(env.LIVE_STACK_FILE || stackFile || DEFAULT_STACK_FILE, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * The CLI's NATS credentials: from the environment when it names any (`NATS_CREDS`,
 * `NATS_TOKEN`, `NATS_USER`+`NATS_PASSWORD`, see `natsAuthFromEnv`); else the embedded stack's
 * `cli` user from the stack file (`natsCredentials.cli`) when the NATS URL comes from that file
 * too or equals its `natsUrl`; else undefined (anonymous).
 * @param stackFile as in {@link endpointUrl}.
 * @throws TypeError from `natsAuthFromEnv` when the environment's NATS credentials are inconsistent.
 */
export function natsAuthFor(env: Readonly<Record<string, string | undefined>>, stackFile?: string): NatsAuth | undefined {
  const fromEnv = natsAuthFromEnv(env);
  if (fromEnv) return fromEnv;
  const stack = readStackFile(env, stackFile);
  if (!stack) return undefined;
  if (env.NATS_URL && env.NATS_URL !== stack.natsUrl) return undefined;
  const cli = (stack.natsCredentials as Record<string, { user?: unknown; password?: unknown }> | undefined)?.cli;
  return typeof cli?.user === 'string' && typeof cli.password === 'string' ? natsAuthFromCredential({ user: cli.user, password: cli.password }) : undefined;
}

/**
 * The CLI's ClickHouse credentials: `CLICKHOUSE_USER` (default `default`) and
 * `CLICKHOUSE_PASSWORD` when the environment sets either; else the embedded stack's writer
 * (`clickhouseWriter` of the stack file: the projector's ClickHouse HTTP endpoint lets it write,
 * which `replay analytics` needs) when `CLICKHOUSE_URL` is unset or equals the file's
 * `clickhouseUrl`; else undefined (the client's `default` user without a password).
 * @param stackFile as in {@link endpointUrl}.
 */
export function clickhouseAuthFor(env: Readonly<Record<string, string | undefined>>, stackFile?: string): { username: string; password: string } | undefined {
  if (env.CLICKHOUSE_USER || env.CLICKHOUSE_PASSWORD) return { username: env.CLICKHOUSE_USER || 'default', password: env.CLICKHOUSE_PASSWORD ?? '' };
  const stack = readStackFile(env, stackFile);
  if (!stack) return undefined;
  if (env.CLICKHOUSE_URL && env.CLICKHOUSE_URL !== stack.clickhouseUrl) return undefined;
  const writer = stack.clickhouseWriter as { username?: unknown; password?: unknown } | undefined;
  return typeof writer?.username === 'string' && writer.username !== '' && typeof writer.password === 'string'
    ? { username: writer.username, password: writer.password }
    : undefined;
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
