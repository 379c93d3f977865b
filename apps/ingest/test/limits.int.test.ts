/**
 * The RTMP bounds on a real ingest node (nats-server with JetStream, PostgreSQL, an RTMP and an
 * RTMPS listener) while a real ffmpeg publish is live on it:
 * (a) connections over the per-address cap — counted across both listeners — are closed at TCP
 *     accept, counted in `ingest_connections_refused_total{reason="per_address"}`, and logged
 *     once for the offender however many there are;
 * (b) a connection that trickles messages without ever publishing is closed at the unpublished
 *     timeout, although it is never idle;
 * (c) a connection that sends a partial message larger than the pre-publish budget is closed, and
 *     the node's `ingest_pending_message_bytes` returns to 0;
 * (d) the ffmpeg publish stays live and keeps being received through all of it.
 * Every wait is for an event (a socket close, a JetStream event, a metric or state value), bounded
 * by a generous deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { makeSelfSignedCertificate, startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor, type Publisher } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamSubject, type DomainEvent, type EventOf } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';
import { captureLogger, type LogLine } from './helpers/log.js';
import { TestRtmpClient } from './helpers/rtmp-client.js';
import { within } from './helpers/within.js';

/** Per-address cap of the node under test (the ffmpeg publisher, from 127.0.0.1 too, holds one slot). */
const CAP = 4;
const UNPUBLISHED_TIMEOUT_MS = 3000;
const PRE_PUBLISH_BUDGET = 64 * 1024;

let tmp: string;
let services: RunningServices;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
let lines: LogLine[];
let publisher: Publisher;
let channelId: string;
let publishSessionId: string;
const sockets = new Set<Socket>();


async function streamEvents(): Promise<DomainEvent[]> {
  return (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
}

/** The value of one sample (`name{labels}` exactly as exported), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface RawConnection {
  socket: Socket;
  /** Bytes the server sent. */
  received: () => number;
  closed: Promise<void>;
}

/** A bare TCP connection to `port` (no TLS, no RTMP handshake), resolved once connected. */
async function rawOpen(port: number): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  sockets.add(socket);
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  socket.on('error', () => undefined); // a refused connection may surface as ECONNRESET
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await within(new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  }), 'a TCP connection');
  return { socket, received: () => received, closed };
}

async function client(): Promise<TestRtmpClient> {
  const c = await TestRtmpClient.open(node.rtmpAddress.port);
  sockets.add(c.socket);
  return c;
}

const limitLines = (msg: string, reason: string): LogLine[] =>
  lines.filter((l) => l.msg === msg && l.reason === reason && l.remoteAddress === '127.0.0.1');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ingest-limits-int-'));
  const cert = await makeSelfSignedCertificate(tmp, 'rtmps');
  const silent = pino({ level: 'silent' });
  services = await startServices({ logger: silent, name: 'ingest-limits-int', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'ingest-limits-test');
  await ensureEventStreams(messaging.jsm);
  const log = captureLogger();
  lines = log.lines;
  node = await startIngestNode({
    db, messaging, logger: log.logger, nodeId: 'ingest-limits',
    rtmp: { port: 0, host: '127.0.0.1' },
    rtmps: { port: 0, host: '127.0.0.1', certFile: cert.certFile, keyFile: cert.keyFile },
    http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'),
    rtmpLimits: {
      maxConnectionsPerAddress: CAP,
      unpublishedTimeoutMs: UNPUBLISHED_TIMEOUT_MS,
      maxPendingBytesUnpublished: PRE_PUBLISH_BUDGET,
      // The bare connections of (a) never handshake: they must stay until the test closes them.
      handshakeTimeoutMs: 60_000,
    },
  });

  const key = generateStreamKey();
  channelId = await ensureChannelWithKey(db, { slug: 'limits', displayName: 'limits', title: '' }, key);
  // Long enough to outlive the file (killed in afterAll).
  publisher = publishTestPattern(`rtmp://127.0.0.1:${node.rtmpAddress.port}/live/${key}`, { seconds: 300, width: 320, height: 180, fps: 15, videoKbps: 200 });
  const started = await waitFor('StreamPublishStarted', async () =>
    (await streamEvents()).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted'), 30_000, 200);
  publishSessionId = started.data.sessionId;
}, 120_000);

afterAll(async () => {
  publisher?.child.kill('SIGKILL');
  for (const s of sockets) s.destroy();
  await node?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('RTMP bounds on a live ingest node', () => {
  it('(a) closes connections over the per-address cap at accept, on both listeners; counts each, logs the offender once', { timeout: 60_000 }, async () => {
    expect(node.rtmp.stats().connections).toBe(1); // the ffmpeg publisher
    const held: RawConnection[] = [];
    for (let i = 1; i < CAP; i++) held.push(await rawOpen(i % 2 === 0 ? node.rtmpsAddress!.port : node.rtmpAddress.port));
    await waitFor('the cap to be reached', async () => node.rtmp.stats().connections === CAP, 20_000, 20);
    const sessionsBefore = node.rtmp.sessions().size;

    const over = [await rawOpen(node.rtmpAddress.port), await rawOpen(node.rtmpsAddress!.port), await rawOpen(node.rtmpAddress.port)];
    await within(Promise.all(over.map((c) => c.closed)), 'the connections over the cap to be closed');
    expect(over.map((c) => c.received())).toEqual([0, 0, 0]); // closed before any handshake byte
    expect(node.rtmp.sessions().size).toBe(sessionsBefore); // no session for them
    expect(held.every((c) => !c.socket.destroyed)).toBe(true);

    const m = await metrics();
    expect(sample(m, 'ingest_connections_refused_total{reason="per_address"}')).toBe(3);
    expect(sample(m, 'ingest_connections_refused_total{reason="total"}')).toBe(0);
    expect(sample(m, 'ingest_rtmp_connections')).toBe(CAP);
    const logged = limitLines('RTMP connection refused: limit', 'per_address');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, limit: CAP, suppressed: 0 });

    // Slots are given back when connections close: one more is admitted again.
    for (const c of held) c.socket.destroy();
    await waitFor('the held slots to be released', async () => node.rtmp.stats().connections === 1, 20_000, 20);
    const again = await rawOpen(node.rtmpAddress.port);
    await waitFor('a new connection to be admitted', async () => node.rtmp.stats().connections === 2, 20_000, 20);
    again.socket.destroy();
    await waitFor('its slot to be released', async () => node.rtmp.stats().connections === 1, 20_000, 20);
  });

  it('(b) closes a connection that trickles messages without publishing at the unpublished timeout', { timeout: 60_000 }, async () => {
    const c = await client();
    const t0 = Date.now();
    c.command('connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' });
    await c.waitForCommand('_result', 1, 20_000);
    // A ping request every 200 ms: the connection is never idle, and each one is answered.
    let pings = 0;
    const ping = Buffer.alloc(6);
    ping.writeUInt16BE(6, 0);
    const trickle = setInterval(() => {
      ping.writeUInt32BE(++pings, 2);
      c.send(4, ping, { csid: 2 });
    }, 200);
    try {
      await within(c.closed, 'the unpublished timeout to close the connection');
    } finally {
      clearInterval(trickle);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(UNPUBLISHED_TIMEOUT_MS - 100); // the timer never fires early
    const pongs = c.messages.filter((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 7).length;
    expect(pongs).toBeGreaterThanOrEqual(2); // it was talking all along

    expect(sample(await metrics(), 'ingest_connections_closed_by_limit_total{reason="unpublished_timeout"}')).toBe(1);
    expect(limitLines('closing RTMP connection: limit', 'unpublished_timeout')).toEqual([
      expect.objectContaining({ level: 40, limit: UNPUBLISHED_TIMEOUT_MS, transport: 'rtmp' }),
    ]);
  });

  it('(c) closes a connection whose partial message outgrows the pre-publish budget; the node gauge returns to 0', { timeout: 60_000 }, async () => {
    const c = await client();
    c.setChunkSize(65536);
    // A video message announced at 1 MiB on chunk stream 6: one full 64 KiB chunk, then more.
    const header = Buffer.from([0x06, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0]);
    c.write(Buffer.concat([header, Buffer.alloc(65536, 1), Buffer.from([0xc6]), Buffer.alloc(16384, 1)]));
    await within(c.closed, 'the connection to be closed');

    expect(sample(await metrics(), 'ingest_connections_closed_by_limit_total{reason="pending_bytes"}')).toBe(1);
    expect(limitLines('closing RTMP connection: limit', 'pending_bytes')).toEqual([
      expect.objectContaining({ level: 40, detail: expect.stringContaining(`more than ${PRE_PUBLISH_BUDGET} bytes`) }),
    ]);
    // The live publish's own partial messages come and go: wait for a scrape that sees none.
    await waitFor('ingest_pending_message_bytes 0', async () => sample(await metrics(), 'ingest_pending_message_bytes') === 0, 20_000, 50);
    expect(node.rtmp.stats().pendingBytes).toBeLessThan(PRE_PUBLISH_BUDGET);
  });

  it('(d) the ffmpeg publish stayed live and keeps being received', { timeout: 60_000 }, async () => {
    const info = () => node.rtmp.sessions().get(publishSessionId);
    expect(info()).toMatchObject({ publish: 'live', channelId });
    const before = info()!.bytesReceived;
    await waitFor('more bytes from the publisher', async () => (info()?.bytesReceived ?? 0) > before + 20_000, 30_000, 100);
    expect(info()).toMatchObject({ publish: 'live' });
    expect(publisher.child.exitCode).toBeNull();
    expect((await streamEvents()).filter((e) => e.type === 'StreamPublishEnded')).toHaveLength(0);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
