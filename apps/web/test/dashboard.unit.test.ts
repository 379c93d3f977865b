/**
 * The dashboard's pure helpers: the stream key the page keeps (streamKey.ts), the playback
 * policy form (playbackPolicy.ts) and the recordings library (recordings.ts).
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/api';
import { mergeKnownKey, parseIssuedKey, rotateKeyPath, stopStreamPath } from '../src/streamKey';
import { parsePlaybackPolicy, parseUsernameList, playbackPolicyBody } from '../src/playbackPolicy';
import { parseRecordings, parseRetention, parseRetentionInput, recordingPath, recordingStateLabel } from '../src/recordings';

describe('stream key', () => {
  const issued = { keyId: 'k1', maskedKey: '********abcd', streamKey: 'live_secret_abcd', ingestUrl: 'rtmp://h/live' };
  it('keeps the clear text of the same key across answers that no longer carry it, never of another key', () => {
    expect(mergeKnownKey(issued, { ...issued, streamKey: null })).toEqual(issued);
    expect(mergeKnownKey(issued, { ...issued, keyId: 'k2', streamKey: null }).streamKey).toBeNull();
    expect(mergeKnownKey(null, { ...issued, streamKey: null }).streamKey).toBeNull();
  });
  it('reads the rotation answer and refuses other shapes', () => {
    const body = { streamKey: 'live_new_wxyz', key: { keyId: 'k2', masked: '********wxyz', status: 'active' }, ingestUrl: 'rtmp://h/live' };
    expect(parseIssuedKey(body)).toEqual({ keyId: 'k2', maskedKey: '********wxyz', streamKey: 'live_new_wxyz', ingestUrl: 'rtmp://h/live' });
    expect(parseIssuedKey({ ...body, streamKey: null })).toBeNull();
    expect(parseIssuedKey({ streamKey: 'x', ingestUrl: 'y' })).toBeNull();
    // SRT and WHIP URLs come along when the platform offers them; anything but a string is dropped
    expect(parseIssuedKey({ ...body, srtUrl: 'srt://h:9000', whipUrl: 'http://h:8089/whip/k' })).toMatchObject({ srtUrl: 'srt://h:9000', whipUrl: 'http://h:8089/whip/k' });
    expect(parseIssuedKey({ ...body, srtUrl: 42 })).not.toHaveProperty('srtUrl');
    expect(parseIssuedKey(null)).toBeNull();
  });
  it('encodes the path parts', () => {
    expect(rotateKeyPath('a b', 'k/1')).toBe('/api/channels/a%20b/stream-keys/k%2F1/rotate');
    expect(stopStreamPath('ann')).toBe('/api/streams/ann/stop');
  });
});

describe('playback policy', () => {
  const answer = { channelId: 'ann', visibility: 'allowlist', allowList: ['u1'], allowListUsernames: ['Bob'], encryption: { enabled: true, rotateEverySegments: 10 }, bindAddress: false };
  it('parses the API answer and refuses an unknown visibility', () => {
    expect(parsePlaybackPolicy(answer)).toEqual({ visibility: 'allowlist', allowListUsernames: ['Bob'], encryption: { enabled: true, rotateEverySegments: 10 }, bindAddress: false });
    expect(() => parsePlaybackPolicy({ ...answer, visibility: 'secret' })).toThrow(ApiError);
    expect(() => parsePlaybackPolicy({ ...answer, allowListUsernames: undefined })).toThrow(ApiError);
  });
  it('splits usernames on commas, spaces and lines, drops @ and case-insensitive duplicates', () => {
    expect(parseUsernameList(' @bob, carol\nBOB  dave,,')).toEqual(['bob', 'carol', 'dave']);
    expect(parseUsernameList('  ')).toEqual([]);
  });
  it('sends the allow-list only with allowlist visibility and keeps the key rotation', () => {
    const p = parsePlaybackPolicy(answer);
    expect(playbackPolicyBody(p)).toEqual({ visibility: 'allowlist', allowListUsernames: ['Bob'], encryption: { enabled: true, rotateEverySegments: 10 }, bindAddress: false });
    expect(playbackPolicyBody({ ...p, visibility: 'followers' }).allowListUsernames).toEqual([]);
  });
});

describe('recordings', () => {
  const item = { sessionId: 's1', channelId: 'ann', title: 'Run', status: 'vod', startedAt: '2026-01-01T10:00:00.000Z', endedAt: '2026-01-01T11:00:00.000Z', durationSeconds: 3590.5, vodUrl: '/sessions/s1/vod.m3u8' };
  it('parses the list, dropping items of another shape', () => {
    expect(parseRecordings({ items: [item, { ...item, status: 'live' }, { sessionId: 3 }] }).map((r) => r.sessionId)).toEqual(['s1']);
    expect(() => parseRecordings({})).toThrow(ApiError);
  });
  it('reads the retention: days or null', () => {
    expect(parseRetention({ channelId: 'ann', retentionDays: 30 })).toBe(30);
    expect(parseRetention({ channelId: 'ann', retentionDays: null })).toBeNull();
    expect(() => parseRetention({ retentionDays: 0 })).toThrow(ApiError);
    expect(() => parseRetention({})).toThrow(ApiError);
  });
  it('checks the retention box: empty is forever, whole days 1..3650', () => {
    expect(parseRetentionInput('')).toEqual({ days: null });
    expect(parseRetentionInput(' 30 ')).toEqual({ days: 30 });
    for (const bad of ['0', '3651', '1.5', '-2', 'ten']) expect(parseRetentionInput(bad)).toHaveProperty('error');
  });
  it('names states and paths', () => {
    const r = parseRecordings({ items: [item] })[0]!;
    expect(recordingStateLabel(r)).toBe('Ready');
    expect(recordingStateLabel({ ...r, status: 'ended' })).toBe('Processing');
    expect(recordingPath('s 1')).toBe('/api/recordings/s%201');
  });
});
