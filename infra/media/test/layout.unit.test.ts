import { describe, expect, it } from 'vitest';
import {
  liveMasterPath, livePosterPath, llPartUri, llSegmentUri, masterPlaylistKey, mediaPlaylistKey, parseLlPartUri, posterKey, sessionKeyPrefix,
  sessionPosterPath, spriteKey, thumbnailsVttKey, thumbnailsVttPath, vodMasterKey, vodMasterPath, vodMp4Key, vodPlaylistKey,
} from '../src/formats/index.js';

describe('the storage key and URL layout of a session', () => {
  const prefix = sessionKeyPrefix('s_1');

  it('names every object under sessions/<sessionId>', () => {
    expect([
      masterPlaylistKey(prefix), mediaPlaylistKey(prefix, '720p'), vodMasterKey(prefix), vodPlaylistKey(prefix, '720p'), vodMp4Key(prefix),
      posterKey(prefix), thumbnailsVttKey(prefix), spriteKey(prefix, 2), `${prefix}/720p/${llSegmentUri(12)}`, `${prefix}/720p/${llPartUri(12, 3)}`,
    ]).toEqual([
      'sessions/s_1/master.m3u8', 'sessions/s_1/720p/index.m3u8', 'sessions/s_1/vod.m3u8', 'sessions/s_1/720p/vod.m3u8', 'sessions/s_1/vod.mp4',
      'sessions/s_1/poster.jpg', 'sessions/s_1/thumbs/thumbnails.vtt', 'sessions/s_1/thumbs/sprite_2.jpg', 'sessions/s_1/720p/seg_00012.m4s',
      'sessions/s_1/720p/seg_00012.part3.m4s',
    ]);
  });

  it('serves a session object at /<its storage key> on the edge, and a channel\'s live session under /live/<channelId>', () => {
    expect(vodMasterPath('s_1')).toBe(`/${vodMasterKey(prefix)}`);
    expect(sessionPosterPath('s_1')).toBe(`/${posterKey(prefix)}`);
    expect(thumbnailsVttPath('s_1')).toBe(`/${thumbnailsVttKey(prefix)}`);
    expect(liveMasterPath('demo')).toBe('/live/demo/master.m3u8');
    expect(livePosterPath('demo')).toBe('/live/demo/poster.jpg');
    expect(liveMasterPath('a b/c')).toBe('/live/a%20b%2Fc/master.m3u8'); // one path segment whatever the id
  });

  it('reads part names back', () => {
    expect(parseLlPartUri(llPartUri(7, 1))).toEqual({ msn: 7, index: 1, attempt: 0 });
  });
});
