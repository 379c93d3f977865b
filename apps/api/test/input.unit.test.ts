/** Pure input rules of the API: text cleaning (Unicode TR 36), CIDR parsing (RFC 4632), cursors, webhook URLs. */
import { describe, expect, it } from 'vitest';
import { cleanText } from '../src/text.js';
import { parseCidrs } from '../src/routes/channels.js';
import { decodeCursor, encodeCursor } from '../src/routes/cursor.js';
import { checkWebhookUrl } from '../src/routes/webhooks.js';
import { ApiError } from '../src/errors.js';

const code = (fn: () => unknown): string | null => {
  try { fn(); return null; } catch (err) { return err instanceof ApiError ? err.code : 'OTHER'; }
};

describe('cleanText', () => {
  it('normalises to NFC and trims', () => {
    expect(cleanText('  Cafe\u0301 ', 'title', { max: 10 })).toBe('Café');
  });
  it.each([
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate', '\udc00'],
    ['NUL', 'a\u0000b'],
    ['newline in a one-line field', 'a\nb'],
    ['right-to-left override', 'abc\u202Edef'],
    ['zero-width space', 'ad\u200Bmin'],
    ['BOM inside', 'a\uFEFFx'],
    ['Unicode tag characters', 'x\u{E0041}'],
  ])('refuses %s', (_name, input) => {
    expect(code(() => cleanText(input, 'f', { max: 50 }))).toBe('VALIDATION_FAILED');
  });
  it('counts code points, not UTF-16 units, and allows newlines where asked', () => {
    expect(cleanText('😀'.repeat(5), 'f', { max: 5 })).toBe('😀'.repeat(5));
    expect(code(() => cleanText('😀'.repeat(6), 'f', { max: 5 }))).toBe('VALIDATION_FAILED');
    expect(cleanText('line 1\nline 2', 'bio', { max: 50, multiline: true })).toBe('line 1\nline 2');
    expect(code(() => cleanText(' ', 'f', { min: 1, max: 5 }))).toBe('VALIDATION_FAILED');
  });
});

describe('parseCidrs', () => {
  it('normalises addresses and blocks', () => {
    expect(parseCidrs(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1'])).toEqual(['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32', '::1/128']);
  });
  it.each(['10.0.0.0/33', '10.0.0/8', 'example.com', '::1/129', '1.2.3.4/8/9', '1.2.3.4/-1', '1.2.3.4/ 8', ''])('refuses %j', (c) => {
    expect(code(() => parseCidrs([c]))).toBe('VALIDATION_FAILED');
  });
});

describe('cursors', () => {
  it('round-trips and refuses anything it did not issue', () => {
    const c = { t: '2026-11-20T10:00:00.000Z', id: 'u1' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ['', 'x', Buffer.from('{"t":1}').toString('base64url'), Buffer.from('["not a date","id"]').toString('base64url')]) {
      expect(code(() => decodeCursor(bad))).toBe('INVALID_CURSOR');
    }
  });
});

describe('checkWebhookUrl', () => {
  it('keeps absolute http(s) URLs, normalised, without the fragment', () => {
    expect(checkWebhookUrl('https://Example.COM/hooks?x=1#frag')).toBe('https://example.com/hooks?x=1');
    expect(checkWebhookUrl('http://127.0.0.1:8080/h')).toBe('http://127.0.0.1:8080/h');
  });
  it.each(['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,x', 'gopher://x/', '/relative', 'not a url', 'https://user:pw@example.com/', 'https://user@example.com/'])('refuses %s', (url) => {
    expect(code(() => checkWebhookUrl(url))).toBe('WEBHOOK_URL_INVALID');
  });
});
