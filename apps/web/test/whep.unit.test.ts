/** The pure part of the player's real-time (WHEP) mode: what a viewer is told when an offer is refused. */
import { describe, expect, it } from 'vitest';
import { whepRefusal } from '../src/useWhepPlayer';

describe('whepRefusal', () => {
  it('tells the viewer in plain words by code, and keeps the server\'s code and message as the diagnostic', () => {
    expect(whepRefusal(422, JSON.stringify({ code: 'SOURCE_NOT_WEBRTC_COMPATIBLE', message: 'The stream has B-frames.' })))
      .toEqual({ reason: 'this broadcast cannot be sent in real time', diagnostic: '422 SOURCE_NOT_WEBRTC_COMPATIBLE: The stream has B-frames.' });
  });
  it('uses the server\'s message for codes without a text (playback tokens)', () => {
    expect(whepRefusal(401, JSON.stringify({ code: 'PLAYBACK_TOKEN_EXPIRED', message: 'The playback token has expired; get a new one.' })).reason).toBe('The playback token has expired; get a new one.');
  });
  it('falls back to the HTTP status for other bodies', () => {
    expect(whepRefusal(502, '<html>Bad gateway</html>')).toEqual({ reason: 'the real-time server answered HTTP 502', diagnostic: '502 <html>Bad gateway</html>' });
    expect(whepRefusal(404, JSON.stringify({ code: 'X' })).reason).toBe('the real-time server answered HTTP 404');
  });
});
