/**
 * Two ingest nodes sharing one JetStream and one PostgreSQL (a cluster behind a load balancer):
 * a channel live on node A refuses a second publisher on node B (ALREADY_LIVE, no second
 * StreamPublishStarted); once A's publisher stops, B accepts the channel.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamSubject } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';

const logger = pino({ level: 'silent' });
let services: RunningServices;
let db: Db;
let messaging: Messaging;
const nodes: IngestNode[] = [];
const key = generateStreamKey();

beforeAll(async () => {
  services = await startServices({ logger, name: 'ingest-cluster', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'alice', displayName: 'Alice', title: '' }, key);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'cluster-test');
  await ensureEventStreams(messaging.jsm);
  for (const nodeId of ['ingest-a', 'ingest-b']) {
    nodes.push(await startIngestNode({
      db, messaging, logger, nodeId, rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
      relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'),
    }));
  }
}, 90_000);

afterAll(async () => {
  for (const n of nodes) await n.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
}, 60_000);

const rtmp = (i: number) => `rtmp://127.0.0.1:${nodes[i]!.rtmpAddress.port}/live/${key}`;
const started = async () => (await readEvents(messaging.js, EVENTS_STREAM, streamSubject('alice'))).filter((e) => e.event.type === 'StreamPublishStarted');

it('refuses a second publisher of a live channel on another node, and accepts it once the first stops', async () => {
  const a = publishTestPattern(rtmp(0), { seconds: 30, width: 320, height: 180, fps: 30, videoKbps: 300 });
  await waitFor('publish started on A', async () => (await started()).length === 1, 20_000);

  const b = publishTestPattern(rtmp(1), { seconds: 5, width: 320, height: 180, fps: 30, videoKbps: 300 });
  const bExit = await b.done;
  expect(bExit.code).not.toBe(0);
  expect(bExit.stderr).toMatch(/already live|BadName/i);
  expect(await started()).toHaveLength(1);

  a.child.kill('SIGINT'); // the publisher stops (ffmpeg closes the stream cleanly)
  await a.done;
  const b2 = publishTestPattern(rtmp(1), { seconds: 3, width: 320, height: 180, fps: 30, videoKbps: 300 });
  expect((await b2.done).code).toBe(0);
  const all = await started();
  expect(all).toHaveLength(2);
  expect(all.map((e) => (e.event.data as { ingestNodeId: string }).ingestNodeId)).toEqual(['ingest-a', 'ingest-b']);
}, 90_000);
