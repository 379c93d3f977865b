/**
 * planLowLatencyParts: a new session gets the worker's part layout; a resumed one keeps the
 * PART-TARGET its stored playlists carry (RFC 8216bis §4.4.3.7), with parts that fit it and a
 * keyframe spacing that never cuts a part short. And the publisher refuses a PART-TARGET below
 * one part.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalStorage } from '@live/storage';
import { createLlHlsPublisher, planLowLatencyParts, selectLadder } from '../src/index.js';

const base = { frameRate: 30, segmentSeconds: 2 } as const;

describe('planLowLatencyParts', () => {
  it("gives a new session the worker's layout", () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1 })).toEqual({ partFrames: 15, partTarget: 0.5, keyframesPerSegment: 1, keptSessionPartTarget: false });
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 3 })).toEqual({ partFrames: 10, partTarget: 0.334, keyframesPerSegment: 3, keptSessionPartTarget: false });
    // 29.97 fps: 15 frames, PART-TARGET 0.501 (FLV's ms timestamps)
    expect(planLowLatencyParts({ frameRate: 30000 / 1001, segmentSeconds: 2, partSeconds: 0.5, keyframesPerSegment: 1 })).toMatchObject({ partFrames: 15, partTarget: 0.501 });
  });

  it("keeps the worker's layout when the session's PART-TARGET is the one it gives", () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 2, sessionPartTarget: 0.334 })).toEqual({ partFrames: 10, partTarget: 0.334, keyframesPerSegment: 2, keptSessionPartTarget: false });
  });

  it("keeps another PART-TARGET of the session, with parts no longer than it", () => {
    // the session began on a 4-part worker (0.5 s); this worker is set to 6 parts with a keyframe every 2:
    // a 20-frame GOP is no whole number of 15-frame parts, so one keyframe per segment
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 3, sessionPartTarget: 0.5 })).toEqual({ partFrames: 15, partTarget: 0.5, keyframesPerSegment: 1, keptSessionPartTarget: true });
    // the other way round: 0.334 s parts kept by a 4-part worker with a keyframe every 2 parts (a 30-frame GOP: three 10-frame parts)
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 2, sessionPartTarget: 0.334 })).toEqual({ partFrames: 10, partTarget: 0.334, keyframesPerSegment: 2, keptSessionPartTarget: true });
    // 25 fps: 0.5 s kept as 12 frames (0.48 s, at least 85 % of the target)
    const pal = planLowLatencyParts({ frameRate: 25, segmentSeconds: 2, partSeconds: 2 / 6, keyframesPerSegment: 1, sessionPartTarget: 0.5 });
    expect(pal).toEqual({ partFrames: 12, partTarget: 0.5, keyframesPerSegment: 1, keptSessionPartTarget: true });
    expect(pal.partFrames / 25).toBeGreaterThanOrEqual(0.85 * 0.5);
    // a reconnect at another frame rate keeps the session's 0.5 s too: 25 fps on a 4-part worker would give 0.52
    expect(planLowLatencyParts({ frameRate: 25, segmentSeconds: 2, partSeconds: 0.5, keyframesPerSegment: 1, sessionPartTarget: 0.5 })).toMatchObject({ partFrames: 12, partTarget: 0.5, keptSessionPartTarget: true });
  });

  it('never advertises less than one part, and ignores an unusable session PART-TARGET', () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, sessionPartTarget: 0.01 })).toMatchObject({ partFrames: 1, partTarget: 0.034 });
    for (const sessionPartTarget of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, sessionPartTarget })).toMatchObject({ partFrames: 15, partTarget: 0.5, keptSessionPartTarget: false });
    }
  });

  it('refuses a layout it cannot plan', () => {
    expect(() => planLowLatencyParts({ ...base, frameRate: 0, partSeconds: 0.5, keyframesPerSegment: 1 })).toThrow('frameRate must be a positive number, got 0');
    expect(() => planLowLatencyParts({ ...base, partSeconds: Number.NaN, keyframesPerSegment: 1 })).toThrow('partSeconds must be a positive number, got NaN');
    expect(() => planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1.5 })).toThrow('keyframesPerSegment must be a positive integer, got 1.5');
  });
});

describe('createLlHlsPublisher partTarget', () => {
  it('refuses a PART-TARGET below one part', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'live-part-plan-'));
    try {
      const opts = {
        storage: createLocalStorage({ rootDir: path.join(dir, 'store') }), outputDir: path.join(dir, 'out'), keyPrefix: 'sessions/p',
        ladder: selectLadder({ video: { codec: 'h264', width: 854, height: 480, frameRate: 30 } }), frameRate: 30, segmentSeconds: 2, partFrames: 15,
      };
      expect(() => createLlHlsPublisher({ ...opts, partTarget: 0.4 })).toThrow('partTarget must be at least one part (0.5 s: 15 frames at 30 fps), got 0.4');
      expect(createLlHlsPublisher({ ...opts, partTarget: 0.52 }).state().partTarget).toBe(0.52);
      expect(createLlHlsPublisher(opts).state().partTarget).toBe(0.5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
