/**
 * planLowLatencyParts: a new session gets the worker's part layout; a resumed one keeps the
 * PART-TARGET and PART-HOLD-BACK its stored playlists carry (RFC 8216bis §6.2.1), with parts that
 * fit it and a keyframe spacing that never cuts a part short. And the publisher refuses a PART-TARGET below
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
  const fresh = { keyframesPerSegment: 1, partHoldBackParts: 2, keptFromSession: [] };
  it("gives a new session the worker's layout", () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1 })).toEqual({ ...fresh, partFrames: 15, partTarget: 0.5 });
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 3, partHoldBackParts: 3 })).toEqual({ ...fresh, partFrames: 10, partTarget: 0.334, keyframesPerSegment: 3, partHoldBackParts: 3 });
    // 29.97 fps: 15 frames, PART-TARGET 0.501 (FLV's ms timestamps)
    expect(planLowLatencyParts({ frameRate: 30000 / 1001, segmentSeconds: 2, partSeconds: 0.5, keyframesPerSegment: 1 })).toMatchObject({ partFrames: 15, partTarget: 0.501 });
  });

  it("keeps the worker's layout when the session's is the one it gives", () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 2, session: { partTarget: 0.334, partHoldBack: 0.668 } }))
      .toEqual({ ...fresh, partFrames: 10, partTarget: 0.334, keyframesPerSegment: 2 });
  });

  it('keeps another PART-TARGET of the session, with parts no longer than it, and its PART-HOLD-BACK', () => {
    // the session began on a 4-part worker (0.5 s, PART-HOLD-BACK 1.0); this worker is set to 6 parts with a keyframe
    // every 2 and a hold-back of 3 parts: a 20-frame GOP is no whole number of 15-frame parts, so one keyframe per segment
    expect(planLowLatencyParts({ ...base, partSeconds: 2 / 6, keyframesPerSegment: 3, partHoldBackParts: 3, session: { partTarget: 0.5, partHoldBack: 1 } }))
      .toEqual({ partFrames: 15, partTarget: 0.5, keyframesPerSegment: 1, partHoldBackParts: 2, keptFromSession: ['PART-TARGET', 'PART-HOLD-BACK'] });
    // the other way round: 0.334 s parts kept by a 4-part worker with a keyframe every 2 parts (a 30-frame GOP: three 10-frame parts)
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 2, session: { partTarget: 0.334, partHoldBack: 0.668 } }))
      .toEqual({ partFrames: 10, partTarget: 0.334, keyframesPerSegment: 2, partHoldBackParts: 2, keptFromSession: ['PART-TARGET'] });
    // 25 fps: 0.5 s kept as 12 frames (0.48 s, at least 85 % of the target)
    const pal = planLowLatencyParts({ frameRate: 25, segmentSeconds: 2, partSeconds: 2 / 6, keyframesPerSegment: 1, session: { partTarget: 0.5 } });
    expect(pal).toMatchObject({ partFrames: 12, partTarget: 0.5, keyframesPerSegment: 1, keptFromSession: ['PART-TARGET'] });
    expect(pal.partFrames / 25).toBeGreaterThanOrEqual(0.85 * 0.5);
    // a reconnect at another frame rate keeps the session's 0.5 s too: 25 fps on a 4-part worker would give 0.52
    expect(planLowLatencyParts({ frameRate: 25, segmentSeconds: 2, partSeconds: 0.5, keyframesPerSegment: 1, session: { partTarget: 0.5 } })).toMatchObject({ partFrames: 12, partTarget: 0.5, keptFromSession: ['PART-TARGET'] });
  });

  it('keeps only the PART-HOLD-BACK when the part length is the same', () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, partHoldBackParts: 2, session: { partTarget: 0.5, partHoldBack: 1.5 } }))
      .toEqual({ ...fresh, partFrames: 15, partTarget: 0.5, partHoldBackParts: 3, keptFromSession: ['PART-HOLD-BACK'] });
    // one that is no whole number (2 to 6) of parts is not kept
    for (const partHoldBack of [1.2, 0.5, 3.5]) {
      expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, session: { partTarget: 0.5, partHoldBack } })).toMatchObject({ partHoldBackParts: 2, keptFromSession: [] });
    }
  });

  it('never advertises less than one part, and ignores an unusable session value', () => {
    expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, session: { partTarget: 0.01 } })).toMatchObject({ partFrames: 1, partTarget: 0.034 });
    for (const v of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(planLowLatencyParts({ ...base, partSeconds: 0.5, keyframesPerSegment: 1, session: { partTarget: v, partHoldBack: v } })).toEqual({ ...fresh, partFrames: 15, partTarget: 0.5 });
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
      expect(createLlHlsPublisher({ ...opts, partTarget: 0.52, partHoldBackParts: 3 }).state()).toMatchObject({ partTarget: 0.52, partHoldBack: 1.56 });
      expect(createLlHlsPublisher(opts).state()).toMatchObject({ partTarget: 0.5, partHoldBack: 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
