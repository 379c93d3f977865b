/** Player keyboard shortcuts (shortcuts.ts) and the latency readout (usePlayer.ts). */
import { describe, expect, it } from 'vitest';
import { shortcutFor } from '../src/shortcuts';
import { playbackLatency } from '../src/usePlayer';

describe('shortcutFor', () => {
  it.each([
    [' ', 'toggle-play'], ['k', 'toggle-play'], ['K', 'toggle-play'], ['f', 'fullscreen'], ['m', 'mute'], ['t', 'theatre'],
    ['ArrowLeft', 'seek-back'], ['ArrowRight', 'seek-forward'], ['ArrowUp', 'volume-up'], ['ArrowDown', 'volume-down'], ['x', null], ['Enter', null],
  ])('%j → %s', (key, action) => {
    expect(shortcutFor({ key, targetTag: 'BODY' })).toBe(action);
  });

  it('leaves keys alone while typing, with modifiers, and space on buttons and links', () => {
    expect(shortcutFor({ key: 'k', targetTag: 'INPUT' })).toBeNull();
    expect(shortcutFor({ key: 'm', targetTag: 'textarea' })).toBeNull();
    expect(shortcutFor({ key: 'ArrowDown', targetTag: 'SELECT' })).toBeNull();
    expect(shortcutFor({ key: 'f', targetTag: 'DIV', targetEditable: true })).toBeNull();
    expect(shortcutFor({ key: 'f', ctrlKey: true })).toBeNull();
    expect(shortcutFor({ key: 'k', metaKey: true })).toBeNull();
    expect(shortcutFor({ key: ' ', targetTag: 'BUTTON' })).toBeNull();
    expect(shortcutFor({ key: ' ', targetTag: 'A' })).toBeNull();
    expect(shortcutFor({ key: 'k', targetTag: 'BUTTON' })).toBe('toggle-play');
  });
});

describe('playbackLatency', () => {
  it('measures capture-to-screen from the program date-time, else the distance from the live edge', () => {
    const now = Date.parse('2026-12-07T10:00:10.000Z');
    expect(playbackLatency({ playingDate: new Date(now - 1840), latency: 9 } as never, now)).toBe(1.8);
    expect(playbackLatency({ playingDate: null, latency: 2.26 } as never, now)).toBe(2.3);
    expect(playbackLatency({ playingDate: null, latency: 0 } as never, now)).toBeNull();
    expect(playbackLatency(null, now)).toBeNull();
  });
});
