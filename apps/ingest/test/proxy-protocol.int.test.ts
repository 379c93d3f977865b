/**
 * The PROXY protocol on the RTMP and RTMPS listeners, behind a real HAProxy (`send-proxy-v2`,
 * connecting from 127.0.0.2, the address the server trusts): a publisher connecting to HAProxy
 * from 127.0.0.3 is authorized as 127.0.0.3, not as HAProxy; ffmpeg publishing `rtmps://`
 * through HAProxy (TLS passed through, ending at the server, the header before it) is authorized
 * under its own address; a connection from HAProxy's address without a header, or with a
 * malformed one, is closed and logged, and the publish going on beside it is untouched; a peer
 * the server does not trust connects directly without a header.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { freePort, makeSelfSignedCertificate, startHaproxy, type HaproxyHandle } from '@live/dev';
import { publishTestPattern, type Publisher } from '@live/dev/testing';
import { loadTlsFiles } from '@live/runtime';
import { createRelay } from '../src/relay/index.js';
import { createRtmpServer, type AuthorizePublishRequest, type RtmpServer } from '../src/rtmp/index.js';
import { captureLogger, type LogLine } from './helpers/log.js';
import { TestRtmpClient } from './helpers/rtmp-client.js';

const HAPROXY_ADDRESS = '127.0.0.2';
const PUBLISHER_ADDRESS = '127.0.0.3';

let server: RtmpServer;
let port: number;
let health: Server;
let haproxy: HaproxyHandle;
let haproxyPort: number;
let haproxyTlsPort: number;
let caFile: string;
let tlsPublisher: Publisher | undefined;
let lines: LogLine[];
const authorized: AuthorizePublishRequest[] = [];
const clients: TestRtmpClient[] = [];

beforeAll(async () => {
  const log = captureLogger();
  lines = log.lines;
  server = createRtmpServer({
    logger: log.logger,
    mediaSink: createRelay({ logger: log.logger }),
    async authorizePublish(req) {
      authorized.push(req);
      return { ok: true, channelId: `ch-${req.streamKey}` };
    },
    async onPublishStarted() {},
    async onPublishEnded() {},
    limits: { handshakeTimeoutMs: 2000, mediaInfoTimeoutMs: 60_000 },
    proxyProtocol: { trusts: (peer) => peer === HAPROXY_ADDRESS },
  });
  port = (await server.listen(0, '127.0.0.1')).port;
  const dir = mkdtempSync(join(tmpdir(), 'proxy-protocol-'));
  const cert = await makeSelfSignedCertificate(dir, 'ingest');
  caFile = cert.certFile;
  const tlsPort = (await server.listenTls(0, '127.0.0.1', loadTlsFiles(cert))).address.port;
  health = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  const healthPort = (health.address() as AddressInfo).port;
  haproxy = await startHaproxy({
    configDir: join(dir, 'haproxy'),
    logger: pino({ level: 'silent' }),
    tcp: [
      { name: 'rtmp', port: await freePort(), backends: [{ name: 'ingest-1', port, healthPort }], sendProxy: true, source: HAPROXY_ADDRESS },
      { name: 'rtmps', port: await freePort(), backends: [{ name: 'ingest-1', port: tlsPort, healthPort }], sendProxy: true, source: HAPROXY_ADDRESS },
    ],
  });
  haproxyPort = Number(new URL(haproxy.urls.rtmp!).port);
  haproxyTlsPort = Number(new URL(haproxy.urls.rtmps!).port);
  await vi.waitFor(async () => expect((await haproxy.serverStats()).filter((s) => s.server === 'ingest-1').map((s) => s.status)).toEqual(['UP', 'UP']), { timeout: 20_000, interval: 200 });
}, 60_000);

afterAll(async () => {
  tlsPublisher?.child.kill('SIGKILL');
  for (const c of clients) c.close();
  await server?.close();
  await haproxy?.stop();
  health?.close();
});

async function open(p: number, opts: { localAddress?: string; prefix?: Buffer } = {}, handshake = true): Promise<TestRtmpClient> {
  const c = await TestRtmpClient.open(p, handshake, opts);
  clients.push(c);
  return c;
}

/** connect, createStream, publish `key`; resolves with the publish's onStatus code. */
async function publish(c: TestRtmpClient, key: string): Promise<unknown> {
  const sid = await c.connectAndCreateStream('live', key);
  c.streamCommand(sid, 'publish', 5, null, key, 'live');
  return (await c.waitForStatus()).code;
}

describe('PROXY protocol from a trusted load balancer', () => {
  it('authorizes a publisher through HAProxy under its own address, not HAProxy\'s', async () => {
    const c = await open(haproxyPort, { localAddress: PUBLISHER_ADDRESS });
    expect(await publish(c, 'through-haproxy')).toBe('NetStream.Publish.Start');
    expect(authorized.find((a) => a.streamKey === 'through-haproxy')?.remoteAddress).toBe(PUBLISHER_ADDRESS);
    const session = [...server.sessions().values()].find((s) => s.channelId === 'ch-through-haproxy');
    expect(session?.remoteAddress).toBe(PUBLISHER_ADDRESS);
  });

  it('authorizes an RTMPS publisher through HAProxy under its own address (the header before TLS)', async () => {
    tlsPublisher = publishTestPattern(`rtmps://localhost:${haproxyTlsPort}/live/over-tls`, { seconds: 60, width: 320, height: 180, fps: 30, videoKbps: 300, tlsCaFile: caFile });
    await vi.waitFor(() => expect(authorized.find((a) => a.streamKey === 'over-tls')).toBeDefined(), { timeout: 30_000, interval: 100 });
    // ffmpeg connects from 127.0.0.1 (it cannot pick its source address); HAProxy from 127.0.0.2.
    expect(authorized.find((a) => a.streamKey === 'over-tls')?.remoteAddress).toBe('127.0.0.1');
    expect([...server.sessions().values()].find((s) => s.channelId === 'ch-over-tls')).toMatchObject({ transport: 'rtmps', remoteAddress: '127.0.0.1' });
  });

  it('closes a connection from the load balancer\'s address without a valid header, and logs it; the others go on', async () => {
    const live = [...server.sessions().values()].find((s) => s.channelId === 'ch-through-haproxy');
    expect(live?.publish).toBeDefined();
    // A bare RTMP handshake from HAProxy's address: no header at all.
    const bare = await open(port, { localAddress: HAPROXY_ADDRESS }, false);
    bare.write(Buffer.alloc(1537, 3));
    await bare.closed;
    // A v1 line with a malformed address.
    const junk = await open(port, { localAddress: HAPROXY_ADDRESS, prefix: Buffer.from('PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n') }, false);
    await junk.closed;
    // Silence: closed at the handshake timeout.
    const silent = await open(port, { localAddress: HAPROXY_ADDRESS }, false);
    await silent.closed;
    const warnings = lines.filter((l) => l.msg === 'closing RTMP connection: no valid PROXY protocol header from the load balancer');
    expect(warnings.length, 'logged once per window and address').toBe(1);
    expect(warnings[0]).toMatchObject({ remoteAddress: HAPROXY_ADDRESS, reason: 'no PROXY protocol header' });
    expect(authorized.map((a) => a.remoteAddress)).toEqual([PUBLISHER_ADDRESS, '127.0.0.1']);
    expect([...server.sessions().values()].find((s) => s.channelId === 'ch-through-haproxy')?.publish).toBe(live?.publish);
  });

  it('takes a header sent by hand, v1, and a direct publisher that is not the load balancer without one', async () => {
    const v1 = await open(port, { localAddress: HAPROXY_ADDRESS, prefix: Buffer.from('PROXY TCP4 198.51.100.7 127.0.0.1 40000 1935\r\n') });
    expect(await publish(v1, 'v1-by-hand')).toBe('NetStream.Publish.Start');
    const direct = await open(port, { localAddress: PUBLISHER_ADDRESS });
    expect(await publish(direct, 'direct')).toBe('NetStream.Publish.Start');
    expect(Object.fromEntries(authorized.map((a) => [a.streamKey, a.remoteAddress]))).toEqual({
      'through-haproxy': PUBLISHER_ADDRESS, 'over-tls': '127.0.0.1', 'v1-by-hand': '198.51.100.7', direct: PUBLISHER_ADDRESS,
    });
  });
});
