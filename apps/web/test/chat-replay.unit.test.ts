/** Chat replay of recordings (chatReplay.ts). */
import { describe, expect, it } from 'vitest';
import { playedCount, replayClock, replayTimeline, type ReplaySource } from '../src/chatReplay';

const START = Date.parse('2026-12-07T10:00:00.000Z');
const line = (id: string, seq: number, offsetMs: number): ReplaySource => ({
  id, seq, kind: 'text', userId: 'u1', username: 'alice', text: id, at: new Date(START + offsetMs).toISOString(),
});

describe('replayTimeline', () => {
  it('places the broadcast\'s lines at their offsets, leaves out lines outside it and duplicates', () => {
    const t = replayTimeline([line('late', 5, 70_000), line('b', 3, 5_000), line('before', 1, -1), line('a', 2, 1_500), line('b', 3, 5_000)], START, START + 60_000);
    expect(t.map((l) => [l.id, l.offset])).toEqual([['a', 1.5], ['b', 5]]);
  });

  it('keeps everything after the start of a broadcast still running, and orders ties by sequence', () => {
    const t = replayTimeline([line('y', 9, 1000), line('x', 8, 1000), line('z', 10, 999_000)], START, null);
    expect(t.map((l) => l.id)).toEqual(['x', 'y', 'z']);
  });
});

describe('playedCount', () => {
  const t = replayTimeline([line('a', 1, 1000), line('b', 2, 2000), line('c', 3, 2000), line('d', 4, 9000)], START, null);
  it.each([[0, 0], [0.99, 0], [1, 1], [2, 3], [8.9, 3], [9, 4], [1e9, 4]])('at %d s: %d lines', (s, n) => {
    expect(playedCount(t, s)).toBe(n);
  });
});

describe('replayClock', () => {
  it('formats positions', () => {
    expect(replayClock(0)).toBe('0:00');
    expect(replayClock(65.9)).toBe('1:05');
    expect(replayClock(3723)).toBe('1:02:03');
  });
});
