/** The pure rules of restreaming (restream-rules.ts): ffmpeg arguments, backoff, failure reasons. */
import { describe, expect, it } from 'vitest';
import {
  nextFailureCount, RESTREAM_BACKOFF_MAX_MS, RESTREAM_STABLE_AFTER_MS, restreamBackoffMs, restreamFailureReason, restreamFfmpegArgs,
} from '../src/restream-rules.js';

describe('restreamFfmpegArgs', () => {
  it('copies FLV from stdin to the target without re-encoding, with progress on stdout', () => {
    const args = restreamFfmpegArgs('rtmp://live.example.com/app/KEY');
    expect(args.slice(args.indexOf('-i'), args.indexOf('-i') + 2)).toEqual(['-i', 'pipe:0']);
    expect(args[args.indexOf('-i') - 1]).toBe('flv');
    expect(args.join(' ')).toContain('-map 0 -c copy');
    expect(args.join(' ')).toContain('-progress pipe:1');
    expect(args.at(-1)).toBe('rtmp://live.example.com/app/KEY');
    expect(args.at(-4)).toBe('flv');
    expect(args).not.toContain('-c:v');
  });
});

describe('restreamBackoffMs', () => {
  it('doubles from 1 s and stops at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(restreamBackoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, RESTREAM_BACKOFF_MAX_MS]);
  });
  it('refuses a count that is not a positive integer', () => {
    expect(() => restreamBackoffMs(0)).toThrow(RangeError);
    expect(() => restreamBackoffMs(1.5)).toThrow(RangeError);
  });
});

describe('nextFailureCount', () => {
  it('counts failures in a row and starts over after a push that ran long enough', () => {
    expect(nextFailureCount(0, 100)).toBe(1);
    expect(nextFailureCount(3, 5000)).toBe(4);
    expect(nextFailureCount(7, RESTREAM_STABLE_AFTER_MS)).toBe(1);
  });
});

describe('restreamFailureReason', () => {
  it("is ffmpeg's last error line with the key hidden", () => {
    const tail = 'some line\n[rtmp @ 0x1] Server error: rtmp://h/live/sk_live_123\nError writing trailer of rtmp://h/live/sk_live_123: Broken pipe\n';
    expect(restreamFailureReason(tail, { code: 1, signal: null }, 'sk_live_123')).toBe('Error writing trailer of rtmp://h/live/***: Broken pipe');
  });
  it('falls back to the exit code or signal, and is bounded', () => {
    expect(restreamFailureReason('', { code: 1, signal: null }, 'sk_123')).toBe('ffmpeg exited with code 1');
    expect(restreamFailureReason('', { code: null, signal: 'SIGKILL' }, 'sk_123')).toBe('ffmpeg killed by SIGKILL');
    expect(restreamFailureReason('x'.repeat(500), { code: 1, signal: null }, 'sk_123')).toHaveLength(200);
  });
});
