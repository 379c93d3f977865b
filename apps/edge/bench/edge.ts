/**
 * bench/edge (issue 5): token-checked segment GETs per second and p99 of the edge against nginx
 * serving the same files without any check, side by side in one run.
 *
 * Setup: embedded PostgreSQL (migrated; a `followers`-only channel with a live session, so every
 * request needs and verifies a playback token), a local storage directory holding real fMP4
 * media made by ffmpeg (x264, 720p): 2 s segments (~300 KB) and 0.5 s parts (~60 KB), written
 * with `@live/storage` as the packager writes them. Servers, each its own process:
 * - `edge`: apps/edge/src/main.ts as in production (DATABASE_URL, STORAGE_DIR, PLAYBACK_KEYS;
 *   `EDGE_SERVER` at its default, Node's HTTP server),
 *   requests `GET /live/<channel>/<rendition>/<file>?token=<signed playback token>` (channel →
 *   live session lookup, policy, HMAC verification, address binding, on every request);
 * - `edge, EDGE_SERVER=uws`: the same behind the uWebSockets.js front, unless `--no-uws`;
 * - `edge, no cache`: the same with `EDGE_CACHE_BYTES=0` (stat + open + read per request, the
 *   edge before its in-memory cache), unless `--no-uncached`;
 * - `nginx`: Debian's nginx (installed with apt-get when missing), `root` at the storage
 *   directory, `sendfile on`, `open_file_cache`, no access log, the same paths with the same
 *   query string (ignored), no checks.
 * Both servers log at warn (no per-request access log). Load: a separate process
 * (bench/load.ts: raw keep-alive sockets, not autocannon, see there) with a fixed number of keep-alive connections, closed loop, each
 * cycling through every file of the workload. Runs are interleaved (the server order rotates
 * every run) after a warm-up of each; the table prints medians and the edge/nginx ratios.
 * CPU µs/req: user+sys CPU of the server's processes (nginx: master and workers) divided by
 * the responses.
 *
 * Second table (bench/wakeup.ts): the time from a part being written to a parked blocking
 * reload being answered, p50 and p99, by an edge fed by NATS announcements (`edge, NATS-fed`:
 * NATS_URL and the `edge` identity of the embedded nats-server, started with the platform's
 * authorization) and by the polling `edge`, side by side in one run (median of the runs).
 *
 * Usage: pnpm bench:edge [-- --runs 3 --seconds 10 --connections 16 --nginx-workers 1
 *   --no-uncached --no-floor --no-uws --only segments,parts,wakeup (any of them) --cpu-prof <dir>
 *   --wakeup-runs 5 --wakeup-parts 20 --wakeup-clients 4]
 * (`--cpu-prof <dir>`: the cached edge, and the uWS one, write a V8 CPU profile each into <dir> when they exit.)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { freePort, ManagedProcess, startServices, waitForHttp } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest } from '@live/db';
import { parseJwtKeys, signPlaybackToken } from '@live/auth';
import { createLocalStorage } from '@live/storage';
import { connectMessaging } from '@live/messaging';
import type { EdgeLoadArgs, EdgeLoadResult } from './load.js';
import { measureWakeups, type WakeupResult } from './wakeup.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const optText = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const RUNS = opt('runs', 3);
const SECONDS = opt('seconds', 10);
const WARMUP_SECONDS = opt('warmup', 3);
const CONNECTIONS = opt('connections', 16);
const NGINX_WORKERS = opt('nginx-workers', 1);
const UNCACHED = !argv.includes('--no-uncached');
/** Also measure bare node:http serving the files from memory (bench/node-floor.ts); `--no-floor` leaves it out. */
const FLOOR = !argv.includes('--no-floor');
/** Also measure the edge behind the uWebSockets.js front (`EDGE_SERVER=uws`); `--no-uws` leaves it out. */
const UWS_SERVER = !argv.includes('--no-uws');
const CPU_PROF = optText('cpu-prof');
/** Parts of the bench to run (`--only segments,parts`); undefined: all. */
const ONLY = optText('only')?.split(',');
const runs = (part: 'segments' | 'parts' | 'wakeup'): boolean => !ONLY || ONLY.includes(part);
const WAKEUP_RUNS = opt('wakeup-runs', 5);
const WAKEUP_PARTS = opt('wakeup-parts', 20);
const WAKEUP_CLIENTS = opt('wakeup-clients', 4);
const TARGET_RATIO = 1.0; // issue 17 item 4: at least nginx's requests per second
const TICKS = 100; // USER_HZ on Linux (proc(5))

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));
const FLOOR_SCRIPT = fileURLToPath(new URL('./node-floor.ts', import.meta.url));
const CHANNEL = 'bench-private';
const SESSION = 'bench-session';
const RENDITION = '720p';

/** A ratio as a percentage with one decimal, `-` for NaN. */
const pctText = (x: number): string => (Number.isNaN(x) ? '-' : `${(x * 100).toFixed(2)}%`);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** utime + stime of a process, seconds (proc(5) fields 14, 15); 0 when gone. */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** A process and its direct children (nginx master + workers), by pid. */
function treeCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>([[pid, procCpu(pid)]]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.set(Number(d), procCpu(Number(d)));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let s = 0;
  for (const [pid, v] of after) s += v - (before.get(pid) ?? 0);
  return s;
}

/** Path of the nginx binary, installing Debian's `nginx` package with apt-get when it is missing. */
function ensureNginx(): string {
  const find = () => ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  const found = find();
  if (found) return found;
  console.log('nginx not found: installing the Debian package (apt-get install nginx) …');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { stdio: 'inherit', env });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    if (install().status !== 0) throw new Error('apt-get install nginx failed (run as root, or install nginx yourself)');
  }
  const after = find();
  if (!after) throw new Error('nginx installed but not found in /usr/sbin or /usr/bin');
  return after;
}

function runLoad(args: EdgeLoadArgs): Promise<EdgeLoadResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LOAD_SCRIPT, JSON.stringify(args)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`load generator exited with ${code}: ${err}`));
      resolvePromise(JSON.parse(line) as EdgeLoadResult);
    });
  });
}

/** Encodes `seconds` of 720p30 test pattern into fMP4 HLS segments of `segmentSeconds` (GOP = segment) in `dir`; returns the segment files. */
function encodeSegments(dir: string, seconds: number, segmentSeconds: number, kbps: number): string[] {
  mkdirSync(dir, { recursive: true });
  const gop = String(Math.round(30 * segmentSeconds));
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-f', 'hls', '-hls_time', String(segmentSeconds), '-hls_segment_type', 'fmp4', '-hls_playlist_type', 'vod',
    '-hls_segment_filename', join(dir, 's_%03d.m4s'), join(dir, 'index.m3u8'),
  ]);
  return readdirSync(dir).filter((f) => f.startsWith('s_') && f.endsWith('.m4s')).sort().map((f) => join(dir, f));
}

interface Server {
  readonly name: string;
  readonly url: string;
  /** Whether the server has the edge's /metrics (object cache lookups). */
  readonly edge: boolean;
  /** CPU of the server's processes so far, by pid. */
  cpu(): Map<number, number>;
}

interface Measured extends EdgeLoadResult {
  /** Server CPU µs per response. */
  readonly cpuUsPerRequest: number;
  /** Share of the run's object requests the edge answered from memory (/metrics); NaN for nginx or without the metric. */
  readonly cacheHitRatio: number;
}

/**
 * The edge's object-cache lookups so far by result (`edge_object_cache_lookups_total{result}`)
 * plus its live-store hits (`edge_live_store_hits_total{kind="object"}`, counted as `live`), read
 * from its Prometheus /metrics; an empty map when it has no such metric.
 */
async function cacheLookups(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^edge_object_cache_lookups_total\{result="(\w+)"\} (\d+)/gm)) out.set(m[1]!, Number(m[2]));
  const live = /^edge_live_store_hits_total\{kind="object"\} (\d+)/m.exec(text);
  if (live) out.set('live', Number(live[1]));
  return out;
}

/** Answered from memory (`hit`, `revalidated`: one stat, body from memory; `live`) over all lookups between two readings; NaN when none. */
function hitRatio(before: Map<string, number>, after: Map<string, number>): number {
  let hits = 0;
  let all = 0;
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    all += d;
    if (k === 'hit' || k === 'revalidated' || k === 'live') hits += d;
  }
  return all > 0 ? hits / all : Number.NaN;
}

async function main(): Promise<void> {
  const nginxBin = ensureNginx();
  const work = mkdtempSync(join(os.tmpdir(), 'bench-edge-'));
  const storageDir = join(work, 'storage');
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  const procs: ManagedProcess[] = [];
  let nginx: ManagedProcess | undefined;
  // A real nats-server with the platform's users and permissions: the NATS-fed edge connects as `edge`, the packager as `worker`.
  const services = await startServices({ logger, name: 'bench-edge', natsAuth: true, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const db = createDb(services.endpoints.databaseUrl, 2);
  try {
    // ---- media: real fMP4 segments (2 s) and parts (0.5 s) ----
    console.log('encoding media (ffmpeg, x264 720p30) …');
    const segFiles = encodeSegments(join(work, 'enc-seg'), 24, 2, 1200);
    const partFiles = encodeSegments(join(work, 'enc-part'), 12, 0.5, 1000);
    const storage = createLocalStorage({ rootDir: storageDir });
    const segNames: string[] = [];
    const partNames: string[] = [];
    for (const [i, f] of segFiles.entries()) {
      const name = `seg_${String(100 + i).padStart(5, '0')}.m4s`;
      await storage.writeSegment(`sessions/${SESSION}/${RENDITION}/${name}`, f);
      segNames.push(name);
    }
    for (const [i, f] of partFiles.entries()) {
      const name = `seg_${String(200 + Math.floor(i / 4)).padStart(5, '0')}.part${i % 4}.m4s`;
      await storage.writeSegment(`sessions/${SESSION}/${RENDITION}/${name}`, f);
      partNames.push(name);
    }
    // nginx workers run as `nobody` when started as root: let them read the tree.
    const openUp = (p: string): void => {
      chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
      if (statSync(p).isDirectory()) for (const e of readdirSync(p)) openUp(join(p, e));
    };
    openUp(work);
    const sizeOf = (names: string[]) => names.map((n) => statSync(join(storageDir, 'sessions', SESSION, RENDITION, n)).size);
    const kb = (xs: number[]) => `${(Math.min(...xs) / 1024).toFixed(0)}–${(Math.max(...xs) / 1024).toFixed(0)} KB, mean ${(xs.reduce((a, b) => a + b, 0) / xs.length / 1024).toFixed(0)} KB`;

    // ---- database: a private (followers-only) channel, live ----
    await migrateToLatest(db);
    await ensureChannelWithKey(db, { slug: CHANNEL, displayName: 'Bench private channel', title: 'bench' });
    await db.updateTable('channels').set({ playback_visibility: 'followers' }).where('id', '=', CHANNEL).execute();
    await db.insertInto('stream_sessions').values({ session_id: SESSION, channel_id: CHANNEL, status: 'live', started_at: new Date(), renditions: '[]', last_seq: 1 }).execute();
    const keys = `bench:${'k'.repeat(48)}`;
    // Bound to the load generator's address, as the API issues viewer tokens: the edge checks
    // signature, expiry, channel, session and address on every request.
    const token = signPlaybackToken({ channelId: CHANNEL, sessionId: SESSION, expiresAt: Date.now() + 6 * 3600_000, clientAddress: '127.0.0.1' }, parseJwtKeys(keys));
    const q = `?token=${encodeURIComponent(token)}`;

    // ---- servers ----
    const startEdge = async (name: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> => {
      const port = await freePort();
      const proc = new ManagedProcess({
        service: name, command: process.execPath, args: [...nodeArgs, '--import', 'tsx', 'apps/edge/src/main.ts'], cwd: REPO_ROOT, logger,
        env: { ...process.env, DATABASE_URL: services.endpoints.databaseUrl, STORAGE_DIR: storageDir, PLAYBACK_KEYS: keys, EDGE_PORT: String(port), EDGE_HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
      });
      procs.push(proc);
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(`${url}/healthz`, proc, 60_000);
      return { name, url, edge: true, cpu: () => new Map([[proc.pid, procCpu(proc.pid)]]) };
    };
    const servers: Server[] = [];
    const profDir = CPU_PROF ? resolve(CPU_PROF) : undefined;
    if (profDir) mkdirSync(profDir, { recursive: true });
    const profArgs = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
    servers.push(await startEdge('edge', {}, profArgs));
    if (UWS_SERVER && (runs('segments') || runs('parts'))) servers.push(await startEdge('edge, EDGE_SERVER=uws', { EDGE_SERVER: 'uws' }, profArgs));
    if (UNCACHED && (runs('segments') || runs('parts'))) servers.push(await startEdge('edge, no cache', { EDGE_CACHE_BYTES: '0' }));
    const edgeCredential = services.natsCredentials?.edge;
    if (!edgeCredential) throw new Error('the embedded nats-server has no edge user');
    const natsFed = await startEdge('edge, NATS-fed', { NATS_URL: services.endpoints.natsUrl, NATS_USER: edgeCredential.user, NATS_PASSWORD: edgeCredential.password });

    const nginxPort = await freePort();
    const ngDir = join(work, 'nginx');
    mkdirSync(ngDir, { recursive: true });
    const conf = join(ngDir, 'nginx.conf');
    writeFileSync(conf, `
worker_processes ${NGINX_WORKERS};
daemon off;
pid ${ngDir}/nginx.pid;
error_log ${ngDir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path ${ngDir}/client_body;
  proxy_temp_path ${ngDir}/proxy;
  fastcgi_temp_path ${ngDir}/fastcgi;
  uwsgi_temp_path ${ngDir}/uwsgi;
  scgi_temp_path ${ngDir}/scgi;
  types { video/iso.segment m4s; video/mp4 mp4; application/vnd.apple.mpegurl m3u8; }
  server {
    listen 127.0.0.1:${nginxPort};
    root ${storageDir};
    location / {
      add_header Cache-Control "public, max-age=31536000, immutable";
      add_header Access-Control-Allow-Origin "*";
    }
  }
}
`);
    nginx = new ManagedProcess({ service: 'nginx', command: nginxBin, args: ['-p', ngDir, '-e', join(ngDir, 'error.log'), '-c', conf], logger, stopSignal: 'SIGQUIT' });
    const nginxUrl = `http://127.0.0.1:${nginxPort}`;
    // nginx has no health route: the first segment is one
    await waitForHttp(`${nginxUrl}/sessions/${SESSION}/${RENDITION}/${segNames[0]}`, nginx, 20_000);
    const nginxPid = nginx.pid;
    servers.unshift({ name: `nginx (${NGINX_WORKERS} worker${NGINX_WORKERS > 1 ? 's' : ''})`, url: nginxUrl, edge: false, cpu: () => treeCpu(nginxPid) });
    if (FLOOR && (runs('segments') || runs('parts'))) {
      // Node's HTTP server alone, the same files from memory, no checks: the floor of any Node edge (bench/node-floor.ts).
      const floorPort = await freePort();
      const floor = new ManagedProcess({ service: 'node-floor', command: process.execPath, args: ['--import', 'tsx', FLOOR_SCRIPT, storageDir, String(floorPort)], cwd: REPO_ROOT, logger });
      procs.push(floor);
      const floorUrl = `http://127.0.0.1:${floorPort}`;
      await waitForHttp(`${floorUrl}/sessions/${SESSION}/${RENDITION}/${segNames[0]}`, floor, 30_000);
      servers.push({ name: 'node:http floor (no checks)', url: floorUrl, edge: false, cpu: () => new Map([[floor.pid, procCpu(floor.pid)]]) });
    }

    // ---- sanity: every server answers the same bytes; the edge refuses a missing token ----
    const pathOf = (server: Server, file: string) => !server.edge ? `/sessions/${SESSION}/${RENDITION}/${file}${q}` : `/live/${CHANNEL}/${RENDITION}/${file}${q}`;
    for (const s of servers) {
      for (const f of [segNames[0]!, partNames[0]!]) {
        const r = await fetch(`${s.url}${pathOf(s, f)}`);
        const body = Buffer.from(await r.arrayBuffer());
        const expected = readFileSync(join(storageDir, 'sessions', SESSION, RENDITION, f));
        if (r.status !== 200 || !body.equals(expected)) throw new Error(`${s.name} answered ${r.status} with ${body.length} bytes for ${f}`);
      }
      if (s.edge) {
        const refused = await fetch(`${s.url}/live/${CHANNEL}/${RENDITION}/${segNames[0]}`);
        if (refused.status !== 401) throw new Error(`${s.name} served a private segment without a token (${refused.status})`);
      }
    }

    const workloads = [
      { key: 'segments', name: `2 s segments (${segNames.length} files, ${kb(sizeOf(segNames))})`, files: segNames },
      { key: 'parts', name: `0.5 s parts (${partNames.length} files, ${kb(sizeOf(partNames))})`, files: partNames },
    ].filter((w) => runs(w.key as 'segments' | 'parts'));
    if (workloads.length === 0) servers.splice(0, servers.length, ...servers.filter((x) => x.name === 'edge'));
    const cpus = os.cpus();
    console.log([
      '',
      '# bench/edge: token-checked segment GETs, edge vs nginx',
      `machine: ${cpus.length} x ${cpus[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}; ${spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr.trim()}`,
      `load: separate process (bench/load.ts, raw sockets), ${CONNECTIONS} keep-alive connections, closed loop, ${SECONDS} s per run, ${RUNS} interleaved runs after a ${WARMUP_SECONDS} s warm-up per server`,
      `edge: apps/edge/src/main.ts, ${CHANNEL} is followers-only: every request verifies an address-bound playback token (${token.length} chars)`,
      '',
    ].join('\n'));

    const results = new Map<string, Map<string, Measured[]>>();
    const measure = async (server: Server, files: string[], seconds: number): Promise<Measured> => {
      const lookups = server.edge ? await cacheLookups(server.url) : new Map<string, number>();
      const before = server.cpu();
      const r = await runLoad({ url: server.url, paths: files.map((f) => pathOf(server, f)), connections: CONNECTIONS, duration: seconds });
      const cpu = cpuDelta(before, server.cpu());
      const cacheHitRatio = server.edge ? hitRatio(lookups, await cacheLookups(server.url)) : Number.NaN;
      return { ...r, cpuUsPerRequest: r.requests > 0 ? (cpu * 1e6) / r.requests : 0, cacheHitRatio };
    };
    for (const w of workloads) {
      const byServer = new Map<string, Measured[]>(servers.map((s) => [s.name, []]));
      results.set(w.name, byServer);
      for (const s of servers) await measure(s, w.files, WARMUP_SECONDS);
      for (let run = 0; run < RUNS; run++) {
        const order = servers.map((_, i) => servers[(i + run) % servers.length]!);
        for (const s of order) {
          const m = await measure(s, w.files, SECONDS);
          byServer.get(s.name)!.push(m);
          console.log(`${w.name.split(' (')[0]}, run ${run + 1}, ${s.name}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99.toFixed(1)} ms, ${m.cpuUsPerRequest.toFixed(0)} CPU-µs/req, cache hits ${pctText(m.cacheHitRatio)} (load generator ${(m.cpuSeconds / SECONDS).toFixed(2)} cores), errors ${m.errors}/${m.non2xx}`);
        }
      }
    }

    // ---- table ----
    const rows: string[][] = [['workload', 'server', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'cache hits', 'load gen cores', 'errors/non-2xx']];
    const verdicts: string[] = [];
    for (const [wname, byServer] of results) {
      const med = (name: string, f: (m: Measured) => number) => median(byServer.get(name)!.map(f));
      for (const s of servers) {
        const ms = byServer.get(s.name)!;
        rows.push([wname, s.name, med(s.name, (m) => m.rps).toFixed(0), (med(s.name, (m) => m.bytesPerSecond) / 1e6).toFixed(0), med(s.name, (m) => m.p50).toFixed(1),
          med(s.name, (m) => m.p99).toFixed(1), med(s.name, (m) => m.cpuUsPerRequest).toFixed(0), pctText(med(s.name, (m) => m.cacheHitRatio)), (med(s.name, (m) => m.cpuSeconds) / SECONDS).toFixed(2), `${ms.reduce((a, m) => a + m.errors, 0)}/${ms.reduce((a, m) => a + m.non2xx, 0)}`]);
      }
      const ng = servers[0]!.name;
      for (const s of servers.slice(1)) {
        // ratio of each run's pair (same run, adjacent in time), then the median of those
        const ratios = byServer.get(s.name)!.map((m, i) => m.rps / byServer.get(ng)![i]!.rps);
        const cpuRatios = byServer.get(s.name)!.map((m, i) => m.cpuUsPerRequest / byServer.get(ng)![i]!.cpuUsPerRequest);
        rows.push([wname, `${s.name} / nginx`, `${median(ratios).toFixed(2)}x`, '', '', `${(med(s.name, (m) => m.p99) / med(ng, (m) => m.p99)).toFixed(2)}x`, `${median(cpuRatios).toFixed(2)}x`, '', '', '']);
        if (s.name === 'edge' || s.name.startsWith('edge, EDGE_SERVER')) verdicts.push(`${wname.split(' (')[0]}: ${s.name}/nginx throughput ${median(ratios).toFixed(2)}x, target ≥ ${TARGET_RATIO}x: ${median(ratios) >= TARGET_RATIO ? 'met' : 'NOT met'}`);
      }
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
    const line = (r: string[]) => `| ${r.map((v, c) => (c < 2 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(' | ')} |`;
    if (results.size > 0) console.log([
      '',
      line(rows[0]!),
      `|${widths.map((w, c) => (c < 2 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
      ...rows.slice(1).map(line),
    ].join('\n'));
    if (results.size > 0) console.log([
      '',
      `medians of ${RUNS} runs; ratios: median of the per-run ratios (req/s, CPU) or ratio of the medians (p99).`,
      'cache hits: share of the edge\'s object requests answered from memory (object cache, live store), from its /metrics before and after each run (edge_object_cache_lookups_total); - when the server has no such metric.',
      'server CPU µs/req: user+sys of the server\'s processes (nginx: master + workers) per response; load gen cores: CPU of the load generator (same machine, same cores).',
      ...verdicts,
    ].join('\n'));

    // ---- wake-up latency of parked blocking reloads: NATS-fed vs polling ----
    if (runs('wakeup')) {
      const packagerNats = await connectMessaging(services.endpoints.natsUrl, 'bench-packager', services.natsAuth('worker'));
      try {
        const polling = servers.find((x) => x.name === 'edge')!;
        console.log(`\n# wake-up: ${WAKEUP_RUNS} runs x ${WAKEUP_PARTS} parts, ${WAKEUP_CLIENTS} parked reloads per edge per part; real LL-HLS packager, 0.5 s parts, announcements on core NATS`);
        const wake = await measureWakeups({
          storage, nc: packagerNats.nc, sessionId: SESSION, channelId: CHANNEL, tokenQuery: `&token=${encodeURIComponent(token)}`,
          edges: [{ name: natsFed.name, url: natsFed.url }, { name: 'edge, polling storage (50 ms)', url: polling.url }],
          runs: WAKEUP_RUNS, partsPerRun: WAKEUP_PARTS, clients: WAKEUP_CLIENTS, warmupParts: 6,
        });
        printWakeups(wake);
      } finally {
        await packagerNats.close();
      }
    }
  } finally {
    await Promise.all([...procs.map((p) => p.stop()), nginx?.stop()]);
    await db.destroy();
    await services.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/** Prints the wake-up table: median over runs of each run's p50 and p99. */
function printWakeups(results: readonly WakeupResult[]): void {
  const rows: string[][] = [['edge', 'reloads', 'p50 ms (median of runs)', 'p99 ms (median of runs)', 'p50 per run', 'p99 per run', 'errors']];
  for (const r of results) {
    rows.push([r.name, String(r.reloads), median(r.p50s).toFixed(1), median(r.p99s).toFixed(1), r.p50s.map((x) => x.toFixed(1)).join(' / '), r.p99s.map((x) => x.toFixed(1)).join(' / '), String(r.errors)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(' | ')} |`;
  console.log('');
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w, c) => (c === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('latency: from the part\'s storage write resolving (packager) to the blocking reload\'s answer arriving (client), same clock.');
}
