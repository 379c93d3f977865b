/**
 * The pure mapping from a domain event to its `domain_events` row, and the DateTime64(3) text
 * format ClickHouse's JSONEachRow input accepts.
 */
import { describe, expect, it } from 'vitest';
import { channelSubject, domainEvent, streamEvent, systemClock, userSubject, type EventClock } from '@live/events';
import { domainEventRow, encodeCompactRows, toClickHouseDateTime64 } from '../src/index.js';

const fixedClock: EventClock = { now: () => Date.UTC(2026, 10, 20, 10, 0, 0, 123), randomBytes: (n) => new Uint8Array(n).fill(7) };

describe('domainEventRow', () => {
  it('maps a stream lifecycle event: channel and session from data, no user', () => {
    const e = streamEvent(fixedClock, 'StreamPublishEnded', {
      channelId: 'chan-1', sessionId: 'sess-1', reason: 'unpublished', bytesReceived: 1_000_000, durationMs: 60_000,
    }, { producer: 'ingest:node-a' });
    expect(domainEventRow(e, 42)).toEqual({
      event_id: e.id,
      stream_seq: 42,
      type: 'StreamPublishEnded',
      version: 1,
      occurred_at: '2026-11-20 10:00:00.123',
      subject: 'evt.stream.chan-1',
      channel_id: 'chan-1',
      session_id: 'sess-1',
      user_id: '',
      producer: 'ingest:node-a',
      data: JSON.stringify(e.data),
    });
    expect(JSON.parse(domainEventRow(e, 42).data)).toEqual(e.data);
  });

  it('maps a user event: user and channel from data, empty session', () => {
    const e = domainEvent(systemClock, 'ChannelFollowed', userSubject('user-1'), { userId: 'user-1', channelId: 'chan-9' }, { producer: 'api' });
    const row = domainEventRow(e, 1);
    expect(row).toMatchObject({ type: 'ChannelFollowed', subject: 'evt.user.user-1', user_id: 'user-1', channel_id: 'chan-9', session_id: '', producer: 'api' });
    expect(row.occurred_at).toBe(e.occurredAt.replace('T', ' ').replace('Z', ''));
  });

  it('leaves password and stream-key hashes out of data', () => {
    const reg = domainEvent(systemClock, 'UserRegistered', userSubject('u-9'), { userId: 'u-9', username: 'zed', email: 'z@example.com', displayName: 'Zed', passwordHash: '$argon2id$v=19$secret', roles: [] }, { producer: 'test' });
    const key = domainEvent(systemClock, 'StreamKeyIssued', channelSubject('zed'), { channelId: 'zed', keyId: 'k', keyHash: 'ab'.repeat(32), keyLast4: 'wxyz', label: 'obs', expiresAt: null, allowedCidrs: [], actorUserId: 'u-9' }, { producer: 'test' });
    const regData = JSON.parse(domainEventRow(reg, 1).data) as Record<string, unknown>;
    expect(regData).toEqual({ userId: 'u-9', username: 'zed', email: 'z@example.com', displayName: 'Zed', roles: [] });
    const keyRow = domainEventRow(key, 2);
    expect(keyRow.data).not.toContain('ab'.repeat(32));
    expect(JSON.parse(keyRow.data)).toMatchObject({ keyId: 'k', keyLast4: 'wxyz' });
  });

  it('refuses a stream sequence that is not a positive integer', () => {
    const e = domainEvent(systemClock, 'ChannelFollowed', userSubject('u'), { userId: 'u', channelId: 'c' }, { producer: 'api' });
    for (const seq of [0, -1, 1.5, Number.NaN, 2 ** 53]) expect(() => domainEventRow(e, seq)).toThrow(RangeError);
  });
});

describe('toClickHouseDateTime64', () => {
  it('formats UTC with milliseconds, from an ISO string, a Date or epoch ms', () => {
    expect(toClickHouseDateTime64('2026-11-20T10:00:00.123Z')).toBe('2026-11-20 10:00:00.123');
    expect(toClickHouseDateTime64('2026-11-20T11:00:00.000+01:00')).toBe('2026-11-20 10:00:00.000');
    expect(toClickHouseDateTime64(new Date(Date.UTC(2000, 0, 2, 3, 4, 5, 6)))).toBe('2000-01-02 03:04:05.006');
    expect(toClickHouseDateTime64(0)).toBe('1970-01-01 00:00:00.000');
  });

  it('gives the same text as a full ISO formatting for instants that alternate between seconds (its per-second cache)', () => {
    const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 23);
    const base = Date.UTC(2026, 10, 20, 23, 59, 59, 998);
    const instants = [base, base + 1, base + 2, base + 1, -1, -1000, -1001, base + 1000.9, Date.UTC(1900, 0, 1), Date.UTC(2299, 11, 31, 23, 59, 59, 999), base];
    for (const ms of instants) expect(toClickHouseDateTime64(ms)).toBe(iso(ms));
    expect(toClickHouseDateTime64(base + 1)).toBe('2026-11-20 23:59:59.999');
    expect(toClickHouseDateTime64(base + 2)).toBe('2026-11-21 00:00:00.000');
  });

  it('refuses invalid or out-of-range instants', () => {
    for (const bad of ['not a date', '1899-12-31T23:59:59.999Z', '2300-01-01T00:00:00.000Z', Number.NaN]) {
      expect(() => toClickHouseDateTime64(bad)).toThrow(RangeError);
    }
  });
});

describe('encodeCompactRows', () => {
  it('writes one JSON array per row in column order, missing values as null', () => {
    const rows = [{ a: 'x"\n', b: 1.5, c: null }, { b: 2, a: 'y', c: true }, { a: 'z' }];
    expect(encodeCompactRows(rows, ['a', 'b', 'c']).toString()).toBe('["x\\"\\n",1.5,null]\n["y",2,true]\n["z",null,null]\n');
    expect(encodeCompactRows([], ['a']).length).toBe(0);
  });
});
