/**
 * The pure part of player telemetry (src/telemetry.ts): sequence numbers, batching and retries,
 * the beacons a playback produces, and the accounting of time actually playing, with fake
 * clocks and a fake transport.
 */
import { describe, expect, it } from 'vitest';
import type { Beacon, BeaconBatch } from '@live/events';
import {
  BeaconQueue, MAX_BEACONS_PER_BATCH, MAX_ERRORS_PER_INTERVAL, PlaybackTelemetry, PlayingClock, VIEWER_ID_KEY,
  flushTelemetry, renditionName, sendResultOf, uuidV4, viewerIdFrom, type SendResult,
} from '../src/telemetry';

/** A fake clock: `now` = epoch ms, `mono` = ms since the test started; `tick` advances both. */
function fakeClock(start = 1_750_000_000_000) {
  let mono = 0;
  return {
    now: () => start + mono,
    mono: () => mono,
    tick(ms: number) {
      mono += ms;
    },
  };
}

function telemetry(over: { sessionId?: string | null; live?: boolean } = {}) {
  const clock = fakeClock();
  const t = new PlaybackTelemetry({
    playbackSessionId: '0e0c8f0e-0000-4000-8000-000000000001', viewerId: 'viewer-0001', live: over.live ?? true, autoplay: true, clock,
    sessionId: over.sessionId === undefined ? 'sess-1' : over.sessionId,
  });
  return { t, clock };
}
const drain = (t: PlaybackTelemetry): Beacon[] => {
  const out: Beacon[] = [];
  for (let b = t.takeBatch(); b; b = t.takeBatch()) out.push(...b.beacons);
  return out;
};
const sample = { position: 1, rendition: '720p', bandwidthBps: 4_200_000, liveLatencySeconds: 6.25, droppedFrames: 2 };

describe('ids', () => {
  it('makes RFC 9562 version-4 UUIDs', () => {
    const id = uuidV4();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidV4()).not.toBe(id);
    expect(uuidV4((b) => b.fill(0xff))).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
  });

  it('keeps one viewer id in storage, and copes without storage', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const first = viewerIdFrom(storage);
    expect(store.get(VIEWER_ID_KEY)).toBe(first);
    expect(viewerIdFrom(storage)).toBe(first);
    store.set(VIEWER_ID_KEY, 'bad id!');
    expect(viewerIdFrom(storage, () => 'replacement-1')).toBe('replacement-1');
    const throwing = { getItem: () => { throw new Error('SecurityError'); }, setItem: () => undefined };
    expect(viewerIdFrom(throwing, () => 'fresh-0001')).toBe('fresh-0001');
    expect(viewerIdFrom(null, () => 'fresh-0002')).toBe('fresh-0002');
  });

  it('names renditions by height, else by bitrate', () => {
    expect(renditionName({ height: 720, bitrate: 3_000_000 })).toBe('720p');
    expect(renditionName({ height: 0, bitrate: 1_234_000 })).toBe('1234kbps');
    expect(renditionName(undefined)).toBe('');
  });
});

describe('PlayingClock', () => {
  it('counts only the time between set(true) and set(false), and takes add up exactly', () => {
    const c = new PlayingClock();
    c.set(true, 100);
    c.set(true, 150); // repeated: no restart
    expect(c.take(600.4)).toBe(500);
    c.set(false, 1000.8); // 400.4 more, plus the 0.4 carried
    expect(c.playing).toBe(false);
    expect(c.take(5000)).toBe(400);
    c.set(false, 6000);
    c.set(true, 7000);
    expect(c.take(7000.2)).toBe(0);
    expect(c.take(8000)).toBe(1000); // the fractions carried over: 0.2 + 0.2 + 999.8 = 1000.2
  });
});

describe('BeaconQueue', () => {
  const start = (at: number) => ({ type: 'session_start' as const, at, live: true, autoplay: false });

  it('numbers beacons from 0 and hands them out in batches of at most MAX_BEACONS_PER_BATCH', () => {
    const q = new BeaconQueue();
    for (let i = 0; i < 250; i++) q.push(start(i));
    const sizes = [q.take().length, q.take().length, q.take().length, q.take().length];
    expect(sizes).toEqual([MAX_BEACONS_PER_BATCH, MAX_BEACONS_PER_BATCH, 50, 0]);
    expect(q.push(start(0)).seq).toBe(250);
  });

  it('requeues an undelivered batch in front, in order, without duplicates', () => {
    const q = new BeaconQueue();
    for (let i = 0; i < 5; i++) q.push(start(i));
    const taken = q.take(3);
    q.push(start(5));
    q.requeue(taken);
    q.requeue(taken.slice(0, 1)); // already back: not twice
    expect(q.take().map((b) => b.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('keeps at most maxPending beacons, dropping the oldest', () => {
    const q = new BeaconQueue(3);
    for (let i = 0; i < 5; i++) q.push(start(i));
    expect(q.take().map((b) => b.seq)).toEqual([2, 3, 4]);
  });
});

describe('PlaybackTelemetry', () => {
  it('turns a playback into session_start, first_frame, rebuffers, switches, heartbeats and session_end', () => {
    const { t, clock } = telemetry();
    clock.tick(200);
    t.renditionSwitch('480p', 'abr');
    clock.tick(600);
    t.playing(0, '480p'); // first frame 800 ms after session_start
    clock.tick(4200);
    t.renditionSwitch('720p', 'abr');
    t.waiting(4.2, false); // a stall at +5000
    clock.tick(2000);
    t.playing(4.2, '720p'); // …of 2 s
    clock.tick(3000);
    t.heartbeat(sample); // +10000: played 4200 + 3000
    clock.tick(2000);
    t.stopped(9.2); // paused at +12000
    clock.tick(8000);
    t.heartbeat({ ...sample, liveLatencySeconds: null, bandwidthBps: Number.NaN }); // +20000: played 2000
    clock.tick(1000);
    t.playing(9.2, '720p');
    clock.tick(1500);
    t.end(10.7);
    t.end(10.7); // idempotent
    t.heartbeat(sample); // after the end: nothing
    const b = drain(t);
    expect(b.map((x) => x.seq)).toEqual(b.map((_, i) => i));
    const at0 = 1_750_000_000_000;
    expect(b).toEqual([
      { seq: 0, type: 'session_start', at: at0, live: true, autoplay: true },
      { seq: 1, type: 'rendition_switch', at: at0 + 200, from: null, to: '480p', reason: 'initial' },
      { seq: 2, type: 'first_frame', at: at0 + 800, ttffMs: 800, rendition: '480p' },
      { seq: 3, type: 'rendition_switch', at: at0 + 5000, from: '480p', to: '720p', reason: 'abr' },
      { seq: 4, type: 'rebuffer_start', at: at0 + 5000, position: 4.2 },
      { seq: 5, type: 'rebuffer_end', at: at0 + 7000, position: 4.2, durationMs: 2000 },
      { seq: 6, type: 'heartbeat', at: at0 + 10_000, position: 1, rendition: '720p', bandwidthKbps: 4200, liveLatencyMs: 6250, droppedFrames: 2, playingMs: 7200 },
      { seq: 7, type: 'heartbeat', at: at0 + 20_000, position: 1, rendition: '720p', bandwidthKbps: 0, liveLatencyMs: null, droppedFrames: 2, playingMs: 2000 },
      { seq: 8, type: 'session_end', at: at0 + 22_500, playingMs: 1500 },
    ]);
  });

  it('sums playingMs over heartbeats and session_end to the time actually played (not paused, not stalled, before the first frame)', () => {
    const { t, clock } = telemetry();
    let played = 0;
    const play = (ms: number) => { clock.tick(ms); played += ms; };
    clock.tick(1234); // loading
    t.playing(0, '720p');
    for (let i = 0; i < 30; i++) {
      play(3333.3);
      if (i % 3 === 0) t.heartbeat(sample);
      t.waiting(i, false);
      clock.tick(777); // stalled
      t.playing(i, '720p');
      play(1000);
      t.stopped(i);
      clock.tick(5000); // paused, page visible or not
      if (i % 4 === 0) t.heartbeat(sample);
      t.playing(i, '720p');
    }
    play(2000);
    t.end(0);
    const beacons = drain(t);
    const playingMs = beacons.reduce((s, x) => s + (x.type === 'heartbeat' || x.type === 'session_end' ? x.playingMs : 0), 0);
    expect(Math.abs(playingMs - played)).toBeLessThan(1.001); // whole ms: at most the last fraction is still carried
    const stalled = beacons.reduce((s, x) => s + (x.type === 'rebuffer_end' ? x.durationMs : 0), 0);
    expect(stalled).toBe(30 * 777);
  });

  it('does not count the wait before the first frame or a seek as a rebuffer; a pause ends a stall', () => {
    const { t, clock } = telemetry();
    t.waiting(0, false); // initial buffering: part of TTFF
    clock.tick(500);
    t.playing(0, '720p');
    clock.tick(1000);
    t.waiting(30, true); // seeking
    clock.tick(300);
    t.playing(30, '720p');
    t.waiting(31, false);
    t.waiting(31, false); // repeated: one stall
    clock.tick(400);
    t.stopped(31); // paused while stalled
    const types = drain(t).map((b) => (b.type === 'rebuffer_end' ? `${b.type}:${b.durationMs}` : b.type));
    expect(types).toEqual(['session_start', 'first_frame', 'rebuffer_start', 'rebuffer_end:400']);
  });

  it('limits error beacons per heartbeat interval and keeps codes within the API limits', () => {
    const { t } = telemetry();
    for (let i = 0; i < 50; i++) t.error(false, 'mediaError/bufferStalledError');
    t.heartbeat(sample);
    t.error(true, `networkError/${'x'.repeat(300)}\u0000`);
    const errors = drain(t).filter((b): b is Extract<Beacon, { type: 'error' }> => b.type === 'error');
    expect(errors).toHaveLength(MAX_ERRORS_PER_INTERVAL + 1);
    expect(errors.at(-1)!.code).toHaveLength(128);
    expect(errors.at(-1)!.fatal).toBe(true);
  });

  it('holds beacons until the broadcast session is known, then keeps the first one', () => {
    const { t } = telemetry({ sessionId: null });
    expect(t.takeBatch()).toBeNull();
    t.setSessionId('sess-9');
    t.setSessionId('sess-10');
    expect(t.takeBatch()).toMatchObject({ sessionId: 'sess-9', viewerId: 'viewer-0001', beacons: [{ seq: 0, type: 'session_start' }] });
  });
});

describe('flushTelemetry', () => {
  function recorder(results: SendResult[]) {
    const sent: BeaconBatch[] = [];
    const send = async (b: BeaconBatch): Promise<SendResult> => {
      sent.push(b);
      return results.shift() ?? 'sent';
    };
    return { sent, send };
  }

  it('sends every pending batch, oldest first', async () => {
    const { t } = telemetry();
    for (let i = 0; i < 149; i++) t.heartbeat(sample);
    const r = recorder([]);
    expect(await flushTelemetry(t, r.send)).toBe(150);
    expect(r.sent.map((b) => b.beacons.length)).toEqual([100, 50]);
    expect(r.sent[1]!.beacons[0]!.seq).toBe(100);
    expect(t.pending).toBe(0);
  });

  it('stops at a retry and resends the same beacons (same seq) next time; drops refused batches', async () => {
    const { t } = telemetry();
    for (let i = 0; i < 149; i++) t.heartbeat(sample);
    const r = recorder(['sent', 'retry']);
    expect(await flushTelemetry(t, r.send)).toBe(100);
    expect(t.pending).toBe(50);
    const again = recorder(['drop']);
    t.heartbeat(sample);
    expect(await flushTelemetry(t, again.send)).toBe(0);
    expect(again.sent[0]!.beacons.map((b) => b.seq)).toEqual(Array.from({ length: 51 }, (_, i) => 100 + i));
    expect(t.pending).toBe(0);
    const throwing = async (): Promise<SendResult> => { throw new Error('offline'); };
    t.heartbeat(sample);
    expect(await flushTelemetry(t, throwing)).toBe(0);
    expect(t.pending).toBe(1);
  });

  it('with final, starts every request at once without waiting', async () => {
    const { t } = telemetry();
    for (let i = 0; i < 120; i++) t.heartbeat(sample);
    t.end(0);
    const started: number[] = [];
    const never = (b: BeaconBatch): Promise<SendResult> => {
      started.push(b.beacons.length);
      return new Promise(() => undefined);
    };
    expect(await flushTelemetry(t, never, true)).toBe(0);
    expect(started).toEqual([100, 22]);
  });

  it.each<[number, SendResult]>([[202, 'sent'], [0, 'retry'], [429, 'retry'], [503, 'retry'], [400, 'drop'], [413, 'drop'], [422, 'drop']])('status %i → %s', (status, result) => {
    expect(sendResultOf(status)).toBe(result);
  });
});
