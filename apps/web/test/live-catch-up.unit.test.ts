import { describe, expect, it } from 'vitest';
import { attachLiveCatchUp, catchUpRate, forwardBufferOf, type CatchUpInput, type CatchUpPlayer } from '../src/liveCatchUp';

/** 0.5 s parts, 2 s segments, PART-HOLD-BACK 1.0 s: the worker's defaults. */
const base: CatchUpInput = { latency: 1.0, targetLatency: 1.0, forwardBuffer: 0.8, partTarget: 0.5, targetDuration: 2 };
const opts = { maxRate: 1.5 };

/** `TimeRanges` over [start, end) pairs. */
function ranges(...pairs: Array<[number, number]>): TimeRanges {
  return { length: pairs.length, start: (i: number) => pairs[i]![0], end: (i: number) => pairs[i]![1] } as TimeRanges;
}

describe('catchUpRate', () => {
  it("follows hls.js' curve of the distance to the target, in steps of 0.05", () => {
    expect(catchUpRate({ ...base, latency: 1.1 }, opts)).toBe(1.05);
    expect(catchUpRate({ ...base, latency: 1.3 }, opts)).toBe(1.1);
    expect(catchUpRate({ ...base, latency: 2.0 }, opts)).toBe(1.35);
  });

  it('speeds up with less than the 1 s of forward buffer hls.js asks for, but not under one part', () => {
    // the case hls.js' own rule leaves alone: 0.35 s behind its target with 0.7 s buffered
    expect(catchUpRate({ ...base, latency: 1.35, forwardBuffer: 0.7 }, opts)).toBe(1.15);
    expect(catchUpRate({ ...base, latency: 1.35, forwardBuffer: 0.5 }, opts)).toBe(1);
    expect(catchUpRate({ ...base, latency: 1.35, forwardBuffer: 0.2 }, opts)).toBe(1);
    expect(catchUpRate({ ...base, latency: 1.35, forwardBuffer: 0.2 }, { ...opts, minBuffer: 0.1 })).toBe(1.15);
  });

  it('plays at 1 on the target, within 50 ms of it, and ahead of it', () => {
    expect(catchUpRate(base, opts)).toBe(1);
    expect(catchUpRate({ ...base, latency: 1.05 }, opts)).toBe(1);
    expect(catchUpRate({ ...base, latency: 0.6 }, opts)).toBe(1);
  });

  it('leaves a playhead more than target + target duration past its target where the viewer put it (DVR)', () => {
    expect(catchUpRate({ ...base, latency: 3.9, forwardBuffer: 2.5 }, opts)).toBe(1.5);
    expect(catchUpRate({ ...base, latency: 4.0, forwardBuffer: 2.5 }, opts)).toBe(1);
    expect(catchUpRate({ ...base, latency: 60, forwardBuffer: 30 }, opts)).toBe(1);
  });

  it('never exceeds maxRate nor 2, never goes under 1', () => {
    expect(catchUpRate({ ...base, latency: 2.9, forwardBuffer: 2.5 }, { maxRate: 1.2 })).toBe(1.2);
    expect(catchUpRate({ ...base, latency: 2.9, forwardBuffer: 2.5 }, { maxRate: 4 })).toBe(1.6);
    expect(catchUpRate({ ...base, latency: 10, targetLatency: 6, targetDuration: 6, forwardBuffer: 5 }, { maxRate: 4 })).toBe(1.9);
    expect(catchUpRate({ ...base, latency: 1.5 }, { maxRate: 0.5 })).toBe(1);
  });

  it('plays at 1 on figures it cannot read', () => {
    expect(catchUpRate({ ...base, latency: Number.NaN }, opts)).toBe(1);
    expect(catchUpRate({ ...base, forwardBuffer: Number.POSITIVE_INFINITY, latency: 1.5 }, opts)).toBe(1);
  });
});

describe('forwardBufferOf', () => {
  it('measures the range holding the playhead only', () => {
    expect(forwardBufferOf(ranges([0, 4], [5, 9]), 3)).toBe(1);
    expect(forwardBufferOf(ranges([0, 4], [5, 9]), 4.5)).toBe(0);
    expect(forwardBufferOf(ranges([0, 4], [5, 9]), 6)).toBe(3);
    expect(forwardBufferOf(ranges([5, 9]), 4.995)).toBeCloseTo(4.005, 6);
    expect(forwardBufferOf(ranges(), 1)).toBe(0);
  });
});

describe('attachLiveCatchUp', () => {
  /** A `<video>` with the properties the catch-up reads and writes, and its `timeupdate` listeners. */
  function mediaElement(currentTime: number, buffered: TimeRanges) {
    const listeners = new Set<() => void>();
    const video = {
      currentTime, buffered, playbackRate: 1,
      addEventListener: (name: string, fn: () => void) => name === 'timeupdate' && listeners.add(fn),
      removeEventListener: (name: string, fn: () => void) => name === 'timeupdate' && listeners.delete(fn),
    };
    return { video, timeupdate: () => listeners.forEach((fn) => fn()), listeners };
  }
  function player(over: Partial<{ latency: number; live: boolean; lowLatencyMode: boolean }> = {}): CatchUpPlayer & { latency: number; latestLevelDetails: { live: boolean; partTarget: number; targetduration: number } } {
    return {
      latency: over.latency ?? 1.4,
      targetLatency: 1.0,
      latestLevelDetails: { live: over.live ?? true, partTarget: 0.5, targetduration: 2 },
      config: { lowLatencyMode: over.lowLatencyMode ?? true },
    };
  }

  it('sets the rate on timeupdate while live, back to 1 on the target, and detaches', () => {
    const m = mediaElement(10, ranges([8, 10.9]));
    const p = player();
    const detach = attachLiveCatchUp(p, m.video as unknown as HTMLMediaElement, opts);
    m.timeupdate();
    expect(m.video.playbackRate).toBe(1.15);
    p.latency = 1.02;
    m.timeupdate();
    expect(m.video.playbackRate).toBe(1);
    detach();
    expect(m.listeners.size).toBe(0);
  });

  it('puts back a rate it set when the broadcast ends, and leaves a rate it did not set', () => {
    const m = mediaElement(10, ranges([8, 10.9]));
    const p = player();
    attachLiveCatchUp(p, m.video as unknown as HTMLMediaElement, opts);
    m.timeupdate();
    expect(m.video.playbackRate).toBe(1.15);
    p.latestLevelDetails.live = false;
    m.timeupdate();
    expect(m.video.playbackRate).toBe(1);
    m.video.playbackRate = 2; // a VOD's speed, chosen elsewhere
    m.timeupdate();
    expect(m.video.playbackRate).toBe(2);
  });

  it('does nothing outside low-latency mode', () => {
    const m = mediaElement(10, ranges([8, 10.9]));
    attachLiveCatchUp(player({ lowLatencyMode: false }), m.video as unknown as HTMLMediaElement, opts);
    m.timeupdate();
    expect(m.video.playbackRate).toBe(1);
  });
});
