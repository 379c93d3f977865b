import { describe, expect, it } from 'vitest';
import { formatChaosTable, longestStall, lostAndDuplicated, type ChaosRow, type PlaybackSample } from './chaos-report.js';

/** Readings every 100 ms from `start`, currentTime from `t0` growing in real time except while `frozen(at)`. */
function play(start: number, end: number, frozen: (at: number) => boolean): PlaybackSample[] {
  const out: PlaybackSample[] = [];
  let t = 10;
  for (let at = start; at <= end; at += 100) {
    if (!frozen(at)) t += 0.1;
    out.push([at, t]);
  }
  return out;
}

describe('longestStall', () => {
  it('is the sampling period while playback advances', () => {
    expect(longestStall(play(0, 10_000, () => false), 2_000, 8_000)).toBe(100);
  });

  it('finds a stall inside the window', () => {
    expect(longestStall(play(0, 20_000, (at) => at > 5_000 && at < 9_000), 4_000, 15_000)).toBe(4_000);
  });

  it('counts a stall that began before the window whole, and one still under way at its end up to the end', () => {
    const s = play(0, 20_000, (at) => at > 3_000 && at < 6_000);
    expect(longestStall(s, 5_000, 20_000)).toBe(3_000);
    const ongoing = play(0, 20_000, (at) => at > 12_000);
    expect(longestStall(ongoing, 10_000, 18_000)).toBe(6_000);
  });

  it('ignores stalls outside the window and treats NaN (no player) as stalled', () => {
    expect(longestStall(play(0, 20_000, (at) => at > 1_000 && at < 4_000), 10_000, 20_000)).toBe(100);
    expect(longestStall([[0, Number.NaN], [1_000, Number.NaN]], 0, 1_000)).toBe(1_000);
    expect(longestStall([[0, 1], [100, Number.NaN], [2_100, 1.2]], 0, 2_100)).toBe(2_100);
  });
});

describe('lostAndDuplicated', () => {
  it('counts expected ids not stored and extra copies', () => {
    expect(lostAndDuplicated(['a', 'b', 'c'], ['a', 'a', 'c', 'x', 'x', 'x'])).toEqual({ lost: 1, duplicated: 3 });
    expect(lostAndDuplicated([], [])).toEqual({ lost: 0, duplicated: 0 });
  });
});

describe('formatChaosTable', () => {
  it('renders one Markdown row per kill and marks a stall over the 6 s goal', () => {
    const row: ChaosRow = {
      kill: 'edge', target: 'edge-1 | direct', stallMs: 7_250, fatal: [], eventsLost: 0, eventsDuplicated: 0, chatLostMessages: 0, chatMissingDeliveries: 0,
      sessions: 1, vods: null, takeoverMs: null, recoveredMs: 1_500, note: 'ok',
    };
    const lines = formatChaosTable([row]).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('| edge | edge-1 \\| direct | 7.3 (> 6) | 0 | 0 / 0 | 0 / 0 | 1 / ? | – | 1.5 | ok |');
  });
});
