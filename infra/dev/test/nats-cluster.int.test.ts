/**
 * A three-server nats cluster (`startServices({ natsServers: 3 })` → `startNatsCluster`) with the
 * platform's authorization on every node and the platform's streams at R3: with one server
 * SIGKILLed (the EVENTS stream's leader, the worst case) the ingest identity still appends events
 * and the JetStream API reports three replicas, one of them offline; the server restarted on the
 * same store catches up (current, no lag, every message in its own store). A follower
 * (`followSubject`, an R1 ordered consumer) whose consumer's server dies for good recreates it on
 * a live server and keeps receiving, without that server coming back.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { EVENTS_STREAM, streamEvent, streamSubject, systemClock, type DomainEvent } from '@live/events';
import { appendEvent, connectMessaging, ensureEventStreams, followSubject, type Messaging } from '@live/messaging';
import { startServices, type NatsClusterHandle, type RunningServices } from '../src/services/index.js';

const silent = pino({ level: process.env.TEST_LOG ?? 'silent' });
let services: RunningServices;
let cluster: NatsClusterHandle;
let admin: Messaging;
let ingest: Messaging;

function publishStarted(sessionId: string): DomainEvent {
  return streamEvent(systemClock, 'StreamPublishStarted', { channelId: 'ch-cluster', sessionId, ingestNodeId: 'n1', relayUrl: 'http://x/relay/s.flv', app: 'live', source: {} }, { producer: 'test' });
}

/** The EVENTS stream's replica set as the JetStream API (`$JS.API.STREAM.INFO`) reports it. */
async function eventsCluster() {
  const info = await admin.jsm.streams.info(EVENTS_STREAM);
  return { info, cluster: info.cluster! };
}

/** Messages of EVENTS in node `name`'s own store, from its monitoring `/jsz` (not the leader's answer). */
async function messagesOnNode(name: string): Promise<number | undefined> {
  const res = await fetch(`${cluster.node(name).monitorUrl}/jsz?streams=true`);
  const body = (await res.json()) as { account_details?: Array<{ stream_detail?: Array<{ name: string; state?: { messages: number } }> }> };
  return body.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === EVENTS_STREAM)?.state?.messages;
}

beforeAll(async () => {
  services = await startServices({
    logger: silent, name: 'nats-cluster-int', natsAuth: true, natsServers: 3,
    external: { temporalAddress: '127.0.0.1:1', databaseUrl: 'postgres://unused@127.0.0.1:1/x', temporalUiUrl: null },
  });
  cluster = services.natsCluster!;
  admin = await connectMessaging(services.endpoints.natsUrl, 'cluster-admin', services.natsAuth('bootstrap'), { logger: silent });
  ingest = await connectMessaging(services.endpoints.natsUrl, 'cluster-ingest', services.natsAuth('ingest'), { logger: silent });
}, 120_000);
afterAll(async () => {
  await ingest?.close().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await services?.stop();
});

describe('three nats-servers, streams at R3', { timeout: 120_000 }, () => {
  it('starts nats-1..3 as one cluster and gives a comma-separated URL of all three', () => {
    expect(cluster.nodes.map((n) => n.name)).toEqual(['nats-1', 'nats-2', 'nats-3']);
    expect(services.endpoints.natsUrl).toBe(cluster.nodes.map((n) => n.url).join(','));
    expect(services.pids).toMatchObject({ 'nats-1': cluster.nodes[0]!.process.pid, 'nats-3': cluster.nodes[2]!.process.pid });
    expect(services.pids.nats).toBeUndefined();
  });

  it('keeps accepting events with one server SIGKILLed, and the restarted server catches up', async () => {
    await ensureEventStreams(admin.jsm, { replicas: 3, logger: silent });
    const before = await vi.waitFor(async () => {
      const r = await eventsCluster();
      expect(r.cluster.leader).toBeTruthy();
      expect(r.cluster.replicas?.map((p) => p.current)).toEqual([true, true]);
      return r;
    }, { timeout: 30_000, interval: 200 });
    expect(before.info.config.num_replicas).toBe(3);
    for (let i = 0; i < 5; i++) await appendEvent(ingest.js, publishStarted(`before-${i}`));

    const victim = before.cluster.leader!;
    const killedAt = Date.now();
    await cluster.kill(victim);
    // Appends stall until the two servers left elect a new stream leader (NATS raft election
    // timeout: 4-9 s); a retry of the same event is stored once (Nats-Msg-Id).
    const firstDuring = publishStarted('during-0');
    const firstAck = await vi.waitFor(() => appendEvent(ingest.js, firstDuring, { timeoutMs: 1_000 }), { timeout: 30_000, interval: 100 });
    const writableMs = Date.now() - killedAt;
    const degraded = await vi.waitFor(async () => {
      const r = await eventsCluster();
      expect(r.cluster.leader).toBeTruthy();
      expect(r.cluster.leader).not.toBe(victim);
      expect(r.cluster.replicas?.find((p) => p.name === victim)?.current).toBe(false);
      return r;
    }, { timeout: 30_000, interval: 100 });
    const appended = [firstAck];
    for (let i = 1; i < 20; i++) appended.push(await appendEvent(ingest.js, publishStarted(`during-${i}`)));
    // (The first may be a duplicate: an attempt that timed out may have been stored.)
    expect(appended.every((a) => a.stream === EVENTS_STREAM) && appended.slice(1).every((a) => !a.duplicate)).toBe(true);
    const whileDown = await eventsCluster();
    console.log(`EVENTS with ${victim} SIGKILLed (first append acknowledged ${writableMs} ms after the kill; JetStream API $JS.API.STREAM.INFO): ${JSON.stringify({
      num_replicas: whileDown.info.config.num_replicas, messages: whileDown.info.state.messages, cluster: whileDown.cluster,
    })}`);
    expect(whileDown.info.state.messages).toBe(25);
    const peers = [whileDown.cluster.leader, ...(whileDown.cluster.replicas ?? []).map((p) => p.name)];
    expect(peers.sort()).toEqual(['nats-1', 'nats-2', 'nats-3']);
    const lagging = whileDown.cluster.replicas!.filter((p) => !p.current);
    expect(lagging.map((p) => p.name)).toEqual([victim]);
    expect(degraded.cluster.leader).not.toBe(victim);

    const restartedAt = Date.now();
    await cluster.restart(victim);
    const rejoinedMs = Date.now() - restartedAt;
    const healed = await vi.waitFor(async () => {
      const r = await eventsCluster();
      const back = r.cluster.replicas?.find((p) => p.name === victim);
      expect(back).toMatchObject({ current: true });
      expect(back?.offline ?? false).toBe(false);
      expect(back?.lag ?? 0).toBe(0);
      expect(await messagesOnNode(victim)).toBe(25);
      return r;
    }, { timeout: 60_000, interval: 250 });
    console.log(`EVENTS after ${victim} restarted (rejoined the meta group after ${rejoinedMs} ms, stream replica current after ${Date.now() - restartedAt} ms): ${JSON.stringify({ messages: healed.info.state.messages, cluster: healed.cluster })}`);
    expect(healed.cluster.replicas?.every((p) => p.current)).toBe(true);
  });

  it('keeps a follower receiving after the server holding its consumer dies for good', async () => {
    const received: string[] = [];
    const follower = await followSubject(admin, {
      stream: EVENTS_STREAM, filter: streamSubject('ch-cluster'), from: 'end', logger: silent,
      onMessage: (msg) => { received.push((msg.json() as DomainEvent).id); },
    });
    try {
      const first = publishStarted('follow-0');
      await appendEvent(ingest.js, first);
      await vi.waitFor(() => expect(received).toContain(first.id), { timeout: 30_000, interval: 100 });
      // The ordered consumer's one server (R1): the victim.
      const host = await vi.waitFor(async () => {
        for await (const c of await admin.jsm.consumers.list(EVENTS_STREAM)) {
          if (!c.config.durable_name && c.config.filter_subject === streamSubject('ch-cluster') && c.cluster?.leader) return c.cluster.leader;
        }
        throw new Error('no ordered consumer listed yet');
      }, { timeout: 30_000, interval: 200 });
      await cluster.kill(host);
      try {
        const after = publishStarted('follow-1');
        await vi.waitFor(() => appendEvent(ingest.js, after, { timeoutMs: 1_000 }), { timeout: 30_000, interval: 100 });
        // nats.js alone would wait for `host` to return; the follower recreates its consumer.
        await vi.waitFor(() => expect(received).toContain(after.id), { timeout: 45_000, interval: 200 });
        expect(received.filter((id) => id === after.id)).toHaveLength(1);
      } finally {
        await cluster.restart(host);
      }
    } finally {
      await follower.close();
    }
  });
});
