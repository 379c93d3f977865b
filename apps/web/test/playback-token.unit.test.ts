/** Playback tokens in the web app: the API call's shape, the URL rewriting every hls.js request goes through, renewal timing. */
import { describe, expect, it } from 'vitest';
import { ApiError, isPlaybackToken, playbackTokenPath, requestPlaybackToken, tokenRenewDelayMs, withPlaybackToken } from '../src/api';

const PAGE = 'https://watch.example/watch/live/demo';

describe('withPlaybackToken', () => {
  it('adds the token to a same-origin URL, keeping other query parameters', () => {
    expect(withPlaybackToken('/live/demo/master.m3u8', 'T1', PAGE)).toBe('https://watch.example/live/demo/master.m3u8?token=T1');
    expect(withPlaybackToken('https://watch.example/live/demo/720p/index.m3u8?_HLS_msn=12&_HLS_part=3', 'T1', PAGE))
      .toBe('https://watch.example/live/demo/720p/index.m3u8?_HLS_msn=12&_HLS_part=3&token=T1');
  });

  it('replaces an older token the edge wrote into a child URI', () => {
    expect(withPlaybackToken('https://watch.example/keys/s1/3.key?token=OLD', 'NEW', PAGE)).toBe('https://watch.example/keys/s1/3.key?token=NEW');
  });

  it('leaves other origins and a null token alone', () => {
    expect(withPlaybackToken('https://cdn.other/seg.m4s', 'T1', PAGE)).toBe('https://cdn.other/seg.m4s');
    expect(withPlaybackToken('/live/demo/master.m3u8', null, PAGE)).toBe('/live/demo/master.m3u8');
  });
});

describe('requestPlaybackToken', () => {
  it('POSTs {} to /api/streams/{id}/playback-token and checks the answer', async () => {
    const calls: Array<[string, unknown]> = [];
    const token = await requestPlaybackToken('demo chan', async (path, opts) => {
      calls.push([path, opts]);
      return { token: 'abc', expiresAt: '2026-01-01T00:05:00.000Z', query: 'token=abc' };
    });
    expect(token.token).toBe('abc');
    expect(calls).toEqual([['/api/streams/demo%20chan/playback-token', { method: 'POST', body: {}, signal: undefined }]]);
    expect(playbackTokenPath('x')).toBe('/api/streams/x/playback-token');
    await expect(requestPlaybackToken('x', async () => ({ token: '' }))).rejects.toBeInstanceOf(ApiError);
    expect(isPlaybackToken({ token: 't', expiresAt: 'not a date' })).toBe(false);
  });

  it('passes the API refusal through (the player shows its message)', async () => {
    const refusal = new ApiError('This stream is for followers of the channel: follow it to watch.', 'http', 403, 'PLAYBACK_FOLLOWERS_ONLY');
    await expect(requestPlaybackToken('x', async () => { throw refusal; })).rejects.toBe(refusal);
  });
});

describe('tokenRenewDelayMs', () => {
  it('renews at whichever comes first, a minute before expiry or 80% of its life, never sooner than 5 s', () => {
    expect(tokenRenewDelayMs(600_000, 0)).toBe(480_000);
    expect(tokenRenewDelayMs(3_600_000, 0)).toBe(2_880_000);
    expect(tokenRenewDelayMs(100_000, 0)).toBe(40_000);
    expect(tokenRenewDelayMs(2_000, 0)).toBe(5_000);
  });
});
