/**
 * Ingest health measurement (health.ts): bitrate, frame rate, keyframe interval and A/V drift
 * from a synthetic publish with known numbers, interval by interval, including 32-bit RTMP
 * timestamp wrap-around.
 */
import { describe, expect, it } from 'vitest';
import { IngestHealthMeter, timestampDelta, type MeasuredMessage } from '../src/health.js';

const video = (timestamp: number, bytes: number, keyframe = false): MeasuredMessage => ({ kind: 'video', timestamp, payload: { length: bytes }, keyframe, sequenceHeader: false });
const audio = (timestamp: number, bytes: number): MeasuredMessage => ({ kind: 'audio', timestamp, payload: { length: bytes }, keyframe: false, sequenceHeader: false });

/**
 * Feeds `seconds` of a 30 fps, 2-s GOP stream starting at media time `t0` (ms): 2,500 bytes per
 * video frame (600 kbit/s), 64 kbit/s of audio in 1024-sample AAC frames at 48 kHz, audio
 * `skewMs` ahead.
 */
function feed(m: IngestHealthMeter, t0: number, seconds: number, skewMs = 0): void {
  for (let i = 0; i < seconds * 30; i++) {
    const t = t0 + Math.round((i * 1000) / 30);
    m.observe(video((t >>> 0), 2500, i % 60 === 0));
  }
  const aacFrameMs = (1024 / 48_000) * 1000;
  const frames = Math.round((seconds * 1000) / aacFrameMs);
  for (let i = 0; i < frames; i++) m.observe(audio(((t0 + skewMs + Math.round(i * aacFrameMs)) >>> 0), Math.round((64_000 / 8) * (aacFrameMs / 1000))));
}

describe('timestampDelta', () => {
  it.each([
    [0, 1000, 1000],
    [1000, 0, -1000],
    [2 ** 32 - 100, 50, 150], // wrapped forward
    [50, 2 ** 32 - 100, -150], // wrapped backward
    [5, 5, 0],
  ])('%i → %i is %i ms', (a, b, d) => {
    expect(timestampDelta(a, b)).toBe(d);
  });
});

describe('IngestHealthMeter', () => {
  it('measures bitrate (total, video, audio) in kbit/s and frame rate over one interval', () => {
    const m = new IngestHealthMeter(10_000);
    feed(m, 0, 5);
    const s = m.take(15_000);
    expect(s.intervalMs).toBe(5000);
    expect(s.videoBitrateKbps).toBe(600); // 150 frames × 2500 B × 8 / 5 s
    expect(s.audioBitrateKbps).toBeCloseTo(64, 0);
    expect(s.bitrateKbps).toBeCloseTo(s.videoBitrateKbps + s.audioBitrateKbps, 1);
    expect(s.frameRate).toBe(30);
    expect(s.keyframeIntervalSeconds).toBe(2);
  });

  it('does not count sequence headers as frames (their bytes count) and ignores data messages', () => {
    const m = new IngestHealthMeter(0);
    m.observe({ kind: 'data', timestamp: 0, payload: { length: 10_000 }, keyframe: false, sequenceHeader: false });
    m.observe({ kind: 'video', timestamp: 0, payload: { length: 40 }, keyframe: true, sequenceHeader: true });
    m.observe({ kind: 'audio', timestamp: 0, payload: { length: 4 }, keyframe: false, sequenceHeader: true });
    m.observe(video(0, 1000, true));
    const s = m.take(1000);
    expect(s).toEqual({ intervalMs: 1000, bitrateKbps: 8.35, videoBitrateKbps: 8.32, audioBitrateKbps: 0.03, frameRate: 1, keyframeIntervalSeconds: null, avDriftMs: 0 });
  });

  it('resets rates every interval but remembers keyframes and timestamps across intervals', () => {
    const m = new IngestHealthMeter(0);
    m.observe(video(0, 100, true));
    m.observe(audio(20, 10));
    expect(m.take(5000)).toMatchObject({ frameRate: 0.2, keyframeIntervalSeconds: null, avDriftMs: 20 });
    // A 10-s GOP: the second keyframe arrives two intervals later.
    const empty = m.take(10_000);
    expect(empty).toMatchObject({ intervalMs: 5000, bitrateKbps: 0, frameRate: 0, keyframeIntervalSeconds: null, avDriftMs: 20 });
    m.observe(video(10_000, 100, true));
    expect(m.take(15_000)).toMatchObject({ keyframeIntervalSeconds: 10, avDriftMs: -9980 });
  });

  it('reports audio ahead of video as positive drift, behind as negative', () => {
    const ahead = new IngestHealthMeter(0);
    feed(ahead, 1000, 5, 120);
    expect(ahead.take(5000).avDriftMs).toBeGreaterThan(100);
    const behind = new IngestHealthMeter(0);
    feed(behind, 1000, 5, -300);
    expect(behind.take(5000).avDriftMs).toBeLessThan(-250);
  });

  it('survives the 32-bit timestamp wrap (keyframe interval and drift stay small)', () => {
    const m = new IngestHealthMeter(0);
    feed(m, 2 ** 32 - 2500, 5, 40);
    const s = m.take(5000);
    expect(s.keyframeIntervalSeconds).toBe(2);
    expect(Math.abs(s.avDriftMs)).toBeLessThan(100);
  });

  it('reports rates of 0 for an empty or backwards interval', () => {
    const m = new IngestHealthMeter(1000);
    m.observe(video(0, 5000, true));
    expect(m.take(1000)).toMatchObject({ intervalMs: 0, bitrateKbps: 0, frameRate: 0 });
    expect(m.take(500)).toMatchObject({ intervalMs: 0, bitrateKbps: 0 });
  });
});
