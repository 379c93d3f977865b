/**
 * Webhook types and payloads (webhooks.ts): which events become which webhook, what a payload
 * carries (and what it must not: relay URLs, node ids), and which endpoints receive it.
 */
import { describe, expect, it } from 'vitest';
import {
  domainEvent, endpointReceives, isWebhookEventType, renderWebhookPayload, streamEvent, userSubject, webhookTypeOf, WEBHOOK_EVENT_TYPE_NAMES,
  channelSubject, type EventClock, type WebhookSubscription,
} from '../src/index.js';

const clock: EventClock = { now: () => Date.UTC(2026, 11, 7, 1, 0, 0), randomBytes: (n) => new Uint8Array(n).fill(7) };
const meta = { producer: 'test' };

describe('webhook types', () => {
  it('map one event type each, both ways', () => {
    expect(WEBHOOK_EVENT_TYPE_NAMES).toEqual(['stream.started', 'stream.live', 'stream.ended', 'stream.failed', 'vod.ready', 'channel.followed', 'chat.message_held']);
    expect(webhookTypeOf('VodReady')).toBe('vod.ready');
    expect(webhookTypeOf('ChatMessageHeld')).toBe('chat.message_held');
    expect(webhookTypeOf('UserRegistered')).toBeUndefined();
    expect(isWebhookEventType('stream.started')).toBe(true);
    expect(isWebhookEventType('toString')).toBe(false);
  });
});

describe('renderWebhookPayload', () => {
  it('carries the event id, type, time, channel and the public fields only', () => {
    const started = streamEvent(clock, 'StreamPublishStarted', {
      channelId: 'c1', sessionId: 's1', ingestNodeId: 'node-7', relayUrl: 'http://10.0.0.7/relay/s1.flv', app: 'live', source: { video: { codec: 'h264' } },
    }, meta);
    const p = renderWebhookPayload(started)!;
    expect(p).toEqual({ id: started.id, type: 'stream.started', createdAt: started.occurredAt, channelId: 'c1', data: { sessionId: 's1', source: { video: { codec: 'h264' } } } });
    expect(JSON.stringify(p)).not.toMatch(/relay|node-7/);

    const followed = domainEvent(clock, 'ChannelFollowed', userSubject('u1'), { userId: 'u1', channelId: 'c1' }, meta);
    expect(renderWebhookPayload(followed)).toMatchObject({ type: 'channel.followed', channelId: 'c1', data: { userId: 'u1' } });

    const held = domainEvent(clock, 'ChatMessageHeld', channelSubject('c1'), { channelId: 'c1', userId: 'u2', username: 'bob', kind: 'message', text: 'hi', term: 'h.', sessionId: null }, meta);
    expect(renderWebhookPayload(held)?.data).toEqual({ messageId: held.id, userId: 'u2', username: 'bob', text: 'hi', term: 'h.' });

    const ended = streamEvent(clock, 'StreamPublishEnded', { channelId: 'c1', sessionId: 's1', reason: 'unpublished', bytesReceived: 5, durationMs: 1000 }, meta);
    expect(renderWebhookPayload(ended)?.data).toEqual({ sessionId: 's1', reason: 'unpublished', durationMs: 1000 });

    expect(renderWebhookPayload(domainEvent(clock, 'ChannelUnfollowed', userSubject('u1'), { userId: 'u1', channelId: 'c1' }, meta))).toBeUndefined();
  });
});

describe('endpointReceives', () => {
  const payload = renderWebhookPayload(streamEvent(clock, 'VodReady', { channelId: 'c1', sessionId: 's1', durationSeconds: 3, masterPlaylistKey: 'm', mp4Key: 'v', renditions: ['480p'] }, meta))!;
  const base: WebhookSubscription = { scope: 'channel', channelId: 'c1', eventTypes: ['vod.ready'], enabled: true, createdAtMs: clock.now() - 1000 };

  it('needs the type, the channel (or the platform scope), enabled, and registration before the event', () => {
    expect(endpointReceives(base, payload)).toBe(true);
    expect(endpointReceives({ ...base, createdAtMs: clock.now() }, payload)).toBe(true);
    expect(endpointReceives({ ...base, eventTypes: ['stream.started'] }, payload)).toBe(false);
    expect(endpointReceives({ ...base, channelId: 'c2' }, payload)).toBe(false);
    expect(endpointReceives({ ...base, scope: 'platform', channelId: null }, payload)).toBe(true);
    expect(endpointReceives({ ...base, enabled: false }, payload)).toBe(false);
    expect(endpointReceives({ ...base, createdAtMs: clock.now() + 1 }, payload)).toBe(false);
  });
});
