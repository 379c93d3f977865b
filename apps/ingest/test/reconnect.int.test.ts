/**
 * The reconnect window across two ingest nodes sharing one JetStream and one PostgreSQL. Node A
 * is the real ingest process (`src/main.ts`, a child process we can SIGKILL); node B runs in this
 * process. A publisher (ffmpeg) whose TCP connection drops on A (ffmpeg SIGKILLed) and that
 * publishes again on B within the window continues the same session (StreamPublishResumed via a
 * handover, no StreamPublishEnded until the real end); a second publisher while one is connected
 * is refused; nobody reconnecting ends the session when the window closes; and when node A dies
 * holding the channel, B takes its lease over (and continues the session) within seconds, not the
 * 30 s lease expiry. A stop request reaches a reconnected connection (its own id differs from
 * the session's) and ends a session waiting in its window at once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { appendEvent, connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamEvent, streamSubject, systemClock, type DomainEvent } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';

const logger = pino({ level: 'silent' });
const WINDOW_SECONDS = 10;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
let services: RunningServices;
let db: Db;
let messaging: Messaging;
let nodeB: IngestNode;
let nodeA: { child: ChildProcess; rtmpPort: number; exited: Promise<void> } | undefined;
const key = generateStreamKey();
const token = randomBytes(16).toString('hex');
const publishers: ChildProcess[] = [];

/** Starts node A as the ingest process and resolves once it listens. */
async function startNodeA(): Promise<NonNullable<typeof nodeA>> {
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env, DATABASE_URL: services.endpoints.databaseUrl, NATS_URL: services.endpoints.natsUrl, INTERNAL_TOKEN: token,
      RTMP_PORT: String(rtmpPort), RTMP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), HTTP_HOST: '127.0.0.1', INGEST_NODE_ID: 'ingest-a',
      INGEST_RECONNECT_WINDOW_SECONDS: String(WINDOW_SECONDS), LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      if (process.env.LOG === '1') process.stderr.write(d);
      if (out.includes('ingest node listening')) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000); if (process.env.LOG === '1') process.stderr.write(d); });
    void exited.then(() => reject(new Error(`node A exited: ${out}`)));
  });
  return { child, rtmpPort, exited };
}

beforeAll(async () => {
  services = await startServices({ logger, name: 'ingest-reconnect', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'alice', displayName: 'Alice', title: '' }, key);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'reconnect-test');
  await ensureEventStreams(messaging.jsm);
  const bMessaging = await connectMessaging(services.endpoints.natsUrl, 'ingest-b');
  nodeB = await startIngestNode({
    db, messaging: bMessaging, logger, nodeId: 'ingest-b', rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: token, reconnectWindowMs: WINDOW_SECONDS * 1000, healthIntervalMs: 500,
  });
  const close = nodeB.close.bind(nodeB);
  nodeB = { ...nodeB, close: async () => { await close(); await bMessaging.close(); } };
  nodeA = await startNodeA();
}, 120_000);

afterAll(async () => {
  for (const p of publishers) p.kill('SIGKILL');
  nodeA?.child.kill('SIGKILL');
  await nodeB?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
}, 60_000);

const url = (port: number) => `rtmp://127.0.0.1:${port}/live/${key}`;
const portA = () => nodeA!.rtmpPort;
const portB = () => nodeB.rtmpAddress.port;
const events = async (): Promise<DomainEvent[]> => (await readEvents(messaging.js, EVENTS_STREAM, streamSubject('alice'))).map((e) => e.event);
const lifecycle = (all: DomainEvent[]) => all.filter((e) => e.type.startsWith('StreamPublish'));
function publish(port: number, seconds = 120) {
  const p = publishTestPattern(url(port), { seconds, width: 320, height: 180, fps: 30, videoKbps: 300 });
  publishers.push(p.child);
  return p;
}
async function waitForEvent(what: string, pick: (all: DomainEvent[]) => DomainEvent | undefined, ms = 30_000): Promise<DomainEvent> {
  return waitFor(what, async () => pick(await events()), ms, 100);
}

it('continues the session on another node when the connection drops, refuses a second publisher, ends once', async () => {
  const first = publish(portA());
  const started = await waitForEvent('StreamPublishStarted on A', (all) => all.find((e) => e.type === 'StreamPublishStarted'));
  const sessionId = (started.data as { sessionId: string }).sessionId;
  expect(started.data).toMatchObject({ ingestNodeId: 'ingest-a', reconnectWindowSeconds: WINDOW_SECONDS });

  first.child.kill('SIGKILL'); // the TCP connection drops: no FCUnpublish, no deleteStream
  const interrupted = await waitForEvent('StreamPublishInterrupted', (all) => all.find((e) => e.type === 'StreamPublishInterrupted'));
  expect(interrupted.data).toMatchObject({ sessionId, ingestNodeId: 'ingest-a', reconnectWindowSeconds: WINDOW_SECONDS });

  const second = publish(portB());
  const resumed = await waitForEvent('StreamPublishResumed on B', (all) => all.find((e) => e.type === 'StreamPublishResumed'));
  expect(resumed.data).toMatchObject({ sessionId, ingestNodeId: 'ingest-b', previousIngestNodeId: 'ingest-a', lease: 'handover' });
  expect((resumed.data as { relayUrl: string }).relayUrl).not.toContain(sessionId); // the new connection's own relay
  expect(nodeB.lifecycle.sessionOf([...nodeB.rtmp.sessions().keys()][0]!)).toBe(sessionId);
  // The reconnected connection's health reports name the session.
  await waitForEvent('a health report of B', (all) => all.find((e) => e.type === 'StreamIngestHealthReported' && e.meta.producer === 'ingest:ingest-b'));
  expect((await events()).filter((e) => e.type === 'StreamIngestHealthReported').every((e) => (e.data as { sessionId: string }).sessionId === sessionId)).toBe(true);

  // A second publisher while B's is connected is refused, on either node.
  for (const port of [portA(), portB()]) {
    const exit = await publish(port, 5).done;
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toMatch(/already live|BadName/i);
  }
  expect(lifecycle(await events()).map((e) => e.type)).toEqual(['StreamPublishStarted', 'StreamPublishInterrupted', 'StreamPublishResumed']);

  second.child.kill('SIGINT'); // a clean stop ends the session at once
  await second.done;
  const ended = await waitForEvent('StreamPublishEnded', (all) => all.find((e) => e.type === 'StreamPublishEnded'));
  expect(ended.data).toMatchObject({ sessionId, reason: 'unpublished' });
  expect((ended.data as { bytesReceived: number }).bytesReceived).toBeGreaterThan(0);
  expect(lifecycle(await events()).map((e) => e.type)).toEqual(['StreamPublishStarted', 'StreamPublishInterrupted', 'StreamPublishResumed', 'StreamPublishEnded']);
}, 120_000);

it('ends the session when nobody reconnects within the window', async () => {
  const before = (await events()).length;
  const p = publish(portB());
  const started = await waitForEvent('a new StreamPublishStarted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishStarted'));
  const sessionId = (started.data as { sessionId: string }).sessionId;
  p.child.kill('SIGKILL');
  const interrupted = await waitForEvent('StreamPublishInterrupted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishInterrupted'));
  const ended = await waitForEvent('StreamPublishEnded', (all) => all.slice(before).find((e) => e.type === 'StreamPublishEnded'), 30_000);
  expect(ended.data).toMatchObject({ sessionId, reason: 'disconnected' });
  // Not before the window closed.
  expect(Date.parse(ended.occurredAt) - Date.parse(interrupted.occurredAt)).toBeGreaterThanOrEqual(WINDOW_SECONDS * 1000 - 500);
  // The channel is free again: a new publisher starts a new session.
  const next = publish(portA(), 3);
  expect((await next.done).code).toBe(0);
  const starts = (await events()).slice(before).filter((e) => e.type === 'StreamPublishStarted');
  expect(starts).toHaveLength(2);
  expect((starts[1]!.data as { sessionId: string }).sessionId).not.toBe(sessionId);
}, 90_000);

it('takes over the lease of a node that died holding the channel within seconds, continuing its session', async () => {
  await waitForEvent('the last session ended', (all) => {
    const l = lifecycle(all);
    return l.at(-1)?.type === 'StreamPublishEnded' ? l.at(-1) : undefined;
  });
  const before = (await events()).length;
  publish(portA());
  const started = await waitForEvent('StreamPublishStarted on A', (all) => all.slice(before).find((e) => e.type === 'StreamPublishStarted'));
  const sessionId = (started.data as { sessionId: string }).sessionId;
  expect(started.data).toMatchObject({ ingestNodeId: 'ingest-a' });

  nodeA!.child.kill('SIGKILL'); // the node dies holding the lease; its publisher's connection dies with it
  await nodeA!.exited;
  const t0 = Date.now();
  const again = publish(portB());
  const resumed = await waitForEvent('StreamPublishResumed on B', (all) => all.slice(before).find((e) => e.type === 'StreamPublishResumed'), 25_000);
  const tookMs = Date.now() - t0;
  expect(resumed.data).toMatchObject({ sessionId, ingestNodeId: 'ingest-b', previousIngestNodeId: 'ingest-a', lease: 'takeover' });
  expect(tookMs).toBeLessThan(10_000); // ffmpeg start + one handover round trip, far below the 30 s lease expiry
  again.child.kill('SIGINT');
  await again.done;
  const ended = await waitForEvent('StreamPublishEnded', (all) => all.slice(before).find((e) => e.type === 'StreamPublishEnded'));
  expect(ended.data).toMatchObject({ sessionId, reason: 'unpublished' });
  expect(lifecycle((await events()).slice(before)).map((e) => e.type)).toEqual(['StreamPublishStarted', 'StreamPublishResumed', 'StreamPublishEnded']);
}, 90_000);

it('a stop request kicks a reconnected connection by its session id, and ends a waiting session at once', async () => {
  const stop = (sessionId: string) => appendEvent(messaging.js, streamEvent(systemClock, 'StreamStopRequested', { channelId: 'alice', sessionId, actorUserId: null }, { producer: 'test' }));
  const lastEnded = (all: DomainEvent[]) => { const l = lifecycle(all); return l.at(-1)?.type === 'StreamPublishEnded' ? l.at(-1) : undefined; };
  await waitForEvent('the last session ended', lastEnded);

  // A session resumed on the same node, then stopped by its session id.
  let before = (await events()).length;
  const first = publish(portB());
  const started = await waitForEvent('StreamPublishStarted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishStarted'));
  const sessionId = (started.data as { sessionId: string }).sessionId;
  first.child.kill('SIGKILL');
  await waitForEvent('StreamPublishInterrupted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishInterrupted'));
  const again = publish(portB());
  const resumed = await waitForEvent('StreamPublishResumed', (all) => all.slice(before).find((e) => e.type === 'StreamPublishResumed'));
  expect(resumed.data).toMatchObject({ sessionId, lease: 'local' });
  await stop(sessionId);
  expect((await again.done).code).not.toBe(0); // kicked
  const kicked = await waitForEvent('StreamPublishEnded', (all) => all.slice(before).find((e) => e.type === 'StreamPublishEnded'));
  expect(kicked.data).toMatchObject({ sessionId, reason: 'kicked' });

  // A session waiting in its window ends on a stop request, long before the window closes.
  before = (await events()).length;
  const third = publish(portB());
  const s2 = await waitForEvent('StreamPublishStarted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishStarted'));
  const sessionId2 = (s2.data as { sessionId: string }).sessionId;
  third.child.kill('SIGKILL');
  const interrupted = await waitForEvent('StreamPublishInterrupted', (all) => all.slice(before).find((e) => e.type === 'StreamPublishInterrupted'));
  await stop(sessionId2);
  const ended = await waitForEvent('StreamPublishEnded', (all) => all.slice(before).find((e) => e.type === 'StreamPublishEnded'));
  // Ended by the stop, not by the window running out (which ends a session 'disconnected'),
  // however long the machine took to get there.
  expect(ended.data).toMatchObject({ sessionId: sessionId2, reason: 'kicked' });
  expect(lifecycle((await events()).slice(before)).map((e) => e.type)).toEqual(['StreamPublishStarted', 'StreamPublishInterrupted', 'StreamPublishEnded']);
  expect(Date.parse(ended.occurredAt)).toBeGreaterThanOrEqual(Date.parse(interrupted.occurredAt));
}, 90_000);
