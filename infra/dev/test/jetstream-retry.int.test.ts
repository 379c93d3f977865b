/**
 * infra/messaging's start-up against a nats-server that does not answer for a while (SIGSTOP:
 * what a cluster electing its leaders, or a server starved of CPU, looks like to a client): the
 * stream check and a durable consumer's setup retry their timed-out JetStream requests, logged
 * at warn, and complete once the server answers again (SIGCONT), instead of the process exiting.
 * A refusal is not retried.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { EVENTS_STREAM, streamEvent, systemClock, type DomainEvent } from '@live/events';
import { appendEvent, connectMessaging, ensureEventStreams, retryTransient, runDurableConsumer, type Messaging } from '@live/messaging';
import { startNatsServer, type NatsServerHandle } from '../src/services/nats.js';
import { freePort } from '../src/services/ports.js';
import { waitFor } from '../src/testing.js';

let nats: NatsServerHandle;
let m: Messaging;
let dir: string;
const quiet = pino({ level: 'silent' });

/** A pino logger whose warn lines (their `msg`) are collected in `lines`, with a waiter for the next one. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push((JSON.parse(l) as { msg: string }).msg);
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'js-retry-'));
  nats = await startNatsServer({ storeDir: path.join(dir, 'js'), port: await freePort(), monitorPort: await freePort(), logger: quiet });
  m = await connectMessaging(nats.url, 'js-retry-int');
}, 60_000);

afterAll(async () => {
  if (nats?.process.isAlive()) process.kill(nats.process.pid, 'SIGCONT');
  await m?.close();
  await nats?.process.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('sets up the streams and a durable consumer once a server that stopped answering answers again', async () => {
  const streams = capturingLogger();
  process.kill(nats.process.pid, 'SIGSTOP');
  let ensured = false;
  const ensuring = ensureEventStreams(m.jsm, { logger: streams.logger }).then((r) => { ensured = true; return r; });
  await waitFor('a retried stream check logged', async () => streams.lines.some((l) => l === 'stream EVENTS: JetStream did not answer; retrying'), 60_000, 100);
  expect(ensured).toBe(false);
  process.kill(nats.process.pid, 'SIGCONT');
  expect((await ensuring)[EVENTS_STREAM]).toBe('created');

  const consumer = capturingLogger();
  process.kill(nats.process.pid, 'SIGSTOP');
  const handled: DomainEvent[] = [];
  const starting = runDurableConsumer(m.js, m.jsm, {
    stream: EVENTS_STREAM, durable: 'retry-int', filterSubject: 'evt.stream.>', logger: consumer.logger,
    handle: async (e) => { handled.push(e); },
  });
  await waitFor('a retried consumer setup logged', async () => consumer.lines.some((l) => l === `consumer retry-int on ${EVENTS_STREAM}: JetStream did not answer; retrying`), 60_000, 100);
  process.kill(nats.process.pid, 'SIGCONT');
  const running = await starting;
  const e = streamEvent(systemClock, 'StreamPublishStarted', { channelId: 'c-retry', sessionId: 's-retry', ingestNodeId: 'n1', relayUrl: 'http://x/relay/s.flv', app: 'live', source: {} }, { producer: 'test' });
  await appendEvent(m.js, e);
  await waitFor('the event handled by the consumer', async () => handled.some((h) => h.id === e.id), 30_000, 100);
  await running.stop();
}, 120_000);

it('does not retry a refusal', async () => {
  let attempts = 0;
  await expect(retryTransient(async () => {
    attempts += 1;
    return m.jsm.streams.info('NO_SUCH_STREAM');
  }, { what: 'stream NO_SUCH_STREAM', logger: quiet })).rejects.toThrow(/stream not found/i);
  expect(attempts).toBe(1);
});
