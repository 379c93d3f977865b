/** Which local sessions a control event concerns (`planControl`, no NATS involved). */
import { describe, expect, it } from 'vitest';
import { channelSubject, domainEvent, streamEvent, systemClock } from '@live/events';
import { planControl } from '../src/control.js';
import type { RtmpSessionInfo } from '../src/rtmp/index.js';

const session = (sessionId: string, channelId: string, keyId: string): RtmpSessionInfo => ({
  sessionId, channelId, keyId, remoteAddress: '127.0.0.1', connectedAt: new Date(), state: 'open', publish: 'live', bytesReceived: 0,
});
const sessions = new Map([
  ['s1', session('s1', 'alice', 'k-alice-1')],
  ['s2', session('s2', 'bob', 'k-bob')],
  ['s3', { sessionId: 's3', remoteAddress: '127.0.0.1', connectedAt: new Date(), state: 'open', bytesReceived: 0 } satisfies RtmpSessionInfo],
]);
const meta = { producer: 'test' };

describe('planControl', () => {
  it('kicks every session of a revoked key and denies the key', () => {
    const ev = domainEvent(systemClock, 'StreamKeyRevoked', channelSubject('alice'), { channelId: 'alice', keyId: 'k-alice-1', actorUserId: 'u1' }, meta);
    expect(planControl(ev, sessions)).toEqual({
      deniedKey: { keyId: 'k-alice-1', reason: 'stream key revoked' },
      kicks: [{ sessionId: 's1', channelId: 'alice', kind: 'key_revoked', reason: 'stream key revoked' }],
    });
  });

  it('kicks the sessions of the old key of a rotation, not of the new one', () => {
    const ev = domainEvent(systemClock, 'StreamKeyRotated', channelSubject('bob'), {
      channelId: 'bob', oldKeyId: 'k-bob', keyId: 'k-bob-2', keyHash: 'h', keyLast4: 'abcd', label: '', expiresAt: null, allowedCidrs: [], actorUserId: null,
    }, meta);
    expect(planControl(ev, sessions).kicks).toEqual([{ sessionId: 's2', channelId: 'bob', kind: 'key_rotated', reason: 'stream key rotated' }]);
    expect(planControl(ev, sessions).deniedKey).toEqual({ keyId: 'k-bob', reason: 'stream key rotated' });
  });

  it('kicks the session a stop request names, only on its channel, naming the actor or the operator', () => {
    const stop = (channelId: string, sessionId: string, actorUserId: string | null) => streamEvent(systemClock, 'StreamStopRequested', { channelId, sessionId, actorUserId }, meta);
    expect(planControl(stop('alice', 's1', 'mod-7'), sessions).kicks).toEqual([{ sessionId: 's1', channelId: 'alice', kind: 'stop_requested', reason: 'stopped by mod-7' }]);
    expect(planControl(stop('alice', 's1', null), sessions).kicks[0]?.reason).toBe('stopped by operator');
    expect(planControl(stop('bob', 's1', 'mod-7'), sessions)).toEqual({ kicks: [] });
    expect(planControl(stop('alice', 'not-here', 'mod-7'), sessions)).toEqual({ kicks: [] });
  });

  it('does nothing for other keys and other event types', () => {
    const other = domainEvent(systemClock, 'StreamKeyRevoked', channelSubject('alice'), { channelId: 'alice', keyId: 'k-unknown', actorUserId: null }, meta);
    expect(planControl(other, sessions).kicks).toEqual([]);
    const ended = streamEvent(systemClock, 'StreamPublishEnded', { channelId: 'alice', sessionId: 's1', reason: 'unpublished', bytesReceived: 0, durationMs: 0 }, meta);
    expect(planControl(ended, sessions)).toEqual({ kicks: [] });
  });
});
