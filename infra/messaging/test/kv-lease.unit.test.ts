/**
 * The pure parts of the KV lease (`kv-lease.ts`): holder ids, lease records, timings, the
 * "wrong revision" test, and the projector's NATS permissions on the lease bucket. The protocol
 * against a real nats-server: apps/projector/test/lease.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeLeaseRecord, isSubjectAllowed, isWrongRevision, LEASE_BUCKET, leaseBucketStream, leaseHolderId, leaseTimings, parseLeaseRecord,
  servicePermissions, type NatsService,
} from '../src/index.js';

describe('leaseHolderId', () => {
  it('is <app>:<host>:<pid>:<random>, random per call', () => {
    expect(leaseHolderId('projector', { host: 'h1', pid: 42, random: 'abc123' })).toBe('projector:h1:42:abc123');
    const a = leaseHolderId('projector');
    expect(a).toMatch(new RegExp(`^projector:[^:]+:${process.pid}:[0-9a-z]{6}$`));
    expect(new Set(Array.from({ length: 50 }, () => leaseHolderId('p'))).size).toBe(50);
  });
});

describe('lease records', () => {
  it('round-trips and refuses what is not one', () => {
    const r = { holder: 'projector:h:1:aaaaaa', since: '2026-01-01T00:00:00.000Z' };
    expect(parseLeaseRecord(encodeLeaseRecord(r))).toEqual(r);
    expect(parseLeaseRecord(new TextEncoder().encode('not json'))).toBeNull();
    expect(parseLeaseRecord(new TextEncoder().encode('{"holder":""}'))).toBeNull();
    expect(parseLeaseRecord(new Uint8Array())).toBeNull();
    expect(parseLeaseRecord(new TextEncoder().encode('{"holder":"x"}'))).toEqual({ holder: 'x', since: '' });
  });
});

describe('leaseTimings', () => {
  it('renews every third of the TTL and gives up a third before it expires', () => {
    expect(leaseTimings(6000)).toEqual({ renewEveryMs: 2000, giveUpAfterMs: 4000 });
    expect(leaseTimings(1000)).toEqual({ renewEveryMs: 333, giveUpAfterMs: 666 });
    expect(() => leaseTimings(0)).toThrow(RangeError);
    expect(() => leaseTimings(Number.NaN)).toThrow(RangeError);
  });
});

describe('isWrongRevision', () => {
  it('recognizes JetStream error 10071 however nats.js carries it', () => {
    expect(isWrongRevision({ code: 10071 })).toBe(true);
    expect(isWrongRevision({ apiError: () => ({ err_code: 10071 }) })).toBe(true);
    expect(isWrongRevision(new Error('wrong last sequence: 5'))).toBe(true);
    expect(isWrongRevision(new Error('timeout'))).toBe(false);
    expect(isWrongRevision(undefined)).toBe(false);
  });
});

describe('lease bucket permissions', () => {
  const pub = (s: NatsService, subject: string) => isSubjectAllowed(servicePermissions(s).publish, subject);
  const stream = leaseBucketStream();

  it('lets the projector use the lease bucket and nothing of other buckets', () => {
    expect(stream).toBe(`KV_${LEASE_BUCKET}`);
    for (const subject of [
      `$KV.${LEASE_BUCKET}.projector.readmodels`, `$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.MSG.GET.${stream}`,
      `$JS.API.CONSUMER.CREATE.${stream}.KV_WATCHER_abc.$KV.${LEASE_BUCKET}.projector.readmodels`, `$JS.API.CONSUMER.INFO.${stream}.KV_WATCHER_abc`,
      `$JS.API.CONSUMER.DELETE.${stream}.KV_WATCHER_abc`, `$JS.FC.${stream}.x.y`,
    ]) expect(pub('projector', subject), subject).toBe(true);
    for (const subject of [
      '$KV.other.x', '$JS.API.STREAM.MSG.GET.KV_other', `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`,
      `$JS.API.STREAM.PURGE.${stream}`, `$JS.API.STREAM.DELETE.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}.x`,
      `$JS.API.CONSUMER.CREATE.${stream}.x.$KV.other.y`,
    ]) expect(pub('projector', subject), subject).toBe(false);
  });

  it('lets no other app write a lease', () => {
    for (const s of ['ingest', 'worker', 'api', 'chat'] as const) {
      expect(pub(s, `$KV.${LEASE_BUCKET}.projector.readmodels`), s).toBe(false);
      expect(pub(s, `$JS.API.STREAM.INFO.${stream}`), `${s} checks the bucket at start`).toBe(true);
    }
  });
});
