/** Restream destination rules (events/src/restream.ts) and the decoding of the Restream* events. */
import { describe, expect, it } from 'vitest';
import { decodeEvent, EventDecodeError, isValidRestreamKey, restreamKeyLast4, restreamTargetUrl, validateRestreamUrl } from '../src/index.js';

describe('validateRestreamUrl', () => {
  it('takes rtmp:// and rtmps:// URLs with a host, without a trailing slash', () => {
    expect(validateRestreamUrl('rtmp://live.twitch.tv/app/')).toEqual({ ok: true, url: 'rtmp://live.twitch.tv/app' });
    expect(validateRestreamUrl('rtmps://a.rtmp.youtube.com:443/live2')).toEqual({ ok: true, url: 'rtmps://a.rtmp.youtube.com:443/live2' });
  });
  it('refuses other schemes, credentials, queries, and junk', () => {
    expect(validateRestreamUrl('http://example.com/live')).toEqual({ ok: false, problem: 'scheme' });
    expect(validateRestreamUrl('srt://example.com:9000')).toEqual({ ok: false, problem: 'scheme' });
    expect(validateRestreamUrl('rtmp://user:pw@example.com/live')).toEqual({ ok: false, problem: 'credentials' });
    expect(validateRestreamUrl('rtmp://example.com/live?key=1')).toEqual({ ok: false, problem: 'query' });
    expect(validateRestreamUrl('not a url')).toEqual({ ok: false, problem: 'not-a-url' });
    expect(validateRestreamUrl(`rtmp://example.com/${'a'.repeat(600)}`)).toEqual({ ok: false, problem: 'too-long' });
  });
});

describe('restream keys', () => {
  it('are printable, without spaces or slashes', () => {
    expect(isValidRestreamKey('live_123456_AbCdEf?bandwidthtest=true')).toBe(true);
    expect(isValidRestreamKey('a b')).toBe(false);
    expect(isValidRestreamKey('a/b')).toBe(false);
    expect(isValidRestreamKey('')).toBe(false);
  });
  it('keep at most their last four characters for display, none of a short key', () => {
    expect(restreamKeyLast4('live_123456789')).toBe('6789');
    expect(restreamKeyLast4('12345678')).toBe('');
  });
  it('go after the server URL as its last path segment', () => {
    expect(restreamTargetUrl('rtmp://h/live/', 'k1')).toBe('rtmp://h/live/k1');
  });
});

describe('Restream* events', () => {
  const envelope = (type: string, data: Record<string, unknown>) => ({ id: '0190', type, version: 1, occurredAt: '2026-12-07T00:00:00Z', subject: 'evt.stream.c1', data });
  it('decode with their required fields', () => {
    const e = decodeEvent(envelope('RestreamReconnecting', { channelId: 'c1', sessionId: 's1', destinationId: 'd1', attempt: 2, reason: 'Connection refused', retryInMs: 2000, ingestNodeId: 'ingest-1' }));
    expect(e.type).toBe('RestreamReconnecting');
    expect(() => decodeEvent(envelope('RestreamStarted', { channelId: 'c1', sessionId: 's1', attempt: 1, ingestNodeId: 'i' }))).toThrow(EventDecodeError);
    expect(() => decodeEvent(envelope('RestreamDestinationAdded', { channelId: 'c1', destinationId: 'd1', name: 'n', url: 'rtmp://h/a', keyLast4: '' }))).toThrow(/keySealed/);
  });
});
