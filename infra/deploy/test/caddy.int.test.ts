/**
 * The Caddy front (infra/deploy/caddy): both Caddyfiles are formatted, validate with their
 * environment placeholders set, and adapt to routes that send each path to the right app
 * (checked on the adapted JSON by walking its routes the way Caddy's HTTP server does); then
 * Caddyfile.internal runs for real in front of three stand-in apps and proxies HTTPS requests,
 * an unbuffered server-sent-events stream and a WebSocket upgrade, hides the apps' /metrics and
 * replaces a client's X-Forwarded-For. `npm test`'s bootstrap installs caddy (Debian package).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const caddyDir = join(deployDir, 'caddy');
const PRODUCTION = join(caddyDir, 'Caddyfile');
const INTERNAL = join(caddyDir, 'Caddyfile.internal');

const home = mkdtempSync(join(tmpdir(), 'deploy-caddy-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** The environment Caddy runs with: its data and config directories in the test's temp dir. */
function caddyEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
  return { ...env, ...vars };
}

function caddy(args: string[], vars: Record<string, string> = {}) {
  return spawnSync('caddy', args, { env: caddyEnv(vars), encoding: 'utf8', cwd: home });
}

// --- A small model of Caddy's route execution, for the adapted JSON ---------------------------

interface Handler {
  handler: string;
  routes?: Route[];
  upstreams?: Array<{ dial: string }>;
  flush_interval?: number;
  status_code?: number | string;
  load_balancing?: { selection_policy?: { policy: string } };
  response?: { delete?: string[]; deferred?: boolean };
}
interface Route { group?: string; match?: Array<Record<string, unknown>>; handle?: Handler[]; terminal?: boolean }
interface CaddyConfig {
  apps: {
    http: { servers: Record<string, { listen: string[]; routes: Route[]; errors?: { routes: Route[] } }> };
    tls?: { automation?: { policies?: Array<{ subjects?: string[]; issuers?: Array<{ module: string }> }> } };
  };
}

/** Handlers that write the response (the end of a chain). */
const RESPONDERS = new Set(['reverse_proxy', 'static_response', 'file_server']);

/** Caddy's path matcher for the pattern forms the Caddyfiles use: exact, `prefix*`, `*suffix` (case-insensitive). */
function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.toLowerCase();
  const s = path.toLowerCase();
  const stars = p.split('*').length - 1;
  if (stars === 0) return p === s;
  if (stars === 1 && p.endsWith('*')) return s.startsWith(p.slice(0, -1));
  if (stars === 1 && p.startsWith('*')) return s.endsWith(p.slice(1));
  throw new Error(`path pattern ${pattern} is not modelled by this test`);
}

function routeMatches(route: Route, req: { host: string; path: string }): boolean {
  if (!route.match) return true;
  return route.match.some((set) => Object.entries(set).every(([kind, values]) => {
    if (kind === 'host') return (values as string[]).includes(req.host);
    if (kind === 'path') return (values as string[]).some((p) => pathMatches(p, req.path));
    throw new Error(`matcher ${kind} is not modelled by this test`);
  }));
}

/**
 * Runs `routes` for a request as Caddy does: in order, at most one route per group, each
 * matching route's handlers in order (subroutes recursively) until one writes the response;
 * a terminal route ends its list. Pushes every handler that ran onto `trail`; true once a
 * responder ran.
 */
function execute(routes: Route[], req: { host: string; path: string }, trail: Handler[]): boolean {
  const groupsDone = new Set<string>();
  for (const route of routes) {
    if (route.group && groupsDone.has(route.group)) continue;
    if (!routeMatches(route, req)) continue;
    if (route.group) groupsDone.add(route.group);
    for (const h of route.handle ?? []) {
      if (h.handler === 'subroute') {
        if (execute(h.routes ?? [], req, trail)) return true;
        continue;
      }
      trail.push(h);
      if (RESPONDERS.has(h.handler)) return true;
    }
    if (route.terminal) return false;
  }
  return false;
}

/** The handlers a request for `host` + `path` runs through on the HTTPS server of `config`. */
function handlersFor(config: CaddyConfig, host: string, path: string): Handler[] {
  const servers = Object.values(config.apps.http.servers);
  expect(servers.length).toBe(1);
  const trail: Handler[] = [];
  expect(execute(servers[0]!.routes, { host, path }, trail), `${path}: no handler writes a response`).toBe(true);
  return trail;
}

function adapt(file: string, vars: Record<string, string>): CaddyConfig {
  const r = caddy(['adapt', '--config', file, '--adapter', 'caddyfile'], vars);
  expect(r.status, `caddy adapt ${file}\n${r.stderr}`).toBe(0);
  // Any warning (an unformatted file, a deprecated directive) is a defect of the file.
  expect(r.stderr.split('\n').filter((l) => /"level":"(warn|error)"/.test(l)), r.stderr).toEqual([]);
  return JSON.parse(r.stdout) as CaddyConfig;
}

const UPSTREAMS = { LIVE_API_UPSTREAM: '10.0.0.1:8080', LIVE_EDGE_UPSTREAM: '10.0.0.2:8081', LIVE_CHAT_UPSTREAM: '10.0.0.3:8082 10.0.0.3:8083' };
const API = ['10.0.0.1:8080'];
const EDGE = ['10.0.0.2:8081'];
const CHAT = ['10.0.0.3:8082', '10.0.0.3:8083'];

/** Path → where it must go. */
const ROUTES: Array<[string, string[] | 'sse' | 404]> = [
  ['/api/users/me', API], ['/api/auth/login', API], ['/api/channels/demo', API], ['/api/beacons', API],
  ['/api/notifications/stream', 'sse'],
  ['/chat/demo', CHAT],
  ['/live/demo/master.m3u8', EDGE], ['/live/demo/720p/part-12.m4s', EDGE], ['/sessions/s1/vod/master.m3u8', EDGE], ['/keys/s1/0.key', EDGE],
  ['/', EDGE], ['/watch/live/demo', EDGE], ['/dashboard', EDGE], ['/assets/index-abc123.js', EDGE], ['/healthz', EDGE],
  ['/metrics', 404], ['/Metrics', 404], ['/metrics/', 404],
];

describe('caddy files', () => {
  beforeAll(() => {
    expect(spawnSync('caddy', ['version']).status, 'caddy is missing: run `bash infra/dev/bin/ensure.sh` (Debian package caddy)').toBe(0);
  });

  it('are formatted as `caddy fmt` writes them', () => {
    for (const file of [PRODUCTION, INTERNAL, join(caddyDir, 'live-routes.caddy')]) {
      const r = caddy(['fmt', file]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout, `${file} is not formatted: caddy fmt --overwrite ${file}`).toBe(readFileSync(file, 'utf8'));
    }
  });

  it('validate with their placeholders set, and with the upstreams left at their defaults', { timeout: 60_000 }, () => {
    for (const [file, vars] of [
      [PRODUCTION, { LIVE_DOMAIN: 'live.example.com', ...UPSTREAMS }],
      [PRODUCTION, { LIVE_DOMAIN: 'live.example.com' }],
      [INTERNAL, { LIVE_HTTPS_PORT: '8443', LIVE_HTTP_PORT: '8080', LIVE_CADDY_ADMIN: 'off', ...UPSTREAMS }],
      [INTERNAL, {}],
    ] as const) {
      const r = caddy(['validate', '--config', file, '--adapter', 'caddyfile'], vars);
      expect(r.status, `caddy validate ${file} ${JSON.stringify(vars)}\n${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/Valid configuration/);
    }
  });

  it('refuses the production file without LIVE_DOMAIN', () => {
    const r = caddy(['validate', '--config', PRODUCTION, '--adapter', 'caddyfile'], UPSTREAMS);
    expect(r.status).not.toBe(0);
  });

  for (const [label, file, vars, host] of [
    ['Caddyfile (production)', PRODUCTION, { LIVE_DOMAIN: 'live.example.com', ...UPSTREAMS }, 'live.example.com'],
    ['Caddyfile.internal', INTERNAL, { LIVE_DOMAIN: 'live.test', ...UPSTREAMS }, 'live.test'],
  ] as const) {
    it(`${label}: sends each path to its app, without Caddy's Server header`, () => {
      const config = adapt(file, vars);
      for (const [path, want] of ROUTES) {
        const trail = handlersFor(config, host, path);
        const responder = trail[trail.length - 1]!;
        expect(trail.some((h) => h.handler === 'headers' && h.response?.delete?.includes('Server')), `${path}: Server header kept`).toBe(true);
        if (want === 404) {
          expect(responder, path).toMatchObject({ handler: 'static_response', status_code: 404 });
          continue;
        }
        expect(responder.handler, path).toBe('reverse_proxy');
        expect(responder.upstreams!.map((u) => u.dial), path).toEqual(want === 'sse' ? API : want);
        // Only the notification stream is flushed at once (the API's other answers are whole JSON bodies).
        expect(responder.flush_interval, path).toBe(want === 'sse' ? -1 : undefined);
        if (want === CHAT) expect(responder.load_balancing?.selection_policy?.policy).toBe('least_conn');
      }
      // Another host is not served.
      const trail: Handler[] = [];
      expect(execute(Object.values(config.apps.http.servers)[0]!.routes, { host: 'other.example.com', path: '/' }, trail)).toBe(false);
      // Caddy's own error responses (an app down: 502) drop the Server header too.
      const errors = Object.values(config.apps.http.servers)[0]!.errors?.routes ?? [];
      const errorTrail: Handler[] = [];
      execute(errors, { host, path: '/api/users/me' }, errorTrail);
      expect(errorTrail.some((h) => h.handler === 'headers' && h.response?.delete?.includes('Server'))).toBe(true);
    });
  }

  it('takes its certificate from ACME in production and from Caddy\'s local CA in Caddyfile.internal', () => {
    const prod = adapt(PRODUCTION, { LIVE_DOMAIN: 'live.example.com' });
    const internalIssuers = (c: CaddyConfig) => (c.apps.tls?.automation?.policies ?? []).flatMap((p) => p.issuers ?? []).filter((i) => i.module === 'internal');
    expect(internalIssuers(prod)).toEqual([]);
    expect(Object.values(prod.apps.http.servers)[0]!.listen).toEqual([':443']);
    const local = adapt(INTERNAL, { LIVE_HTTPS_PORT: '18443' });
    expect(internalIssuers(local).length).toBe(1);
    expect(Object.values(local.apps.http.servers)[0]!.listen).toEqual([':18443']);
  });

  it('use the apps\' default ports on this machine when the upstreams are not set', () => {
    const config = adapt(PRODUCTION, { LIVE_DOMAIN: 'live.example.com' });
    const dial = (path: string) => handlersFor(config, 'live.example.com', path).pop()!.upstreams!.map((u) => u.dial);
    expect([dial('/api/users/me'), dial('/live/x/master.m3u8'), dial('/chat/x')]).toEqual([['127.0.0.1:8080'], ['127.0.0.1:8081'], ['127.0.0.1:8082']]);
  });
});

// --- Caddyfile.internal running in front of stand-in apps -------------------------------------

interface Seen { path: string; headers: http.IncomingHttpHeaders }

/**
 * A stand-in app: records what reaches it and answers `{"app": name}`, unless `special`
 * answers the request itself (returns true).
 */
function standIn(name: string, special?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ path: req.url!, headers: req.headers });
    if (special?.(req, res)) return;
    res.writeHead(200, { 'content-type': 'application/json', server: `stand-in-${name}` }).end(JSON.stringify({ app: name }));
  });
  return { name, seen, server };
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

describe('Caddyfile.internal in front of stand-in apps', () => {
  /** The SSE stand-in's control: 'send' writes one more event, 'end' closes the stream. */
  const sse = new EventEmitter();
  // The API stand-in streams /api/notifications/stream as server-sent events, one per 'send'.
  const api = standIn('api', (req, res) => {
    if (req.url !== '/api/notifications/stream') return false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: one\n\n');
    const send = (data: string) => res.write(`data: ${data}\n\n`);
    sse.on('send', send);
    sse.once('end', () => { sse.off('send', send); res.end(); });
    return true;
  });
  const edge = standIn('edge');
  const chat = standIn('chat');
  let proc: ChildProcess;
  let port: number;
  let ca: Buffer;
  let logs = '';

  beforeAll(async () => {
    expect(spawnSync('caddy', ['version']).status, 'caddy is missing: run `bash infra/dev/bin/ensure.sh` (Debian package caddy)').toBe(0);
    // The chat stand-in accepts WebSocket upgrades (RFC 6455 handshake) and echoes what it gets.
    chat.server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      chat.seen.push({ path: req.url!, headers: req.headers });
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on('data', (d) => socket.write(d));
    });
    const [apiPort, edgePort, chatPort] = [await listen(api.server), await listen(edge.server), await listen(chat.server)];
    port = await freePort();
    proc = spawn('caddy', ['run', '--config', INTERNAL, '--adapter', 'caddyfile'], {
      cwd: home,
      env: caddyEnv({
        LIVE_DOMAIN: 'localhost', LIVE_HTTPS_PORT: String(port), LIVE_HTTP_PORT: String(await freePort()), LIVE_CADDY_ADMIN: 'off',
        LIVE_API_UPSTREAM: `127.0.0.1:${apiPort}`, LIVE_EDGE_UPSTREAM: `127.0.0.1:${edgePort}`, LIVE_CHAT_UPSTREAM: `127.0.0.1:${chatPort}`,
      }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Ready once the configuration is served and the local CA has issued the site's certificate.
    await new Promise<void>((resolve, reject) => {
      let served = false;
      let certified = false;
      proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        logs += chunk;
        served ||= logs.includes('"msg":"serving initial configuration"');
        certified ||= /"msg":"certificate obtained successfully","identifier":"localhost"/.test(logs);
        if (served && certified) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`caddy exited (${code}):\n${logs}`)));
    });
    ca = readFileSync(join(home, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt'));
  }, 30_000);

  afterAll(async () => {
    sse.emit('end');
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
    for (const s of [api.server, edge.server, chat.server]) {
      s.closeAllConnections();
      s.close();
    }
  });

  /** An HTTPS request to Caddy as https://localhost:<port>, trusting only Caddy's local CA. */
  function request(path: string, headers: Record<string, string> = {}): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path, servername: 'localhost', ca, headers: { host: `localhost:${port}`, ...headers } }, resolve).on('error', reject);
    });
  }

  async function body(res: http.IncomingMessage): Promise<string> {
    let s = '';
    for await (const chunk of res) s += chunk;
    return s;
  }

  it('proxies /api/* to the API with the client\'s address in a fresh X-Forwarded-For', async () => {
    const res = await request('/api/users/me', { 'x-forwarded-for': '203.0.113.9' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(await body(res))).toEqual({ app: 'api' });
    expect(res.headers.server).toBeUndefined();
    const seen = api.seen.find((s) => s.path === '/api/users/me')!;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
  });

  it('proxies HLS, keys, VOD and the web app\'s pages to the edge', async () => {
    for (const path of ['/live/demo/master.m3u8', '/sessions/s1/vod/master.m3u8', '/keys/s1/0.key', '/', '/watch/live/demo']) {
      const res = await request(path);
      expect([path, res.statusCode, JSON.parse(await body(res))]).toEqual([path, 200, { app: 'edge' }]);
      expect(edge.seen.map((s) => s.path)).toContain(path);
    }
  });

  it('answers /metrics itself with 404: the apps\' metrics stay private', async () => {
    const res = await request('/metrics');
    expect(res.statusCode).toBe(404);
    await body(res);
    expect([...edge.seen, ...api.seen, ...chat.seen].map((s) => s.path)).not.toContain('/metrics');
  });

  it('streams /api/notifications/stream event by event', async () => {
    const res = await request('/api/notifications/stream');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    res.setEncoding('utf8');
    const it = res[Symbol.asyncIterator]();
    let got = '';
    // Each event arrives while the stream is still open (the stand-in sends the next only then).
    while (!got.includes('data: one\n\n')) got += (await it.next()).value as string;
    sse.emit('send', 'two');
    while (!got.includes('data: two\n\n')) got += (await it.next()).value as string;
    sse.emit('end');
    while (!(await it.next()).done) { /* drain */ }
    expect(got).toBe('data: one\n\ndata: two\n\n');
  });

  it('passes a WebSocket upgrade on /chat/* through to the chat gateway', async () => {
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const { res, socket } = await new Promise<{ res: http.IncomingMessage; socket: Socket }>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port, path: '/chat/demo', servername: 'localhost', ca,
        headers: { host: `localhost:${port}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key },
      });
      req.on('upgrade', (r, s) => resolve({ res: r, socket: s as Socket }));
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
    socket.write('hello gateway');
    const [echo] = await once(socket, 'data') as [Buffer];
    expect(echo.toString()).toBe('hello gateway');
    socket.destroy();
    const seen = chat.seen.find((s) => s.path === '/chat/demo')!;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});
