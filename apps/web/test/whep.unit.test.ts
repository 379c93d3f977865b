/** The pure part of the player's real-time (WHEP) mode: what a viewer is told when an offer is refused. */
import { describe, expect, it } from 'vitest';
import { whepRefusalReason } from '../src/useWhepPlayer';

describe('whepRefusalReason', () => {
  it('uses the server\'s message of a { code, message } body', () => {
    expect(whepRefusalReason(422, JSON.stringify({ code: 'SOURCE_NOT_WEBRTC_COMPATIBLE', message: 'The stream has B-frames.' }))).toBe('The stream has B-frames.');
  });
  it('falls back to the HTTP status for other bodies', () => {
    expect(whepRefusalReason(502, '<html>Bad gateway</html>')).toBe('the real-time server answered HTTP 502');
    expect(whepRefusalReason(404, JSON.stringify({ code: 'X' }))).toBe('the real-time server answered HTTP 404');
  });
});
