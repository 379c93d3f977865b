/**
 * RTMPS (RTMP inside TLS) on the ingest node, against a real nats-server (JetStream) and
 * PostgreSQL and real ffmpeg publishers, with throwaway certificates from a test CA made by the
 * openssl CLI: (a) ffmpeg trusting the test CA publishes over RTMPS and the channel is then live
 * for the plain RTMP listener too; (b) a client that does not trust the certificate fails and
 * nothing is published; (c) certificate files replaced on disk are served to new connections
 * without a restart while a live RTMPS publish carries on. Plus the RTMPS listener of
 * `createRtmpServer` alone: TLS handshake failures and timeouts close only their connection, and
 * one live publish per channel spans both listeners.
 * Every wait is for an event (a JetStream event, a log line, a reload, a process exit), bounded.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor, type Publisher } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamSubject, type DomainEvent, type EventOf } from '@live/events';
import { loadTlsFiles } from '@live/runtime';
import { startIngestNode, type IngestNode } from '../src/node.js';
import { createRtmpServer, type PublishStartedEvent, type RtmpServer } from '../src/rtmp/index.js';
import { captureLogger, type LogLine } from './helpers/log.js';
import { TestRtmpClient } from './helpers/rtmp-client.js';
import { within } from './helpers/within.js';

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const PATTERN = { width: 320, height: 180, fps: 15, videoKbps: 200 };

let tmp: string;
let ca: { certFile: string; keyFile: string };
/** The files the node serves (replaced by rename in test c). */
let live: { certFile: string; keyFile: string };
let firstLeaf: Leaf;
let services: RunningServices;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
let lines: LogLine[];
const children = new Set<ChildProcess>();
const cleanups: Array<() => unknown> = [];

// ---- certificates -------------------------------------------------------------------------

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: 'ignore' });
};

interface Leaf {
  cert: string;
  key: string;
  fingerprint256: string;
  serialNumber: string;
}

let leafCount = 0;
/** A P-256 leaf for localhost / 127.0.0.1 signed by the test CA: a new key pair and a random serial each time. */
function newLeaf(): Leaf {
  const n = ++leafCount;
  const key = join(tmp, `leaf${n}.key`);
  const csr = join(tmp, `leaf${n}.csr`);
  const cert = join(tmp, `leaf${n}.crt`);
  const ext = join(tmp, `leaf${n}.ext`);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', csr);
  openssl('x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '1', '-extfile', ext, '-out', cert);
  const x = new X509Certificate(readFileSync(cert));
  return { cert: readFileSync(cert, 'latin1'), key: readFileSync(key, 'latin1'), fingerprint256: x.fingerprint256, serialNumber: x.serialNumber };
}

/** Replaces `path` the way certbot/Caddy do: a temp file beside it renamed over it. */
function replaceByRename(path: string, text: string): void {
  const t = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  writeFileSync(t, text);
  renameSync(t, path);
}

// ---- clients ------------------------------------------------------------------------------

/** Spawns ffmpeg publishing the test pattern to `url` with extra output options (e.g. TLS ones). */
function publish(url: string, seconds: number, extra: string[] = []): Publisher {
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${PATTERN.width}x${PATTERN.height}:rate=${PATTERN.fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(PATTERN.fps * 2), '-b:v', `${PATTERN.videoKbps}k`,
    '-c:a', 'aac', '-b:a', '64k', '-ar', '48000',
    ...extra,
    '-f', 'flv', url,
  ];
  const child = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, stderr });
    });
    child.on('error', (err) => resolve({ code: -1, stderr: String(err) }));
  });
  return { child, done };
}

/** `-tls_verify 1 -ca_file <test CA>`: options of ffmpeg's tls protocol, which rtmps:// runs on. */
const trustTestCa = (): string[] => ['-tls_verify', '1', '-ca_file', ca.certFile];

/**
 * Opens a TLS connection to `port`; resolves with the socket once the handshake is done, or
 * rejects with the client's error (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE).
 * @param trust `ca`: the test CA; `default`: Node's bundled CAs; `none`: no verification.
 */
async function tlsOpen(port: number, trust: 'ca' | 'default' | 'none'): Promise<TLSSocket> {
  const socket = tlsConnect({
    port, host: '127.0.0.1', servername: 'localhost',
    ...(trust === 'ca' ? { ca: readFileSync(ca.certFile) } : {}),
    rejectUnauthorized: trust !== 'none',
  });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

/** Fingerprint of the certificate the listener on `port` serves to a new connection. */
async function servedFingerprint(port: number): Promise<string> {
  const s = await tlsOpen(port, 'ca');
  const fp = s.getPeerCertificate().fingerprint256;
  s.destroy();
  return fp;
}

/**
 * A local TLS-terminating tunnel (like stunnel) to an RTMPS listener, so the plain-TCP scripted
 * {@link TestRtmpClient} can speak RTMP inside TLS: returns the tunnel's port.
 */
async function tlsTunnel(rtmpsPort: number): Promise<number> {
  const server: NetServer = createNetServer((plain) => {
    const secure = tlsConnect({ port: rtmpsPort, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(ca.certFile) });
    plain.pipe(secure).pipe(plain);
    plain.on('error', () => secure.destroy());
    secure.on('error', () => plain.destroy());
    plain.on('close', () => secure.destroy());
    secure.on('close', () => plain.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

// ---- events -------------------------------------------------------------------------------

async function streamEvents(channelId: string): Promise<DomainEvent[]> {
  return (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);
}

async function waitStarted(channelId: string): Promise<EventOf<'StreamPublishStarted'>> {
  return waitFor(`StreamPublishStarted of ${channelId}`, async () =>
    (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted'), 20_000, 200);
}

async function waitEnded(channelId: string, sessionId: string): Promise<EventOf<'StreamPublishEnded'>> {
  return waitFor(`StreamPublishEnded of ${sessionId}`, async () =>
    (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishEnded'> => e.type === 'StreamPublishEnded' && e.data.sessionId === sessionId), 15_000, 200);
}


/** Waits for a log line matching `pred` (already written ones count). */
function waitLog(all: LogLine[], what: string, pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
  return waitFor(what, async () => all.find(pred), timeoutMs, 50);
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
}

// ---- harness ------------------------------------------------------------------------------

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'rtmps-int-'));
  ca = { certFile: join(tmp, 'ca.crt'), keyFile: join(tmp, 'ca.key') };
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=RTMPS test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', ca.keyFile, '-out', ca.certFile);
  firstLeaf = newLeaf();
  live = { certFile: join(tmp, 'fullchain.pem'), keyFile: join(tmp, 'privkey.pem') };
  writeFileSync(live.certFile, firstLeaf.cert);
  writeFileSync(live.keyFile, firstLeaf.key);

  const silent = pino({ level: 'silent' });
  services = await startServices({ logger: silent, name: 'ingest-rtmps-int', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'ingest-rtmps-test');
  await ensureEventStreams(messaging.jsm);
  const log = captureLogger();
  lines = log.lines;
  node = await startIngestNode({
    db, messaging, logger: log.logger, nodeId: 'ingest-rtmps',
    rtmp: { port: 0, host: '127.0.0.1' },
    rtmps: { port: 0, host: '127.0.0.1', certFile: live.certFile, keyFile: live.keyFile, reloadDebounceMs: 100 },
    http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'),
  });
}, 120_000);

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const c of cleanups.splice(0)) c();
});

afterAll(async () => {
  await node?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

const rtmpsUrl = (key: string): string => `rtmps://127.0.0.1:${node.rtmpsAddress!.port}/live/${key}`;
const rtmpUrl = (key: string): string => `rtmp://127.0.0.1:${node.rtmpAddress.port}/live/${key}`;

describe('RTMPS on the ingest node', () => {
  it('(a) ffmpeg trusting the test CA publishes over RTMPS; the channel is then live for the plain RTMP listener too', { timeout: 60_000 }, async () => {
    expect(node.rtmpsAddress).toMatchObject({ address: '127.0.0.1', port: expect.any(Number) });
    expect(node.rtmpsAddress!.port).not.toBe(node.rtmpAddress.port);
    const key = generateStreamKey();
    const channelId = await ensureChannelWithKey(db, { slug: 'rtmps-a', displayName: 'rtmps-a', title: '' }, key);

    const p = publish(rtmpsUrl(key), 10, trustTestCa());
    const started = await waitStarted(channelId);
    expect(started.data).toMatchObject({ channelId, ingestNodeId: 'ingest-rtmps', app: 'live' });
    expect(started.data.source.video).toMatchObject({ codec: 'h264', width: 320, height: 180 });
    expect(node.rtmp.sessions().get(started.data.sessionId)).toMatchObject({ transport: 'rtmps', publish: 'live', channelId });

    // One publisher per channel across both listeners.
    const second = publishTestPattern(rtmpUrl(key), { seconds: 3, ...PATTERN });
    children.add(second.child);
    const refused = await second.done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already live|BadName/i);

    const exit = await p.done; // ffmpeg reaches -t and closes the stream
    expect(exit.code, exit.stderr).toBe(0);
    const ended = await waitEnded(channelId, started.data.sessionId);
    expect(ended.data.reason).toBe('unpublished');
    expect(ended.data.bytesReceived).toBeGreaterThan(10_000);
    expect((await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted')).toHaveLength(1);
  });

  it('(b) a client that does not trust the certificate fails the handshake, and nothing is published', { timeout: 60_000 }, async () => {
    const key = generateStreamKey();
    const channelId = await ensureChannelWithKey(db, { slug: 'rtmps-b', displayName: 'rtmps-b', title: '' }, key);
    const port = node.rtmpsAddress!.port;
    const before = lines.length;

    // Node's bundled CAs do not include the test CA.
    const err = await tlsOpen(port, 'default').then(() => undefined, (e: NodeJS.ErrnoException) => e);
    expect(err?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    // The server logs that connection as one line, with its address.
    const failed = await waitLog(lines, 'the handshake failure line', (l) => lines.indexOf(l) >= before && l.msg === 'RTMPS TLS handshake failed');
    expect(failed).toMatchObject({ level: 30, remoteAddress: '127.0.0.1', reason: expect.any(String) });

    // ffmpeg verifying against the system trust store (no -ca_file) refuses the server.
    const untrusting = await publish(rtmpsUrl(key), 3, ['-tls_verify', '1']).done;
    expect(untrusting.code).not.toBe(0);
    expect(untrusting.stderr).toMatch(/certificate|verif/i);

    // Plain RTMP spoken to the RTMPS port is not TLS: closed alone, logged alone.
    const plain = await publish(`rtmp://127.0.0.1:${port}/live/${key}`, 3).done;
    expect(plain.code).not.toBe(0);
    await waitLog(lines, 'the non-TLS line', (l) => lines.indexOf(l) >= before && l.msg === 'RTMPS TLS handshake failed' && /VERSION|PROTOCOL|RECORD|HTTP/i.test(String(l.reason)));

    expect((await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted')).toHaveLength(0);
    expect([...node.rtmp.sessions().values()].filter((s) => s.channelId === channelId)).toHaveLength(0);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain(key);
  });

  it('(c) replaced certificate files are served to new connections without a restart; a live RTMPS publish is unaffected', { timeout: 90_000 }, async () => {
    const key = generateStreamKey();
    const channelId = await ensureChannelWithKey(db, { slug: 'rtmps-c', displayName: 'rtmps-c', title: '' }, key);
    const port = node.rtmpsAddress!.port;
    const oldFp = await servedFingerprint(port);
    expect(oldFp).toBe(node.rtmpsCertificate!.certificate().fingerprint256);

    const p = publish(rtmpsUrl(key), 60, trustTestCa());
    const started = await waitStarted(channelId);
    const sessionId = started.data.sessionId;
    const bytesAt = (): number => node.rtmp.sessions().get(sessionId)?.bytesReceived ?? -1;

    const next = newLeaf();
    expect(next.serialNumber).not.toBe(firstLeaf.serialNumber);
    expect(next.fingerprint256).not.toBe(oldFp);

    // certbot order: the certificate lands first; until its key follows, the pair is refused
    // and the old certificate stays in service.
    const logFrom = lines.length;
    replaceByRename(live.certFile, next.cert);
    const refused = await waitLog(lines, 'the refused reload', (l) => lines.indexOf(l) >= logFrom && l.msg === 'TLS files not reloaded; keeping the previous certificate');
    expect(refused).toMatchObject({ level: 40, problem: 'KEY_MISMATCH' });
    expect(await servedFingerprint(port)).toBe(oldFp);

    const reloaded = new Promise<string>((resolve) => {
      const off = node.rtmpsCertificate!.subscribe((_o, cert) => {
        off();
        resolve(cert.fingerprint256);
      });
    });
    replaceByRename(live.keyFile, next.key);
    expect(await within(reloaded, 'the reload', 15_000)).toBe(next.fingerprint256);
    expect(await servedFingerprint(port)).toBe(next.fingerprint256);
    expect(loadTlsFiles(live).cert).toBe(next.cert);

    // The publish that was live across the reload keeps streaming on its TLS session ...
    const afterReload = bytesAt();
    await waitFor('bytes received after the reload', async () => bytesAt() > afterReload + 20_000, 15_000, 100);
    expect(node.rtmp.sessions().get(sessionId)).toMatchObject({ transport: 'rtmps', publish: 'live' });
    expect(p.child.exitCode).toBeNull();
    // ... and ends normally (ffmpeg stopped by SIGINT unpublishes before it exits); a new ffmpeg
    // trusting the CA is accepted with the new certificate.
    p.child.kill('SIGINT');
    await p.done;
    expect((await waitEnded(channelId, sessionId)).data.reason).toBe('unpublished');
    const again = publish(rtmpsUrl(key), 30, trustTestCa());
    const started2 = await waitFor('the second StreamPublishStarted', async () =>
      (await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted')[1], 20_000, 200);
    expect(started2.data).toMatchObject({ channelId });
    again.child.kill('SIGINT');
    await again.done;

    const m = await metrics();
    expect(m).toMatch(/^ingest_tls_reloads_total\{result="ok"\} 1$/m);
    expect(m).toMatch(/^ingest_tls_reloads_total\{result="refused"\} 1$/m);
    const expiry = Number(/^ingest_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(m)?.[1]);
    expect(expiry * 1000).toBe(node.rtmpsCertificate!.certificate().validTo.getTime());
  });
});

describe('RTMPS listener of createRtmpServer', () => {
  let server: RtmpServer;
  let plainPort: number;
  let log: LogLine[];
  let started: PublishStartedEvent[];

  beforeAll(async () => {
    const captured = captureLogger();
    log = captured.lines;
    started = [];
    server = createRtmpServer({
      logger: captured.logger,
      async authorizePublish({ streamKey }) {
        return streamKey === 'good-key' ? { ok: true, channelId: 'ch-good' } : { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'Unknown stream key.' };
      },
      async onPublishStarted(s) {
        started.push(s);
      },
      async onPublishEnded() {},
      limits: { handshakeTimeoutMs: 400, mediaInfoTimeoutMs: 200 },
    });
    plainPort = (await server.listen(0, '127.0.0.1')).port;
  });

  afterAll(async () => {
    await server?.close();
  });

  it('closes a silent client at the TLS handshake timeout and garbage at once, each alone; a live TLS session and one-publish-per-channel carry on', { timeout: 30_000 }, async () => {
    const tls = await server.listenTls(0, '127.0.0.1', loadTlsFiles(live));

    // A publish over RTMPS (scripted client through a TLS tunnel) goes live.
    const c = await TestRtmpClient.open(await tlsTunnel(tls.address.port));
    cleanups.push(() => c.close());
    const sid = await c.connectAndCreateStream('live', 'good-key');
    c.streamCommand(sid, 'publish', 5, null, 'good-key', 'live');
    expect(await c.waitForStatus()).toMatchObject({ code: 'NetStream.Publish.Start' });
    await waitFor('publish started', async () => started.length === 1, 5000, 20);
    const session = [...server.sessions().values()].find((s) => s.channelId === 'ch-good');
    expect(session).toMatchObject({ transport: 'rtmps', publish: 'live' });

    // The same channel on the plain listener is refused.
    const plain = await TestRtmpClient.open(plainPort);
    cleanups.push(() => plain.close());
    const psid = await plain.connectAndCreateStream('live', 'good-key');
    plain.streamCommand(psid, 'publish', 5, null, 'good-key', 'live');
    expect(await plain.waitForStatus()).toMatchObject({ code: 'NetStream.Publish.BadName' });

    // Bad TLS clients: one says nothing, one sends bytes that are not TLS, one hangs up mid-way.
    const closed = (open: (done: () => void) => void): Promise<void> => new Promise((resolve) => open(resolve));
    const t0 = Date.now();
    await Promise.all([
      closed((done) => {
        const s = netConnect(tls.address.port, '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => done());
      }),
      closed((done) => {
        const s = netConnect(tls.address.port, '127.0.0.1', () => s.write(Buffer.alloc(2048, 0x41)));
        s.resume();
        s.on('error', () => undefined);
        s.on('close', () => done());
      }),
      closed((done) => {
        const s = tlsConnect({ port: tls.address.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: true });
        s.on('error', () => undefined);
        s.on('close', () => done());
      }),
    ]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350); // the silent one waited for the timeout
    const failures = await waitFor('three handshake failure lines', async () => {
      const f = log.filter((l) => l.msg === 'RTMPS TLS handshake failed');
      return f.length >= 3 ? f : undefined;
    }, 5000, 20);
    expect(failures.map((l) => l.reason)).toEqual(expect.arrayContaining(['ERR_TLS_HANDSHAKE_TIMEOUT', 'ERR_SSL_WRONG_VERSION_NUMBER']));
    expect(failures.every((l) => l.level === 30 && l.remoteAddress === '127.0.0.1')).toBe(true);

    // The RTMPS publish is still live and still answered.
    expect(server.sessions().get(session!.sessionId)).toMatchObject({ publish: 'live' });
    c.command('createStream', 9, null);
    expect((await c.waitForCommand('_result', 9))[0]).toBe('_result');
    expect(log.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('close() does not wait for a client stuck in the TLS handshake', { timeout: 15_000 }, async () => {
    const { logger, lines: sLines } = captureLogger();
    const s = createRtmpServer({
      logger,
      async authorizePublish() {
        return { ok: false, code: 'INTERNAL', description: 'no' };
      },
      async onPublishStarted() {},
      async onPublishEnded() {},
      limits: { handshakeTimeoutMs: 60_000 },
    });
    const l = await s.listenTls(0, '127.0.0.1', loadTlsFiles(live));
    const sock = netConnect(l.address.port, '127.0.0.1');
    sock.on('error', () => undefined);
    const sockClosed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    await waitLog(sLines, 'the server to accept the connection', (x) => x.msg === 'RTMPS connection accepted; TLS handshake');
    await s.close(); // resolves although the handshake timeout is a minute away
    await sockClosed;
    await expect(s.listenTls(0, '127.0.0.1', loadTlsFiles(live))).rejects.toThrow(/closed/);
  });

  it('refuses certificate options OpenSSL cannot use', async () => {
    const other = newLeaf();
    await expect(server.listenTls(0, '127.0.0.1', { cert: firstLeaf.cert, key: other.key })).rejects.toThrow();
  });
});
