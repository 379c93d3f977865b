/**
 * bench/api: latency of discovery search (`GET /api/streams/search`) under load.
 *
 * Starts PostgreSQL only (embedded; NATS and Temporal are not needed by a read path), applies
 * the migrations, seeds 10,000 channels (1,000 live with Zipf-like viewer counts) by writing the
 * read-model rows directly with SQL, starts the API (no NATS: read-only) on a free loopback
 * port, and drives it from a separate process (bench/load.ts, autocannon) with a fixed mix of
 * searches: typo'd words, exact words, category / live / tag filters, an empty browse, and
 * second pages through a cursor.
 *
 * Runs: `--runs` (3) runs at a fixed `--rate` (500 requests/s, autocannon `overallRate`, paced
 * over the second by staggered instances, see bench/load.ts) for `--seconds` (15) each, one run
 * at the same rate with autocannon's own once-a-second pacing (bursts), and one unthrottled run
 * (max throughput). Prints a table with each run, the median of the paced runs (each column's
 * median), the CPU time per request of the API, PostgreSQL and the load generator, and the
 * verdict for the target p99 < 50 ms at 500 requests/s (on the paced median).
 *
 * Usage: pnpm bench:api [-- --runs 3 --seconds 15 --rate 500 --connections 32 --instances 50
 *   --pool 20 --per-path]
 * (`--per-path`: first drive each request of the mix alone for 3 s and print its cost.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startServices } from '@live/dev';
import { createDb, migrateToLatest, type Db } from '@live/db';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/app.js';
import { seedChannels } from './seed.js';
import type { LoadArgs, LoadResult } from './load.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const RUNS = opt('runs', 3);
const SECONDS = opt('seconds', 15);
const RATE = opt('rate', 500);
const CONNECTIONS = opt('connections', 32);
const INSTANCES = opt('instances', 50);
const CHANNELS = opt('channels', 10_000);
const LIVE = opt('live', 1_000);
const TARGET_P99_MS = 50;

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));

/**
 * Runs one SQL statement without parameters (VACUUM, SHOW, version()) through Kysely's executor:
 * the API package reaches the database only through @live/db's `Db`, not Kysely's `sql` tag.
 */
async function rawSql(db: Db, text: string): Promise<Array<Record<string, unknown>>> {
  const compiled = db.selectFrom('channels').select('id').compile();
  const r = await db.executeQuery<Record<string, unknown>>({ ...compiled, sql: text, parameters: [] });
  return r.rows;
}

function runLoad(args: LoadArgs): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LOAD_SCRIPT, JSON.stringify(args)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`load generator exited with ${code}: ${err}`));
      resolve(JSON.parse(line) as LoadResult);
    });
  });
}

const CLOCK_TICKS = 100; // USER_HZ on Linux (proc(5))

/** utime + stime of a process, seconds (proc(5) /proc/<pid>/stat fields 14, 15); 0 when gone. */
function procCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds of the postmaster and every process it forked (backends, background workers), by pid. */
function postgresCpu(postmaster: number): Map<number, number> {
  const out = new Map<number, number>([[postmaster, procCpuSeconds(postmaster)]]);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) out.set(Number(d), procCpuSeconds(Number(d)));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat `cpu` line: all but idle and iowait). */
function machineBusySeconds(): number {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const services = await startServices({ logger, name: 'bench-api', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
const db = createDb(services.endpoints.databaseUrl, opt('pool', 20));
let app: Awaited<ReturnType<typeof buildApp>> | undefined;
try {
  await migrateToLatest(db);
  const t0 = performance.now();
  const seeded = await seedChannels(db, { total: CHANNELS, live: LIVE });
  // Steady state: statistics collected and the GIN pending lists merged, as autovacuum would
  // have done on a long-running database (a fresh bulk load leaves every GIN entry in the
  // unsorted pending list, which each search then scans linearly).
  await rawSql(db, 'vacuum analyze channels');
  const seedSeconds = (performance.now() - t0) / 1000;

  app = await buildApp({ db, messaging: null, config: { jwtKeys: [{ kid: 'bench', secret: 'b'.repeat(40) }] }, rateLimit: { max: 1e9, timeWindowMs: 60_000 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const page1 = async (path: string): Promise<string> => {
    const r = await app!.inject({ method: 'GET', url: path });
    const body = r.json() as { nextCursor: string | null };
    if (r.statusCode !== 200 || !body.nextCursor) throw new Error(`no second page for ${path}: ${r.statusCode} ${r.body}`);
    return body.nextCursor;
  };
  const S = '/api/streams/search';
  const paths = [
    `${S}?q=minecrat`,
    `${S}?q=speedrunn`,
    `${S}?q=valornt`,
    `${S}?q=minecraft`,
    `${S}?q=chess`,
    `${S}?q=lofi%20beats`,
    `${S}?category=gaming&live=true`,
    `${S}?category=music`,
    `${S}?live=true`,
    S,
    `${S}?cursor=${await page1(S)}`,
    `${S}?q=minecraft&cursor=${await page1(`${S}?q=minecraft`)}`,
    `${S}?tags=speedrun`,
    `${S}?q=cooking&live=true`,
  ];
  const shape: string[] = [];
  for (const p of paths) {
    const r = await app.inject({ method: 'GET', url: p });
    if (r.statusCode !== 200) throw new Error(`${p} answered ${r.statusCode}: ${r.body}`);
    const n = (r.json() as { items: unknown[] }).items.length;
    shape.push(`  ${p.length > 70 ? `${p.slice(0, 67)}...` : p}  (${n} items)`);
  }

  const pgVersion = String((await rawSql(db, 'show server_version'))[0]?.server_version ?? '?');
  const cpus = os.cpus();
  console.log([
    '# bench/api: GET /api/streams/search',
    `machine: ${cpus.length} x ${cpus[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}; PostgreSQL ${pgVersion} (embedded, fsync off)`,
    `data: ${seeded.channels} channels (${seeded.live} live), read-model rows written directly with SQL (not through events/projector); vacuum analyze after seeding; seeded in ${seedSeconds.toFixed(1)} s`,
    `load: separate process (autocannon), ${CONNECTIONS} connections, each cycling through ${paths.length} requests:`,
    ...shape,
    '',
  ].join('\n'));

  /** One load run, with the CPU milliseconds per request of the API process, PostgreSQL and the load generator. */
  const load = async (mode: LoadArgs['mode'], duration: number, only?: string): Promise<LoadResult & { cpu: { api: number; pg: number; load: number }; otherCores: number }> => {
    const pm = services.pids.postgres;
    const busy0 = machineBusySeconds();
    const wall0 = performance.now();
    const api0 = process.cpuUsage();
    const pg0 = pm ? postgresCpu(pm) : new Map<number, number>();
    const r = await runLoad({ url, paths: only ? [only] : paths, mode, connections: CONNECTIONS, duration, rate: RATE, instances: INSTANCES });
    const apiCpu = ((c) => (c.user + c.system) / 1e6)(process.cpuUsage(api0));
    const pg1 = pm ? postgresCpu(pm) : new Map<number, number>();
    let pgCpu = 0;
    for (const [pid, s] of pg1) pgCpu += s - (pg0.get(pid) ?? 0);
    const perRequest = (s: number) => (r.requests > 0 ? (s * 1000) / r.requests : 0);
    // CPU the rest of the machine used meanwhile (other people's processes on a shared box).
    const otherCores = Math.max(0, machineBusySeconds() - busy0 - apiCpu - pgCpu - r.cpuSeconds) / ((performance.now() - wall0) / 1000);
    return { ...r, cpu: { api: perRequest(apiCpu), pg: perRequest(pgCpu), load: perRequest(r.cpuSeconds) }, otherCores };
  };
  await load('paced', 3); // warm-up (JIT, pool connections, caches); not reported
  if (argv.includes('--per-path')) {
    // Diagnostic: each request of the mix alone, unthrottled, to see which one costs what;
    // `/healthz` (no database) is the framework's own floor on this machine.
    for (const p of ['/healthz', ...paths]) {
      const r = await load('max', 3, p);
      console.log(`${p.slice(0, 60).padEnd(60)} ${r.rps.toFixed(0).padStart(5)} req/s  p99 ${r.p99.toFixed(1).padStart(6)} ms  CPU ms/req api ${r.cpu.api.toFixed(2)} pg ${r.cpu.pg.toFixed(2)}  other procs ${r.otherCores.toFixed(2)} cores`);
    }
    console.log('');
  }
  const runs: Array<Awaited<ReturnType<typeof load>>> = [];
  for (let i = 0; i < RUNS; i++) runs.push(await load('paced', SECONDS));
  const burst = await load('burst', SECONDS);
  const max = await load('max', SECONDS);

  const rows: string[][] = [['scenario', 'requests/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'CPU ms/req api+pg+load', 'other procs, cores']];
  type Row = { rps: number; p50: number; p99: number; errors: number; non2xx: number; cpu: { api: number; pg: number; load: number }; otherCores: number };
  const fmt = (r: Row): string[] =>
    [r.rps.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), `${r.errors}/${r.non2xx}`, `${r.cpu.api.toFixed(2)}+${r.cpu.pg.toFixed(2)}+${r.cpu.load.toFixed(2)}`, r.otherCores.toFixed(2)];
  runs.forEach((r, i) => rows.push([`${RATE} req/s paced, run ${i + 1} (${SECONDS} s)`, ...fmt(r)]));
  const med: Row = {
    rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)),
    errors: median(runs.map((r) => r.errors)), non2xx: median(runs.map((r) => r.non2xx)),
    cpu: { api: median(runs.map((r) => r.cpu.api)), pg: median(runs.map((r) => r.cpu.pg)), load: median(runs.map((r) => r.cpu.load)) },
    otherCores: median(runs.map((r) => r.otherCores)),
  };
  rows.push([`${RATE} req/s paced, median of ${RUNS}`, ...fmt(med)]);
  rows.push([`${RATE} req/s as 1-s bursts (${SECONDS} s)`, ...fmt(burst)]);
  rows.push([`max throughput (${SECONDS} s)`, ...fmt(max)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w, c) => (c === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  const met = med.p99 < TARGET_P99_MS && med.errors + med.non2xx === 0 && med.rps >= RATE * 0.95;
  console.log([
    '',
    `paced: ${INSTANCES} autocannon instances x 1 connection, ${RATE / INSTANCES} req/s each, started ${(1000 / INSTANCES).toFixed(0)} ms apart; 1-s bursts: one instance, ${CONNECTIONS} connections, autocannon overallRate as is`,
    '(its budget refills each second, so each second\'s requests go out at full speed at once); latencies: raw 2xx response times, nearest rank.',
    `CPU ms/req: CPU time of the API process, of all PostgreSQL processes and of the load generator, divided by the requests;`,
    `other procs: CPU the rest of the machine used during the run (/proc/stat), in cores of the ${os.cpus().length} available.`,
    `target p99 < ${TARGET_P99_MS} ms at ${RATE} req/s: ${met ? 'met' : 'not met'} (paced, median of ${RUNS}: p99 ${med.p99.toFixed(1)} ms, ${med.rps.toFixed(0)} req/s, ${med.errors}/${med.non2xx} errors/non-2xx)`,
  ].join('\n'));
} finally {
  await app?.close();
  await db.destroy();
  await services.stop();
}
