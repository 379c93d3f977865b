/**
 * WHIP ingest (whip/) on a real ingest node, nats-server (JetStream) and PostgreSQL, published to
 * by a werift WHIP client fed by ffmpeg RTP (`publishWhip`): the publish goes through the same
 * gate as RTMP (StreamPublishStarted with H.264 and the Opus transcoded to AAC, DELETE ends it
 * `unpublished`), and bad input (wrong token, malformed SDP, wrong content type, another
 * channel's URL, a session that never sends media) closes only that session, the node taking the
 * next publish.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishWhip, waitFor, type WhipPublish } from '@live/dev/testing';
import { generateStreamKey, type Db } from '@live/db';
import { appendEvent, type Messaging } from '@live/messaging';
import { streamEvent, systemClock, type EventOf } from '@live/events';
import type { IngestNode } from '../src/node.js';
import { channelWithKey as channelOf, streamEvents as eventsOf } from './helpers/channels.js';
import { startTestNode, type TestNode } from './helpers/node.js';

let t: TestNode;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
const publishes = new Set<WhipPublish>();

beforeAll(async () => {
  t = await startTestNode('whip', { whip: { port: 0, host: '127.0.0.1', ice: { hostAddresses: ['127.0.0.1'] }, limits: { mediaTimeoutMs: 3000 } } });
  ({ db, messaging, node } = t);
}, 120_000);

afterEach(async () => {
  for (const p of publishes) await p.close();
  publishes.clear();
});

afterAll(async () => {
  await t?.stop();
}, 60_000);

const endpoint = (channel: string) => `http://127.0.0.1:${node.whipAddress!.port}/whip/${channel}`;

const channelWithKey = (slug: string) => channelOf(db, slug);
const streamEvents = (channelId: string) => eventsOf(messaging, channelId);

async function publish(channel: string, key: string, o: Parameters<typeof publishWhip>[2]): Promise<WhipPublish> {
  const p = await publishWhip(endpoint(channel), key, o);
  publishes.add(p);
  return p;
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
}

/** Publishes to `channel` until StreamPublishStarted, DELETEs, and returns both events. */
async function publishAndDelete(channelId: string, urlChannel: string, key: string): Promise<{ started: EventOf<'StreamPublishStarted'>; ended: EventOf<'StreamPublishEnded'> }> {
  const p = await publish(urlChannel, key, { seconds: 60, width: 320, height: 180, fps: 15, videoKbps: 300 });
  expect(p.status, p.body).toBe(201);
  expect(p.body).toMatch(/^v=0/);
  const started = await waitFor('StreamPublishStarted', async () =>
    (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted'), 45_000, 250);
  expect(await p.stop()).toBe(200);
  const ended = await waitFor('StreamPublishEnded', async () =>
    (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishEnded'> => e.type === 'StreamPublishEnded'), 30_000, 250);
  return { started, ended };
}

describe('WHIP ingest', () => {
  it('publishes H.264 and Opus (transcoded to AAC) through the gate; DELETE on the resource ends it unpublished', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey('whip-good');
    const { started, ended } = await publishAndDelete(channelId, 'whip-good', key);
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 320, height: 180 }, audio: { codec: 'aac' } });
    expect(ended.data).toMatchObject({ sessionId: started.data.sessionId, reason: 'unpublished' });
    expect(ended.data.bytesReceived).toBeGreaterThan(0);
    await waitFor('session freed', async () => node.gate.sessions().size === 0, 10_000, 100);
    expect(await metrics()).toMatch(/ingest_publish_attempts_total\{protocol="whip",result="accepted"\} [1-9]/);
    expect(await metrics()).toMatch(/ingest_whip_sessions_ended_total\{reason="unpublished"\} 1/);
  });

  it('refuses bad requests with a catalogue code, each closing only itself; the node takes the next publish', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey('whip-bad');
    const wrong = await publish('whip-bad', generateStreamKey(), { seconds: 0 });
    expect([wrong.status, JSON.parse(wrong.body).code]).toEqual([401, 'UNKNOWN_STREAM_KEY']);
    const malformed = await publish('whip-bad', key, { seconds: 0, offer: 'v=0\r\nthis is not sdp\r\n' });
    expect([malformed.status, JSON.parse(malformed.body).code]).toEqual([400, 'SDP_MALFORMED']);
    const audioOnly = await publish('whip-bad', key, { seconds: 0, offer: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\na=fingerprint:sha-256 00\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n' });
    expect([audioOnly.status, JSON.parse(audioOnly.body).code]).toEqual([406, 'SDP_UNSUPPORTED_CODEC']);
    const text = await publish('whip-bad', key, { seconds: 0, contentType: 'text/plain' });
    expect([text.status, JSON.parse(text.body).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const other = await publish('whip-good', key, { seconds: 0 });
    expect([other.status, JSON.parse(other.body).code]).toEqual([403, 'CHANNEL_MISMATCH']);
    const noToken = await fetch(endpoint('whip-bad'), { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
    expect([noToken.status, (await noToken.json() as { code: string }).code]).toEqual([401, 'MISSING_TOKEN']);
    expect(await streamEvents(channelId)).toEqual([]);
    expect(node.gate.sessions().size).toBe(0);
    // The channel was released by every refusal: a good publish goes live.
    const { started, ended } = await publishAndDelete(channelId, channelId, key);
    expect(started.data.source.video?.codec).toBe('h264');
    expect(ended.data.reason).toBe('unpublished');
  });

  it('ends a session that never sends media (timed out), frees it and appends nothing; the channel can publish again', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey('whip-silent');
    const silent = await publish('whip-silent', key, { seconds: 0 });
    expect(silent.status, silent.body).toBe(201);
    await waitFor('timeout', async () => /ingest_whip_sessions_ended_total\{reason="timeout"\} 1/.test(await metrics()), 30_000, 250);
    expect(node.gate.sessions().size).toBe(0);
    expect(await fetch(silent.resourceUrl!, { method: 'DELETE' }).then((r) => r.status)).toBe(404);
    expect(await streamEvents(channelId)).toEqual([]);
    const { ended } = await publishAndDelete(channelId, 'whip-silent', key);
    expect(ended.data.reason).toBe('unpublished');
  });

  it('keeps one publisher per channel across protocols (409 ALREADY_LIVE) and a stop request kicks the WHIP publish', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey('whip-kick');
    const p = await publish('whip-kick', key, { seconds: 60, width: 320, height: 180, fps: 15, videoKbps: 300 });
    expect(p.status, p.body).toBe(201);
    const started = await waitFor('StreamPublishStarted', async () =>
      (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted'), 45_000, 250);
    const second = await publish('whip-kick', key, { seconds: 0 });
    expect([second.status, JSON.parse(second.body).code]).toEqual([409, 'ALREADY_LIVE']);
    await appendEvent(messaging.js, streamEvent(systemClock, 'StreamStopRequested', { channelId, sessionId: started.data.sessionId, actorUserId: 'owner-1' }, { producer: 'test' }));
    const ended = await waitFor('StreamPublishEnded', async () =>
      (await streamEvents(channelId)).find((e): e is EventOf<'StreamPublishEnded'> => e.type === 'StreamPublishEnded'), 30_000, 250);
    expect(ended.data).toMatchObject({ sessionId: started.data.sessionId, reason: 'kicked' });
    await waitFor('resource gone', async () => (await fetch(p.resourceUrl!, { method: 'DELETE' })).status === 404, 10_000, 200);
    expect(await metrics()).toMatch(/ingest_whip_sessions_ended_total\{reason="kicked"\} 1/);
  });
});
