/**
 * `runBatchedDurableConsumer` against a real nats-server: a backlog arrives in batches of more
 * than one event (at most `maxBatch`), every event once and in stream order; a failed batch is
 * retried whole before anything after it; an undecodable message is terminated and left out;
 * events appended while it keeps up are handled as they come.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { EVENTS_STREAM, streamEvent, systemClock, type DomainEvent } from '@live/events';
import { appendEvent, connectMessaging, ensureEventStreams, runBatchedDurableConsumer, type BatchedEvent, type Messaging } from '@live/messaging';
import { startNatsServer, type NatsServerHandle } from '../src/services/nats.js';
import { freePort } from '../src/services/ports.js';
import { waitFor } from '../src/testing.js';

let nats: NatsServerHandle;
let m: Messaging;
let dir: string;
const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });

function health(channelId: string, i: number): DomainEvent {
  return streamEvent(systemClock, 'StreamIngestHealthReported', {
    channelId, sessionId: `s-${channelId}`, intervalMs: 5000, bitrateKbps: i, videoBitrateKbps: i, audioBitrateKbps: 0, frameRate: 30, keyframeIntervalSeconds: 2, avDriftMs: 0,
  }, { producer: 'test' }) as DomainEvent;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batched-consumer-'));
  nats = await startNatsServer({ storeDir: path.join(dir, 'js'), port: await freePort(), monitorPort: await freePort(), logger });
  m = await connectMessaging(nats.url, 'batched-consumer-int');
  await ensureEventStreams(m.jsm);
}, 60_000);

afterAll(async () => {
  await m?.close();
  await nats?.process.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('hands a backlog over in batches, in order, once each; retries a failed batch whole; terminates what it cannot decode', async () => {
  const seqs: number[] = [];
  for (let i = 0; i < 600; i++) {
    seqs.push((await appendEvent(m.js, health('batch-a', i))).seq);
    if (i === 300) await m.js.publish('evt.stream.batch-a', 'not json');
  }
  const batches: BatchedEvent[][] = [];
  let failOnce = true;
  const consumer = await runBatchedDurableConsumer(m.js, m.jsm, {
    stream: EVENTS_STREAM, durable: 'batched-test', filterSubject: 'evt.stream.batch-a', logger, maxBatch: 100, backoffMs: [10],
    async handleBatch(batch) {
      batches.push([...batch]);
      if (batches.length === 2 && failOnce) { failOnce = false; throw new Error('database unavailable'); }
    },
  });
  await waitFor('the backlog handled', async () => batches.flat().some((b) => b.seq === seqs.at(-1)), 30_000, 10);

  expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(100);
  expect(batches[0]!.length).toBeGreaterThan(1);
  // The failed second batch came again, unchanged, before anything after it.
  expect(batches[2]!.map((b) => b.seq)).toEqual(batches[1]!.map((b) => b.seq));
  const handled = [batches[0]!, ...batches.slice(2)].flat().map((b) => b.seq);
  expect(handled).toEqual(seqs);

  // Keeping up: appended one at a time, each is handled (a batch of what has arrived).
  const live: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { seq } = await appendEvent(m.js, health('batch-a', 1000 + i));
    live.push(seq);
    await waitFor(`event ${seq} handled`, async () => batches.flat().some((b) => b.seq === seq), 10_000, 5);
  }
  await consumer.stop();
  const info = await m.jsm.consumers.info(EVENTS_STREAM, 'batched-test');
  expect(info.num_ack_pending).toBe(0);
  expect(info.num_pending).toBe(0);
}, 60_000);
