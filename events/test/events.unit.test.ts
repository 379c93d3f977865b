import { describe, expect, it } from 'vitest';
import {
  decodeEvent, EventDecodeError, evolveSession, formatUuidV7, streamEvent, streamSubject, subjectToken,
  UUID_V7_PATTERN, uuidV7Time, type DomainEvent, type EventClock, type SessionView,
} from '../src/index.js';

function clockAt(start: number): EventClock & { tick(ms: number): void } {
  let t = start;
  let n = 0;
  return {
    now: () => t,
    randomBytes: (k) => Uint8Array.from({ length: k }, (_, i) => (i * 37 + ++n) & 0xff),
    tick(ms) { t += ms; },
  };
}

describe('uuidv7', () => {
  it('formats version, variant and time per RFC 9562 §5.7', () => {
    const id = formatUuidV7(0x0189_7a1b_2c3d, new Uint8Array(10).fill(0xff));
    expect(id).toBe('01897a1b-2c3d-7fff-bfff-ffffffffffff');
    expect(UUID_V7_PATTERN.test(id)).toBe(true);
    expect(uuidV7Time(id)).toBe(0x0189_7a1b_2c3d);
  });
  it('sorts by time as strings', () => {
    const a = formatUuidV7(1_700_000_000_000, new Uint8Array(10).fill(0xff));
    const b = formatUuidV7(1_700_000_000_001, new Uint8Array(10));
    expect(a < b).toBe(true);
  });
  it('refuses out-of-range input', () => {
    expect(() => formatUuidV7(-1, new Uint8Array(10))).toThrow(RangeError);
    expect(() => formatUuidV7(2 ** 48, new Uint8Array(10))).toThrow(RangeError);
    expect(() => formatUuidV7(1, new Uint8Array(9))).toThrow(RangeError);
  });
});

describe('subjects', () => {
  it('builds broad-to-narrow subjects and refuses wildcard tokens', () => {
    expect(streamSubject('chan_1')).toBe('evt.stream.chan_1');
    for (const bad of ['', 'a.b', '*', '>', 'a b', 'x'.repeat(129)]) {
      expect(() => subjectToken(bad)).toThrow(TypeError);
    }
  });
});

describe('decodeEvent', () => {
  const clock = clockAt(1_700_000_000_000);
  const started = streamEvent(clock, 'StreamPublishStarted', {
    channelId: 'c1', sessionId: 's1', ingestNodeId: 'n1', relayUrl: 'http://x/relay/s1.flv', app: 'live', source: {},
  }, { producer: 'test' });

  it('round-trips through JSON', () => {
    const decoded = decodeEvent(JSON.parse(JSON.stringify(started)));
    expect(decoded).toEqual(started);
    expect(decoded.meta.correlationId).toBe('s1');
    expect(decoded.subject).toBe('evt.stream.c1');
  });
  it('refuses malformed events with EventDecodeError', () => {
    const bad: unknown[] = [
      null, 42, 'x', {},
      { ...started, type: 'Nope' },
      { ...started, version: 0 },
      { ...started, version: 99 },
      { ...started, data: null },
      { ...started, data: { ...started.data, sessionId: 5 } },
      { ...started, id: 1 },
    ];
    for (const b of bad) expect(() => decodeEvent(b)).toThrow(EventDecodeError);
  });
  it('lifts ChannelPlaybackPolicyChanged v1 to v2 with bindAddress false', async () => {
    const { domainEvent, channelSubject } = await import('../src/index.js');
    const data = { channelId: 'c1', visibility: 'followers' as const, allowList: [], encryption: { enabled: true, rotateEverySegments: 0 }, actorUserId: null, bindAddress: true };
    const v2 = domainEvent(clock, 'ChannelPlaybackPolicyChanged', channelSubject('c1'), data, { producer: 'test' });
    expect(v2.version).toBe(2);
    expect(decodeEvent(JSON.parse(JSON.stringify(v2)))).toEqual(v2);
    const { bindAddress: _dropped, ...v1Data } = data;
    const v1 = decodeEvent({ ...JSON.parse(JSON.stringify(v2)), version: 1, data: v1Data });
    expect([v1.version, v1.data]).toEqual([2, { ...v1Data, bindAddress: false }]);
  });
});

describe('evolveSession', () => {
  it('follows a broadcast from publish to VOD and ignores replays', () => {
    const clock = clockAt(1_700_000_000_000);
    const base = { channelId: 'c1', sessionId: 's1' };
    const events: DomainEvent[] = [];
    const push = (e: DomainEvent) => { events.push(e); clock.tick(5); };
    push(streamEvent(clock, 'StreamPublishStarted', { ...base, ingestNodeId: 'n', relayUrl: 'u', app: 'live', source: {} }, { producer: 't' }) as DomainEvent);
    push(streamEvent(clock, 'TranscodeStarted', { ...base, attempt: 1, renditions: ['720p'], worker: 'w' }, { producer: 't' }) as DomainEvent);
    push(streamEvent(clock, 'RenditionsReady', { ...base, masterPlaylistKey: 'sessions/s1/master.m3u8', renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.4d401f,mp4a.40.2', passthrough: false }] }, { producer: 't' }) as DomainEvent);
    push(streamEvent(clock, 'StreamPublishEnded', { ...base, reason: 'unpublished', bytesReceived: 10, durationMs: 1000 }, { producer: 't' }) as DomainEvent);
    push(streamEvent(clock, 'VodReady', { ...base, durationSeconds: 30, masterPlaylistKey: 'sessions/s1/vod.m3u8', mp4Key: 'sessions/s1/vod.mp4', renditions: ['720p'] }, { producer: 't' }) as DomainEvent);

    const states: (SessionView | null)[] = [];
    let v: SessionView | null = null;
    for (const e of events) { v = evolveSession(v, e); states.push(v); }
    expect(states.map((s) => s?.status)).toEqual(['starting', 'starting', 'live', 'ended', 'vod']);
    expect(v?.vodMp4Key).toBe('sessions/s1/vod.mp4');
    expect(v?.durationSeconds).toBe(30);
    // A replay of the whole history changes nothing.
    let replayed = v;
    for (const e of events) replayed = evolveSession(replayed, e);
    expect(replayed).toEqual(v);
  });
  it('shows a dropped publisher as reconnecting until it resumes or the session ends', () => {
    const clock = clockAt(1_700_000_000_000);
    const base = { channelId: 'c1', sessionId: 's1' };
    const ev = (e: unknown) => e as DomainEvent;
    const started = ev(streamEvent(clock, 'StreamPublishStarted', { ...base, ingestNodeId: 'a', relayUrl: 'u', app: 'live', source: {}, reconnectWindowSeconds: 60 }, { producer: 't' }));
    const interrupted = ev(streamEvent(clock, 'StreamPublishInterrupted', { ...base, ingestNodeId: 'a', detail: 'ECONNRESET', reconnectWindowSeconds: 60, bytesReceived: 5 }, { producer: 't' }));
    const resumed = ev(streamEvent(clock, 'StreamPublishResumed', { ...base, ingestNodeId: 'b', relayUrl: 'u2', app: 'live', source: {}, previousIngestNodeId: 'a', lease: 'handover' }, { producer: 't' }));
    const ready = ev(streamEvent(clock, 'RenditionsReady', { ...base, masterPlaylistKey: 'm', renditions: [] }, { producer: 't' }));
    const ended = ev(streamEvent(clock, 'StreamPublishEnded', { ...base, reason: 'disconnected', bytesReceived: 5, durationMs: 1 }, { producer: 't' }));
    const run = (events: DomainEvent[]) => events.reduce<SessionView | null>((v, e) => evolveSession(v, e), null)?.status;
    expect(run([started, interrupted])).toBe('reconnecting');
    expect(run([started, interrupted, resumed])).toBe('starting');
    expect(run([started, ready, interrupted])).toBe('reconnecting');
    expect(run([started, ready, interrupted, resumed])).toBe('live');
    expect(run([started, interrupted, ready])).toBe('reconnecting');
    expect(run([started, ready, interrupted, ended])).toBe('ended');
    expect(run([started, ready, ended, interrupted, resumed])).toBe('ended');
    // Both new types round-trip through the decoder.
    for (const e of [interrupted, resumed]) expect(decodeEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
  });
  it('ignores events for a session it never saw start', () => {
    const clock = clockAt(1_700_000_000_000);
    const e = streamEvent(clock, 'VodReady', { channelId: 'c', sessionId: 's', durationSeconds: 1, masterPlaylistKey: 'k', mp4Key: 'm', renditions: [] }, { producer: 't' }) as DomainEvent;
    expect(evolveSession(null, e)).toBeNull();
  });
});

describe('account, channel and key events', () => {
  it('builds them on their aggregate subjects and decodes them back', async () => {
    const { domainEvent, userSubject, channelSubject, uniqueClaimSubject, decodeEvent: decode, isCategory } = await import('../src/index.js');
    const clock = clockAt(1_800_000_000_000);
    const reg = domainEvent(clock, 'UserRegistered', userSubject('u-1'), { userId: 'u-1', username: 'Ann', email: 'ann@example.com', displayName: 'Ann', passwordHash: '$argon2id$x', roles: [] }, { producer: 'test' });
    expect(reg.subject).toBe('evt.user.u-1');
    expect(reg.meta.correlationId).toBe(reg.id);
    expect(decode(JSON.parse(JSON.stringify(reg)))).toEqual(reg);
    const key = domainEvent(clock, 'StreamKeyRotated', channelSubject('ann'), { channelId: 'ann', oldKeyId: 'k1', keyId: 'k2', keyHash: 'ab', keyLast4: 'wxyz', label: 'obs', expiresAt: null, allowedCidrs: [], actorUserId: 'u-1' }, { producer: 'test' });
    expect(decode(JSON.parse(JSON.stringify(key))).type).toBe('StreamKeyRotated');
    const broken = { ...JSON.parse(JSON.stringify(key)), data: { channelId: 'ann', keyId: 'k2' } };
    expect(() => decode(broken)).toThrow(/oldKeyId/);
    expect(uniqueClaimSubject('username', 'a'.repeat(40))).toBe(`evt.claim.username.${'a'.repeat(40)}`);
    expect(() => uniqueClaimSubject('email', 'not hex')).toThrow(TypeError);
    expect(isCategory('gaming')).toBe(true);
    expect(isCategory('Gaming')).toBe(false);
  });
});
