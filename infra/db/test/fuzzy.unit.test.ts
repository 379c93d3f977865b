/** Edit-distance corrections of discovery search (fuzzy.ts). */
import { describe, expect, it } from 'vitest';
import { editDistanceCorrections, maxEditsFor, osaDistance } from '../src/fuzzy.js';

describe('osaDistance', () => {
  it.each<[string, string, number]>([
    ['smoke', 'smoke', 0],
    ['smoek', 'smoke', 1], // adjacent transposition: one edit
    ['testng', 'testing', 1], // deletion
    ['speedrun', 'speedrum', 1], // substitution
    ['ca', 'abc', 3], // OSA, not unrestricted Damerau–Levenshtein (which says 2)
    ['', 'abc', 3],
    ['café', 'cafe', 1], // code points, not UTF-16 units
  ])('%s → %s = %i', (a, b, d) => {
    expect(osaDistance(a, b)).toBe(d);
    expect(osaDistance(b, a)).toBe(d);
  });

  it('stops at the limit', () => {
    expect(osaDistance('minecraft', 'lofi', 2)).toBe(3);
    expect(osaDistance('abcdefgh', 'hgfedcba', 1)).toBe(2);
  });
});

describe('editDistanceCorrections', () => {
  const vocabulary = ['smoke', 'smoked', 'stroke', 'testing', 'test', 'tests', 'chess', 'chest', 'smog'];

  it('allows one edit for short words and two for longer ones', () => {
    expect(maxEditsFor('smoek')).toBe(1);
    expect(maxEditsFor('testng')).toBe(2);
    expect(editDistanceCorrections('smoek', vocabulary, 8)).toEqual(['smoke']);
    expect(editDistanceCorrections('testng', vocabulary, 8)).toEqual(['testing', 'test', 'tests']);
  });

  it('nearest first, then alphabetically, at most `max`, never the word itself', () => {
    expect(editDistanceCorrections('chesz', vocabulary, 8)).toEqual(['chess', 'chest']);
    expect(editDistanceCorrections('chesz', vocabulary, 1)).toEqual(['chess']);
    expect(editDistanceCorrections('smoke', vocabulary, 8)).toEqual(['smoked']);
  });
});
