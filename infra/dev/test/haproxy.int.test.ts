/**
 * `startHaproxy` against real backends on loopback: two HTTP servers with `/healthz` (HTTP mode,
 * as the API and edges) and two TCP echo servers each with an HTTP health port (TCP mode, as the
 * ingest nodes' RTMP). Killing one backend: requests keep succeeding through the other and the
 * statistics show it DOWN. A TCP backend whose health check fails while its connection is still
 * open gets that session cut (`on-marked-down shutdown-sessions`), so the client reconnects, to
 * the other node. A configuration HAProxy refuses, and a port in use, reject with its output.
 * The production example infra/deploy/haproxy/haproxy.cfg passes `haproxy -c`.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { spawnSync } from 'node:child_process';
import { freePort, makeSelfSignedCertificate, resolveBinary, startHaproxy, type HaproxyHandle } from '../src/services/index.js';

const silent = pino({ level: process.env.TEST_LOG ?? 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-int-'));

/** An HTTP server answering `/healthz` with 200 and anything else with its name and the X-Forwarded-For it got. */
async function httpBackend(name: string): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') { res.end('ok'); return; }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name, xff: req.headers['x-forwarded-for'] ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** A TCP server echoing `<name>:<data>`, and an HTTP server answering `/healthz` for it. */
async function echoBackend(name: string): Promise<{ port: number; healthPort: number; echo: net.Server; health: http.Server }> {
  const echo = net.createServer((socket) => {
    socket.on('data', (d) => socket.write(`${name}:${d.toString()}`));
    socket.on('error', () => undefined);
  });
  const health = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  return { port: (echo.address() as net.AddressInfo).port, healthPort: (health.address() as net.AddressInfo).port, echo, health };
}

/** Closes a server at once: the listener and every open connection. */
function kill(server: net.Server | http.Server): void {
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
}

/** A TCP client through HAProxy that reads what the echo answers. */
function tcpClient(port: number): Promise<{ socket: net.Socket; say(text: string): Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      resolve({
        socket, closed,
        say: (text) => new Promise((r, j) => { socket.once('data', (d) => r(d.toString())); socket.once('error', j); socket.write(text); }),
      });
    });
    socket.once('error', reject);
  });
}

const servers: Array<net.Server | http.Server> = [];
let api: Array<{ port: number; server: http.Server }>;
let ingest: Array<Awaited<ReturnType<typeof echoBackend>>>;
let proxy: HaproxyHandle;

async function status(proxyName: string, server: string): Promise<string | undefined> {
  return (await proxy.serverStats()).find((s) => s.proxy === proxyName && s.server === server)?.status;
}

beforeAll(async () => {
  api = [await httpBackend('api-1'), await httpBackend('api-2')];
  ingest = [await echoBackend('ingest-1'), await echoBackend('ingest-2')];
  servers.push(...api.map((a) => a.server), ...ingest.flatMap((i) => [i.echo, i.health]));
  proxy = await startHaproxy({
    configDir: path.join(dir, 'ok'), logger: silent,
    tcp: [{ name: 'rtmp', port: await freePort(), backends: ingest.map((b, i) => ({ name: `ingest-${i + 1}`, port: b.port, healthPort: b.healthPort })) }],
    http: [{ name: 'api', port: await freePort(), backends: api.map((b, i) => ({ name: `api-${i + 1}`, port: b.port })) }],
  });
  await vi.waitFor(async () => {
    const stats = await proxy.serverStats();
    expect(stats.map((s) => `${s.proxy}/${s.server} ${s.status}`).sort()).toEqual(['api/api-1 UP', 'api/api-2 UP', 'rtmp/ingest-1 UP', 'rtmp/ingest-2 UP']);
  }, { timeout: 15_000, interval: 100 });
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  for (const s of servers) kill(s);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HAProxy in front of two backends', { timeout: 60_000 }, () => {
  it('balances HTTP over both servers and adds X-Forwarded-For', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const body = (await (await fetch(`${proxy.urls.api}/hello`)).json()) as { name: string; xff: string };
      expect(body.xff).toBe('127.0.0.1');
      seen.add(body.name);
    }
    expect([...seen].sort()).toEqual(['api-1', 'api-2']);
  });

  it('keeps answering HTTP through the other server when one dies, and shows it DOWN', async () => {
    kill(api[0]!.server);
    // Before and after the health checks notice: a refused connection is redispatched.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${proxy.urls.api}/after-${i}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { name: string }).name).toBe('api-2');
    }
    await vi.waitFor(async () => expect(await status('api', 'api-1')).toBe('DOWN'), { timeout: 10_000, interval: 100 });
    expect(await status('api', 'api-2')).toBe('UP');
  });

  it('passes TCP through, cuts the sessions of a node marked down, and sends the reconnect to the other', async () => {
    const port = Number(new URL(proxy.urls.rtmp!).port);
    const first = await tcpClient(port);
    const second = await tcpClient(port); // leastconn: one connection per node
    const answers = [await first.say('a'), await second.say('b')];
    expect(answers.map((a) => a.split(':')[0]).sort()).toEqual(['ingest-1', 'ingest-2']);
    const onOne = answers[0]!.startsWith('ingest-1:') ? first : second;
    const onTwo = onOne === first ? second : first;
    // ingest-1 stops answering its health checks but its RTMP connection stays open (a hung node).
    kill(ingest[0]!.health);
    await onOne.closed; // HAProxy closed it when it marked ingest-1 down
    expect(await status('rtmp', 'ingest-1')).toBe('DOWN');
    const again = await tcpClient(port);
    expect(await again.say('c')).toBe('ingest-2:c');
    expect(await onTwo.say('d')).toBe('ingest-2:d');
    again.socket.destroy();
    onTwo.socket.destroy();
  });
});

describe('startHaproxy refusals', { timeout: 30_000 }, () => {
  it('rejects a configuration haproxy -c refuses, with its output', async () => {
    await expect(startHaproxy({
      configDir: path.join(dir, 'bad'), logger: silent, bindHost: '999.0.0.1',
      http: [{ name: 'api', port: await freePort(), backends: [{ name: 'api-1', port: api[1]!.port }] }],
    })).rejects.toThrow(/^haproxy: .*haproxy\.cfg is not a valid configuration[\s\S]*999\.0\.0\.1/);
  });

  it('rejects when a frontend port is taken, with the output tail', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    servers.push(busy);
    const port = (busy.address() as net.AddressInfo).port;
    await expect(startHaproxy({
      configDir: path.join(dir, 'busy'), logger: silent,
      http: [{ name: 'api', port, backends: [{ name: 'api-1', port: api[1]!.port }] }],
    })).rejects.toThrow(/haproxy exited while starting[\s\S]*(cannot bind|Address already in use)/i);
  });
});

describe('the production example', { timeout: 30_000 }, () => {
  it('infra/deploy/haproxy/haproxy.cfg is a valid configuration (haproxy -c, with a stand-in certificate)', async () => {
    const example = fs.readFileSync(path.join(import.meta.dirname, '../../deploy/haproxy/haproxy.cfg'), 'utf8');
    const tls = await makeSelfSignedCertificate(path.join(dir, 'prod'), 'live', { commonName: 'live.example.com' });
    fs.writeFileSync(path.join(dir, 'prod/live.pem'), fs.readFileSync(tls.certFile, 'utf8') + fs.readFileSync(tls.keyFile, 'utf8'));
    expect(example).toContain('crt /etc/haproxy/certs/live.pem');
    const cfg = path.join(dir, 'prod/haproxy.cfg');
    fs.writeFileSync(cfg, example.replaceAll('/etc/haproxy/certs/', `${path.join(dir, 'prod')}/`));
    const checked = spawnSync(resolveBinary('haproxy'), ['-c', '-f', cfg], { encoding: 'utf8' });
    expect(`${checked.stdout}${checked.stderr}`).toMatch(/Configuration file is valid/);
    expect(checked.status).toBe(0);
  });
});
