/** The reconnect window's pure rules (apps/ingest/src/reconnect.ts). */
import { describe, expect, it } from 'vitest';
import {
  decodeHandoverReply, decodeHandoverRequest, encodeHandover, endDecision, HandoverWireError, orphanedSession, parseLeaseHolder, planClaim,
  publishLeaseHolder, readPublishLeaseInfo,
} from '../src/reconnect.js';

const T = 1_800_000_000_000;
const lease = (over: Partial<{ state: 'held' | 'released'; holder: string; at: number; info: Record<string, unknown>; seq: number }> = {}) =>
  ({ state: 'held' as const, holder: 'ingest-a/0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000', at: T, info: { startedAt: T - 50_000, startEventId: 'e1', windowMs: 60_000 }, seq: 42, ...over });

describe('endDecision', () => {
  it('opens a window only for a dropped connection, and only with a window', () => {
    expect(endDecision('disconnected', 60_000)).toBe('interrupt');
    expect(endDecision('disconnected', 0)).toBe('end');
    for (const r of ['unpublished', 'kicked', 'error'] as const) expect(endDecision(r, 60_000)).toBe('end');
  });
});

describe('lease holders', () => {
  it('round-trips node and session, and refuses anything else', () => {
    expect(parseLeaseHolder(publishLeaseHolder('ingest-1', 's-1'))).toEqual({ nodeId: 'ingest-1', sessionId: 's-1' });
    for (const bad of ['', 'a', 'a/b/c', 'a b/c', '/s', 'n/']) expect(parseLeaseHolder(bad)).toBeNull();
  });
  it('reads lease info leniently', () => {
    expect(readPublishLeaseInfo({ startedAt: 5, startEventId: 'e', windowMs: 10, resumeBy: 7, bytesReceived: 3 })).toEqual({ startedAt: 5, startEventId: 'e', windowMs: 10, resumeBy: 7, bytesReceived: 3 });
    expect(readPublishLeaseInfo({ startedAt: 'x', resumeBy: -1, windowMs: Infinity })).toEqual({ startedAt: 0, startEventId: '', windowMs: 0 });
  });
});

describe('orphanedSession', () => {
  it('continues a dead holder\'s session within its window', () => {
    // Held while live: the window counts from the last renewal (plus the renewal period, when stated).
    expect(orphanedSession(lease({ info: { startedAt: T, startEventId: 'e1', windowMs: 60_000, renewEveryMs: 10_000 } }), T + 69_999)).toMatchObject({ resumeBy: T + 70_000 });
    expect(orphanedSession(lease(), T + 59_000)).toEqual({
      sessionId: '0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000', startedAt: T - 50_000, startEventId: 'e1', bytesReceived: 0, resumeBy: T + 60_000, previousNodeId: 'ingest-a',
    });
    expect(orphanedSession(lease(), T + 60_000)).toBeNull();
    // In its window already: the holder's own deadline.
    const waiting = lease({ info: { startedAt: T - 50_000, startEventId: 'e1', windowMs: 60_000, resumeBy: T + 10_000, bytesReceived: 99 } });
    expect(orphanedSession(waiting, T + 9_999)).toMatchObject({ resumeBy: T + 10_000, bytesReceived: 99 });
    expect(orphanedSession(waiting, T + 10_000)).toBeNull();
  });
  it('continues nothing without a window, for a released lease or an unknown holder', () => {
    expect(orphanedSession(lease({ info: { startedAt: T, windowMs: 0 } }), T + 1)).toBeNull();
    expect(orphanedSession(lease({ state: 'released' }), T + 1)).toBeNull();
    expect(orphanedSession(lease({ holder: 'old-style' }), T + 1)).toBeNull();
  });
});

describe('planClaim', () => {
  it('refuses while the holder says its publisher is live', () => {
    expect(planClaim(lease(), { status: 'live' }, T)).toEqual({ action: 'refuse' });
  });
  it('takes over from the sequence the holder handed over, continuing its session', () => {
    const session = { sessionId: 's1', startedAt: T - 5, startEventId: 'e1', bytesReceived: 10, resumeBy: T + 5, previousNodeId: 'ingest-a' };
    expect(planClaim(lease(), { status: 'handed-over', seq: 43, session }, T)).toEqual({ action: 'take-over', expectedSeq: 43, resume: session, orphan: null });
  });
  it('takes a silent holder\'s lease over from the sequence read: resuming within the window, else ending its session', () => {
    for (const answer of ['no-answer', { status: 'not-held' }] as const) {
      const p = planClaim(lease(), answer, T + 1000);
      expect(p).toMatchObject({ action: 'take-over', expectedSeq: 42, resume: { sessionId: '0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000', previousNodeId: 'ingest-a' }, orphan: null });
    }
    expect(planClaim(lease(), 'no-answer', T + 61_000)).toEqual({
      action: 'take-over', expectedSeq: 42, resume: null,
      orphan: { sessionId: '0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000', startedAt: T - 50_000, startEventId: 'e1', nodeId: 'ingest-a' },
    });
  });
  it('takes over a session that never started without resuming or ending it', () => {
    const unstarted = lease({ info: { startedAt: T, startEventId: '', windowMs: 60_000 } });
    expect(orphanedSession(unstarted, T + 1)).toBeNull();
    expect(planClaim(unstarted, 'no-answer', T + 1)).toEqual({ action: 'take-over', expectedSeq: 42, resume: null, orphan: null });
  });
  it('refuses a lease it cannot read a holder from', () => {
    expect(planClaim(lease({ holder: 'nonsense' }), 'no-answer', T)).toEqual({ action: 'refuse' });
  });
});

describe('handover wire format', () => {
  it('round-trips requests and replies', () => {
    const req = { channelId: 'alice', sessionId: 's-1', requester: 'ingest-b' };
    expect(decodeHandoverRequest(encodeHandover(req))).toEqual(req);
    for (const reply of [
      { status: 'live' as const }, { status: 'not-held' as const },
      { status: 'handed-over' as const, seq: 7, session: { sessionId: 's-1', startedAt: 1, startEventId: 'e', bytesReceived: 2, resumeBy: 3, previousNodeId: 'ingest-a' } },
    ]) expect(decodeHandoverReply(encodeHandover(reply))).toEqual(reply);
  });
  it('refuses malformed messages with HandoverWireError', () => {
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    for (const bad of ['nope', '[]', { channelId: 'a b', sessionId: 's', requester: 'r' }, { channelId: 'a', sessionId: 's' }]) {
      expect(() => decodeHandoverRequest(enc(bad))).toThrow(HandoverWireError);
    }
    for (const bad of ['{', { status: 'maybe' }, { status: 'handed-over', seq: 0, session: {} }, { status: 'handed-over', seq: 3, session: { sessionId: 's', previousNodeId: 'n', startedAt: -1, bytesReceived: 0, resumeBy: 0 } }]) {
      expect(() => decodeHandoverReply(enc(bad))).toThrow(HandoverWireError);
    }
  });
});
