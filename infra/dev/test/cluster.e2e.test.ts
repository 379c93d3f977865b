/**
 * The cluster profile (issue 18), end to end on one machine: three nats-servers with the
 * platform's streams at R3, MinIO, two of every app behind HAProxy. A real ffmpeg publishes
 * through HAProxy's RTMP frontend; both edges serve the live stream (from S3 and the packager's
 * announcements, no shared disk); with one nats-server SIGKILLed the event log keeps accepting
 * events and the stream keeps being packaged; the broadcast ends as one session and one VOD.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelSubject, domainEvent, EVENTS_STREAM, systemClock, type DomainEvent } from '@live/events';
import { appendEvent } from '@live/messaging';
import { fetchText, masterVariants, publishTestPattern, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

let t: TestStack;

beforeAll(async () => { t = await startTestStack('e2e-cluster', { profile: 'cluster' }); }, 300_000);
afterAll(async () => { await t?.stop(); }, 120_000);

const sessionOf = (e: DomainEvent): string => (e.data as { sessionId: string }).sessionId;

describe('cluster profile', () => {
  it('runs three nats-servers, MinIO, HAProxy and two instances of every app; streams at R3', async () => {
    const { info } = t.stack;
    expect(info.profile).toBe('cluster');
    expect(Object.keys(info.pids).sort()).toEqual([
      'analytics-store', 'api-1', 'api-2', 'chat-1', 'chat-2', 'edge-1', 'edge-2', 'ingest-1', 'ingest-2',
      'projector-1', 'projector-2', 'worker-1', 'worker-2',
    ]);
    expect(Object.keys(info.servicePids)).toEqual(expect.arrayContaining(['nats-1', 'nats-2', 'nats-3', 'temporal', 'postgres', 'minio', 'haproxy']));
    expect(Object.keys(info.edgeUrls)).toEqual(['edge-1', 'edge-2']);
    expect(info.natsUrl.split(',')).toHaveLength(3);
    expect(info.s3?.bucket).toBeTruthy();
    const events = await t.messaging.jsm.streams.info(EVENTS_STREAM);
    expect(events.config.num_replicas).toBe(3);
    for (const url of [info.apiUrl, info.edgeUrl, info.chatUrl, ...Object.values(info.edgeUrls)]) {
      expect((await fetch(`${url}/healthz`)).status, url).toBe(200);
    }
  }, 60_000);

  it('publishes through HAProxy, plays from both edges, survives a nats-server SIGKILL, ends as one session and one VOD', async () => {
    const { info } = t.stack;
    const services = t.stack.services;
    const pub = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 40, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
    try {
      const sessionId = await waitFor('StreamPublishStarted', async () => (await t.channelEvents()).find((e) => e.type === 'StreamPublishStarted'), 60_000).then(sessionOf);
      // Each edge, directly: the live master and a media playlist with segments.
      for (const [name, edge] of Object.entries(info.edgeUrls)) {
        const master = await waitFor(`live master on ${name}`, async () => {
          const r = await fetch(`${edge}/live/${info.demoChannelId}/master.m3u8`);
          return r.ok ? r.text() : undefined;
        }, 60_000);
        const variant = masterVariants(master)[0]!;
        const url = new URL(variant.uri, `${edge}/live/${info.demoChannelId}/master.m3u8`).href;
        await waitFor(`segments on ${name}`, async () => segmentDurations(await fetchText(url)).length >= 1, 60_000);
      }

      // One nats-server down: the event log still takes events, and packaging goes on.
      const stream = await t.messaging.jsm.streams.info(EVENTS_STREAM);
      const victim = stream.cluster?.replicas?.[0]?.name ?? 'nats-2';
      await services.natsCluster!.kill(victim);
      const probeEvent = domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject(info.demoChannelId), {
        channelId: info.demoChannelId, title: 'Cluster test', category: 'just-chatting', tags: ['demo'], language: 'en', mature: false,
      }, { producer: 'cluster-e2e' });
      await waitFor('an append with one server down', () => appendEvent(t.messaging.js, probeEvent, { timeoutMs: 2_000 }).then(() => true), 30_000, 200);
      const degraded = await waitFor('a replica reported offline or behind', async () => {
        const s = await t.messaging.jsm.streams.info(EVENTS_STREAM);
        return s.cluster?.replicas?.some((r) => r.offline || !r.current) ? s.cluster : undefined;
      }, 30_000, 200);
      console.log('EVENTS with one server down:', JSON.stringify(degraded));
      const master = await fetchText(`${info.edgeUrl}/live/${info.demoChannelId}/master.m3u8`);
      const mediaUrl = new URL(masterVariants(master)[0]!.uri, `${info.edgeUrl}/live/${info.demoChannelId}/master.m3u8`).href;
      const before = segmentDurations(await fetchText(mediaUrl)).length;
      await waitFor('new segments with one server down', async () => segmentDurations(await fetchText(mediaUrl)).length > before, 30_000);
      await services.natsCluster!.restart(victim);

      const exit = await pub.done;
      expect(exit.code, exit.stderr).toBe(0);
      const events = await waitFor('VodReady', async () => {
        const evs = await t.channelEvents();
        return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
      }, 180_000, 1000);
      const types = events.map((e) => e.type);
      expect(types).not.toContain('StreamFailed');
      expect(new Set(events.map(sessionOf))).toEqual(new Set([sessionId]));
      expect(types.filter((x) => x === 'VodReady')).toHaveLength(1);
      const ids = events.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      pub.child.kill('SIGINT');
      await pub.done;
    }
  }, 400_000);
});
