/**
 * infra/messaging against a real nats-server: idempotent stream setup, msgID deduplication,
 * optimistic concurrency (ConcurrencyError), durable consumers that redeliver on failure and
 * terminate undecodable messages, and reading a subject's history in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { channelSubject, EVENTS_STREAM, LEASES_STREAM, publishLeaseSubject, streamEvent, streamSubject, makeEnvelope, systemClock, type DomainEvent } from '@live/events';
import { appendEvent, ConcurrencyError, connectMessaging, createLeaseStore, ensureEventStreams, readEvents, runDurableConsumer, type Messaging } from '@live/messaging';
import { startServices, type RunningServices } from '../src/services/index.js';
import { waitFor } from '../src/testing.js';

const clock = systemClock;
const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
let services: RunningServices;
let m: Messaging;

beforeAll(async () => {
  // Only nats-server is needed: the other endpoints are given as external (never contacted).
  // NATS with the platform's users; this test connects as the admin identity.
  services = await startServices({ logger, name: 'messaging-int', natsAuth: true, external: { temporalAddress: '127.0.0.1:1', databaseUrl: 'postgres://unused@127.0.0.1:1/x', temporalUiUrl: null } });
  m = await connectMessaging(services.endpoints.natsUrl, 'messaging-int', services.natsAuth('bootstrap'));
  await ensureEventStreams(m.jsm);
}, 60_000);
afterAll(async () => {
  await m?.close();
  await services?.stop();
});

function started(channelId: string, sessionId: string) {
  return streamEvent(clock, 'StreamPublishStarted', { channelId, sessionId, ingestNodeId: 'n1', relayUrl: 'http://x/relay/s.flv', app: 'live', source: {} }, { producer: 'test' });
}

describe('messaging', () => {
  it('declares the EVENTS stream idempotently', async () => {
    await ensureEventStreams(m.jsm);
    const info = await m.jsm.streams.info(EVENTS_STREAM);
    expect(info.config.subjects).toEqual(['evt.>']);
    expect(info.config.duplicate_window).toBe(120 * 1e9);
  });

  it('stores a retried publish once (Nats-Msg-Id = event id)', async () => {
    const e = started('dedup', 's-dedup');
    const first = await appendEvent(m.js, e);
    const second = await appendEvent(m.js, e);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    expect((await readEvents(m.js, EVENTS_STREAM, streamSubject('dedup'))).map((x) => x.event.id)).toEqual([e.id]);
  });

  it('maps a wrong expected last subject sequence to ConcurrencyError', async () => {
    const subject = channelSubject('occ');
    const ev = () => makeEnvelope(clock, { type: 'StreamFailed', version: 1, subject, data: { channelId: 'occ', sessionId: 's', stage: 'transcode', reason: 'x' }, meta: { correlationId: 's', causationId: null, producer: 't' } });
    const a = await appendEvent(m.js, ev(), { expectedLastSubjectSequence: 0 });
    await expect(appendEvent(m.js, ev(), { expectedLastSubjectSequence: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
    const b = await appendEvent(m.js, ev(), { expectedLastSubjectSequence: a.seq });
    expect(b.seq).toBeGreaterThan(a.seq);
  });

  it('redelivers after a handler failure, terminates garbage, and keeps log order', async () => {
    const events = [started('cons', 's1'), started('cons', 's2'), started('cons', 's3')];
    await appendEvent(m.js, events[0]!);
    await m.js.publish(streamSubject('cons'), new TextEncoder().encode('{not json')); // an undecodable message
    await appendEvent(m.js, events[1]!);
    await appendEvent(m.js, events[2]!);
    const seen: string[] = [];
    let failedOnce = false;
    let resolveAll!: () => void;
    const allSeen = new Promise<void>((r) => { resolveAll = r; });
    const consumer = await runDurableConsumer(m.js, m.jsm, {
      stream: EVENTS_STREAM, durable: 'test-cons', filterSubject: streamSubject('cons'), logger, backoffMs: [100],
      async handle(event: DomainEvent) {
        const sid = (event.data as { sessionId: string }).sessionId;
        if (sid === 's2' && !failedOnce) { failedOnce = true; throw new Error('transient'); }
        seen.push(sid);
        if (seen.length === 3) resolveAll();
      },
    });
    await allSeen;
    await consumer.stop();
    expect(failedOnce).toBe(true);
    expect(seen).toEqual(['s1', 's2', 's3']);
    // Acks are asynchronous: wait until the server has them all, garbage (terminated) included.
    const info = await waitFor('all acked', async () => {
      const i = await m.jsm.consumers.info(EVENTS_STREAM, 'test-cons');
      if (process.env.TEST_LOG) console.log(JSON.stringify({ ap: i.num_ack_pending, p: i.num_pending, d: i.delivered, a: i.ack_floor, r: i.num_redelivered }));
      return i.num_ack_pending === 0 && i.num_pending === 0 ? i : undefined;
    }, 20_000, 100);
    expect(info.delivered.stream_seq).toBeGreaterThanOrEqual(4);
  }, 30_000);
});

describe('leases', () => {
  it('lets exactly one holder claim a subject until it is released', async () => {
    const a = createLeaseStore(m, { logger });
    const b = createLeaseStore(m, { logger });
    const subject = publishLeaseSubject('lease-1');
    const results = await Promise.all([a.acquire(subject, 'node-a/s1'), b.acquire(subject, 'node-b/s2')]);
    expect(results.filter(Boolean)).toHaveLength(1); // concurrent claims: exactly one wins
    const [winner, loser] = results[0] ? [a, b] : [b, a];
    const winnerId = results[0] ? 'node-a/s1' : 'node-b/s2';
    expect(await loser.acquire(subject, 'node-x/s3')).toBe(false);
    winner.release(subject, winnerId);
    await waitFor('released', async () => loser.acquire(subject, 'node-x/s3'), 30_000, 100);
    await loser.close();
    await winner.close();
  }, 60_000);

  it('renews a held lease, and a release during the claim frees it', async () => {
    const a = createLeaseStore(m, { logger, renewEveryMs: 100 });
    const subject = publishLeaseSubject('lease-2');
    expect(await a.acquire(subject, 'n/s1')).toBe(true);
    const first = await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject });
    // Renewed (every 100 ms): a newer message on the lease's subject.
    const renewed = await waitFor('the lease renewed', async () => {
      const last = await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject });
      return last && last.seq > first!.seq ? last : undefined;
    }, 30_000, 50);
    expect(renewed.seq).toBeGreaterThan(first!.seq);
    await a.close();
    expect((await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject }))!.json()).toMatchObject({ state: 'released' });

    const pending = a.acquire(subject, 'n/s2');
    a.release(subject, 'n/s2'); // the publisher left while its claim was in flight
    expect(await pending).toBe(false);
    expect((await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject }))!.json()).toMatchObject({ state: 'released', holder: 'n/s2' });
  }, 60_000);
});
