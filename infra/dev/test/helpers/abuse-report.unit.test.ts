import { describe, expect, it } from 'vitest';
import { floodTable, nearestRank, tally } from './abuse-report.js';

describe('nearestRank', () => {
  it('takes the smallest value with at least q of the values at or below it', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(nearestRank(xs, 0.99)).toBe(99);
    expect(nearestRank(xs, 0.5)).toBe(50);
    expect(nearestRank(xs, 1)).toBe(100);
    expect(nearestRank([7], 0.99)).toBe(7);
    expect(nearestRank([3, 1, 2], 0.01)).toBe(1);
    expect(nearestRank([], 0.99)).toBeNaN();
  });
});

describe('tally', () => {
  it('counts values, most frequent first', () => {
    expect(tally([404, 429, 404, 404])).toBe('404 ×3, 429 ×1');
    expect(tally([])).toBe('');
  });
});

describe('floodTable', () => {
  it('renders one row per flood with p99 before → during, memory and stall', () => {
    const table = floodTable([{
      flood: 'f', bound: 'b', attackerGot: 'nothing', longestStallMs: 1234,
      latency: [{ what: 'api', before: [1, 2, 3], during: [5, 50, 500], failedDuring: 1 }],
      memory: [{ node: 'edge', beforeMiB: 100.4, peakMiB: 120.6 }],
    }]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('| f | b | api: 3.0 ms → 500 ms (3, 1 failed) | edge 100 → 121 | nothing | 1.2 s |');
  });
});
