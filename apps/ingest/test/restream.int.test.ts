/**
 * Restreaming across two ingest nodes sharing one JetStream and one PostgreSQL: the node that
 * holds the publisher pushes the channel's destination (Debian's nginx-rtmp, started by the test)
 * and only it; when the publisher drops and comes back on the other node within the reconnect
 * window, the first node's push stops before the second node's starts, so the destination is
 * pushed once at any time; the session's end stops it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { restreamSealingKey, sealSecret } from '@live/auth/sealed';
import { freePort, startServices, type RunningServices } from '@live/dev';
import { killNginx, publishTestPattern, startNginxRtmp, waitFor, type NginxRtmp, type Publisher } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, streamSubject, type DomainEvent } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';

const logger = pino({ level: 'silent' });
const sealing = restreamSealingKey(randomBytes(32).toString('base64'));
let services: RunningServices;
let db: Db;
let messaging: Messaging;
let nginx: NginxRtmp | undefined;
let nginxDir: string;
const nodes: IngestNode[] = [];
const publishers: Publisher[] = [];
const key = generateStreamKey();
const destinationId = randomUUID();

beforeAll(async () => {
  services = await startServices({ logger, name: 'ingest-restream', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'bob', displayName: 'Bob', title: '' }, key);
  nginxDir = mkdtempSync(join(tmpdir(), 'ingest-restream-nginx-'));
  nginx = await startNginxRtmp(nginxDir, await freePort());
  // The read model as the projector leaves it after RestreamDestinationAdded.
  await db.insertInto('restream_destinations').values({
    id: destinationId, channel_id: 'bob', name: 'nginx', url: nginx.url, key_sealed: sealSecret(sealing, 'bob-on-nginx'), key_last4: '',
    enabled: true, created_at: new Date(), updated_at: new Date(),
  }).execute();
  messaging = await connectMessaging(services.endpoints.natsUrl, 'restream-test');
  await ensureEventStreams(messaging.jsm);
  for (const nodeId of ['ingest-a', 'ingest-b']) {
    nodes.push(await startIngestNode({
      db, messaging, logger, nodeId, rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
      relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'), reconnectWindowMs: 30_000, restreamSealing: sealing,
    }));
  }
}, 90_000);

afterAll(async () => {
  for (const p of publishers) p.child.kill('SIGKILL');
  for (const n of nodes) await n.close();
  if (nginx) await killNginx(nginx);
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
}, 60_000);

const rtmp = (i: number) => `rtmp://127.0.0.1:${nodes[i]!.rtmpAddress.port}/live/${key}`;
const events = async (): Promise<DomainEvent[]> => (await readEvents(messaging.js, EVENTS_STREAM, streamSubject('bob'))).map((e) => e.event);
const restream = async () => (await events()).filter((e) => e.type.startsWith('Restream'))
  .map((e) => ({ type: e.type, node: (e.data as { ingestNodeId: string }).ingestNodeId, reason: (e.data as { reason?: string }).reason }));
const publish = (i: number): Publisher => {
  const p = publishTestPattern(rtmp(i), { seconds: 60, width: 320, height: 180, fps: 15, videoKbps: 200 });
  publishers.push(p);
  return p;
};

it('pushes from the node holding the publisher, hands over on a reconnect to the other node, and stops at the end', async () => {
  const a = publish(0);
  await waitFor('the push from A started', async () => (await restream()).some((e) => e.type === 'RestreamStarted' && e.node === 'ingest-a'), 30_000);

  a.child.kill('SIGKILL'); // the publisher drops without a clean stop: its session waits for it
  await a.done;
  await waitFor('the push from A stopped', async () => (await restream()).some((e) => e.type === 'RestreamStopped' && e.node === 'ingest-a'), 30_000);

  const b = publish(1);
  await waitFor('the session resumed on B', async () => (await events()).some((e) => e.type === 'StreamPublishResumed'), 30_000);
  await waitFor('the push from B started', async () => (await restream()).some((e) => e.type === 'RestreamStarted' && e.node === 'ingest-b'), 30_000);

  b.child.kill('SIGINT'); // a clean stop ends the session
  await b.done;
  await waitFor('the push from B stopped', async () => (await restream()).some((e) => e.type === 'RestreamStopped' && e.node === 'ingest-b'), 30_000);

  expect(await restream()).toEqual([
    { type: 'RestreamStarted', node: 'ingest-a', reason: undefined },
    { type: 'RestreamStopped', node: 'ingest-a', reason: 'publisher-disconnected' },
    { type: 'RestreamStarted', node: 'ingest-b', reason: undefined },
    { type: 'RestreamStopped', node: 'ingest-b', reason: 'session-ended' },
  ]);
}, 120_000);
