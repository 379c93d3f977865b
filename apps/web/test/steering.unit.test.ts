/**
 * Content steering in the web player (RFC 8216bis §4.4.6.6): the playback token reaches the other
 * edges a same-origin master playlist lists, and no other origin.
 */
import { describe, expect, it } from 'vitest';
import { pathwayOrigins, withPlaybackToken } from '../src/api';

const PAGE = 'https://watch.example/watch/live/demo';

describe('pathwayOrigins', () => {
  it('collects the origins of the other pathways of a same-origin master playlist', () => {
    const origins = pathwayOrigins('/live/demo/master.m3u8?token=T', [
      'https://watch.example/live/demo/720p/index.m3u8?token=T',
      'https://edge-2.example:8443/live/demo/720p/index.m3u8?token=T',
      'https://edge-2.example:8443/live/demo/360p/index.m3u8?token=T',
      'http://10.0.0.7:8081/live/demo/720p/index.m3u8?token=T',
      'not a url at all ::',
    ], PAGE);
    expect([...origins].sort()).toEqual(['http://10.0.0.7:8081', 'https://edge-2.example:8443']);
  });

  it('trusts nothing a master playlist from another origin lists', () => {
    expect(pathwayOrigins('https://cdn.other/live/demo/master.m3u8', ['https://edge-2.example/x.m3u8'], PAGE).size).toBe(0);
  });
});

describe('withPlaybackToken with pathway origins', () => {
  const origins = new Set(['https://edge-2.example:8443']);
  it('replaces the token on another edge\'s URL', () => {
    expect(withPlaybackToken('https://edge-2.example:8443/live/demo/720p/index.m3u8?_HLS_msn=3&token=OLD', 'NEW', PAGE, origins))
      .toBe('https://edge-2.example:8443/live/demo/720p/index.m3u8?_HLS_msn=3&token=NEW');
  });

  it('still leaves every other origin alone', () => {
    expect(withPlaybackToken('https://edge-2.example/live/demo/720p/index.m3u8?token=OLD', 'NEW', PAGE, origins))
      .toBe('https://edge-2.example/live/demo/720p/index.m3u8?token=OLD');
    expect(withPlaybackToken('https://cdn.other/seg.m4s', 'NEW', PAGE, origins)).toBe('https://cdn.other/seg.m4s');
  });
});
