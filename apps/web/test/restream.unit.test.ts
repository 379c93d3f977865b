/** The dashboard's restream helpers (src/restream.ts). */
import { describe, expect, it } from 'vitest';
import { parseRestreamDestinations, restreamPath, restreamStateLabel } from '../src/restream';

describe('restream destinations in the dashboard', () => {
  it('builds the paths', () => {
    expect(restreamPath('ann')).toBe('/api/channels/ann/restream-destinations');
    expect(restreamPath('ann', 'd/1')).toBe('/api/channels/ann/restream-destinations/d%2F1');
  });
  it('parses a list and drops malformed items', () => {
    const good = { id: 'd1', name: 'Twitch', url: 'rtmp://h/app', maskedKey: '********cdef', enabled: true, state: 'reconnecting', attempt: 2, reason: 'Connection refused' };
    expect(parseRestreamDestinations({ items: [good, { ...good, state: 'weird' }, { id: 'x' }, null] })).toEqual([good]);
    expect(parseRestreamDestinations(null)).toEqual([]);
  });
  it('says what each state means', () => {
    expect(restreamStateLabel({ state: 'idle', attempt: 0, reason: null, enabled: true })).toBe('Waiting for you to go live');
    expect(restreamStateLabel({ state: 'live', attempt: 1, reason: null, enabled: true })).toBe('Live');
    expect(restreamStateLabel({ state: 'live', attempt: 3, reason: null, enabled: true })).toBe('Live (reconnected, attempt 3)');
    expect(restreamStateLabel({ state: 'reconnecting', attempt: 2, reason: 'Connection refused', enabled: true })).toBe('Reconnecting (attempt 2): Connection refused');
    expect(restreamStateLabel({ state: 'stopped', attempt: 1, reason: 'session-ended', enabled: true })).toBe('Stopped (session ended)');
  });
});
