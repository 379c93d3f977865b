/** The webhook retry schedule (webhook-schedule.ts): exponential, capped, spanning the policy's total. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, nextRetry, retrySchedule } from '../src/webhook-schedule.js';

describe('retrySchedule', () => {
  it('doubles from the base up to the cap until the waits add up to at least the span (24 h by default)', () => {
    const s = retrySchedule(DEFAULT_RETRY_POLICY);
    const min = 60_000;
    expect(s.slice(0, 9).map((d) => d / min)).toEqual([0.5, 1, 2, 4, 8, 16, 32, 64, 120]);
    expect(s).toHaveLength(19);
    expect(s.slice(8).every((d) => d === 2 * 3600_000)).toBe(true);
    const total = s.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(total - s[s.length - 1]!).toBeLessThan(24 * 3600_000);
  });

  it('is short when the settings say so (tests)', () => {
    expect(retrySchedule({ baseMs: 100, maxDelayMs: 400, spanMs: 1500 })).toEqual([100, 200, 400, 400, 400]);
    expect(retrySchedule({ baseMs: 10, maxDelayMs: 10, spanMs: 5 })).toEqual([10]);
  });

  it('refuses policies that are not positive or whose cap is below the base', () => {
    expect(() => retrySchedule({ baseMs: 0, maxDelayMs: 1, spanMs: 1 })).toThrow(/baseMs/);
    expect(() => retrySchedule({ baseMs: 1, maxDelayMs: 1, spanMs: Number.POSITIVE_INFINITY })).toThrow(/spanMs/);
    expect(() => retrySchedule({ baseMs: 10, maxDelayMs: 5, spanMs: 100 })).toThrow(/maxDelayMs/);
  });
});

describe('nextRetry', () => {
  it('retries while the schedule lasts, then gives up', () => {
    const s = [100, 200, 400];
    expect(nextRetry(s, 1)).toEqual({ retryInMs: 100 });
    expect(nextRetry(s, 3)).toEqual({ retryInMs: 400 });
    expect(nextRetry(s, 4)).toEqual({ giveUp: true });
  });
});
