import { describe, expect, it } from 'vitest';
import { describeShakaError } from '../src/useDashPlayer';

describe('describeShakaError', () => {
  it('names a Shaka error by category and code, anything else by its message', () => {
    expect(describeShakaError({ severity: 2, category: 1, code: 1001, data: [] })).toBe('shaka 1/1001');
    expect(describeShakaError(new Error('load interrupted'))).toBe('load interrupted');
    expect(describeShakaError(null)).toBe('null');
  });
});
