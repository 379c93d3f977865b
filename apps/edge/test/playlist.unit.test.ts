/**
 * Playlist rewriting for signed playback (RFC 8216bis §4): every child URI of a master or
 * media playlist carries the viewer's token, nothing else changes.
 */
import { describe, expect, it } from 'vitest';
import { redactPlaybackToken, referencePlaylistToken, renderPlaylistBody, rewritePlaylist, withToken } from '../src/app.js';

const T = 'p1.eyJjIjoiYSJ9.sig_-';

describe('withToken', () => {
  it.each([
    ['seg_1.m4s', `seg_1.m4s?token=${T}`],
    ['720p/index.m3u8?_HLS_msn=5&_HLS_part=1', `720p/index.m3u8?_HLS_msn=5&_HLS_part=1&token=${T}`],
    ['a.m4s?', `a.m4s?token=${T}`],
    ['/keys/s1/0.key', `/keys/s1/0.key?token=${T}`],
    ['a.m4s#t=1', `a.m4s?token=${T}#t=1`],
    ['https://cdn.example/a.m4s', 'https://cdn.example/a.m4s'],
    ['//cdn.example/a.m4s', '//cdn.example/a.m4s'],
    ['data:text/plain;base64,AAAA', 'data:text/plain;base64,AAAA'],
    ['skd://key', 'skd://key'],
  ])('%s', (uri, out) => expect(withToken(uri, T)).toBe(out));
});

describe('rewritePlaylist', () => {
  it('rewrites a master playlist: variant URIs, EXT-X-MEDIA and I-frame URIs', () => {
    const master = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"',
      '720p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"',
      '360p/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="720p/iframes.m3u8"',
      '',
    ].join('\n');
    expect(rewritePlaylist(master, T)).toBe([
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8?token=${T}"`,
      '#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"',
      `720p/index.m3u8?token=${T}`,
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"',
      `360p/index.m3u8?token=${T}`,
      `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="720p/iframes.m3u8?token=${T}"`,
      '',
    ].join('\n'));
  });

  it('rewrites a low-latency media playlist: MAP, KEY, segments, PART, PRELOAD-HINT, RENDITION-REPORT', () => {
    const media = [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5',
      '#EXT-X-MEDIA-SEQUENCE:10',
      '#EXT-X-MAP:URI="init.mp4"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/s1/0.key",IV=0x0000000000000000000000000000000a',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z',
      '#EXTINF:2.000,',
      'seg_00010.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00011.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00011.1.m4s"',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00011.2.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=11,LAST-PART=1',
      '#EXT-X-KEY:METHOD=NONE',
      '',
    ].join('\r\n');
    const out = rewritePlaylist(media, T).split('\r\n');
    expect(out).toEqual([
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5',
      '#EXT-X-MEDIA-SEQUENCE:10',
      `#EXT-X-MAP:URI="init.mp4?token=${T}"`,
      `#EXT-X-KEY:METHOD=AES-128,URI="/keys/s1/0.key?token=${T}",IV=0x0000000000000000000000000000000a`,
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z',
      '#EXTINF:2.000,',
      `seg_00010.m4s?token=${T}`,
      `#EXT-X-PART:DURATION=0.5,URI="seg_00011.0.m4s?token=${T}",INDEPENDENT=YES`,
      `#EXT-X-PART:DURATION=0.5,URI="seg_00011.1.m4s?token=${T}"`,
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00011.2.m4s?token=${T}"`,
      `#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8?token=${T}",LAST-MSN=11,LAST-PART=1`,
      '#EXT-X-KEY:METHOD=NONE',
      '',
    ]);
  });

  it('leaves a playlist without URIs unchanged and does not touch KEYFORMATURI-like attributes', () => {
    expect(rewritePlaylist('#EXTM3U\n#EXT-X-ENDLIST\n', T)).toBe('#EXTM3U\n#EXT-X-ENDLIST\n');
    expect(rewritePlaylist('#EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMAT="identity",URI="k.key"', T))
      .toBe(`#EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMAT="identity",URI="k.key?token=${T}"`);
    expect(rewritePlaylist('#EXT-X-DATERANGE:ID="a",X-URI="x.json"', T)).toBe('#EXT-X-DATERANGE:ID="a",X-URI="x.json"');
  });

  it('passes the token by reference in a media playlist: EXT-X-DEFINE:QUERYPARAM, version 11, {$token} in every URI', () => {
    const media = [
      '#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:2', '#EXT-X-MAP:URI="init.mp4"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/s1/0.key"', '#EXTINF:2.000,', 'seg_00010.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00011.0.m4s",INDEPENDENT=YES', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00011.1.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=11,LAST-PART=0', '',
    ].join('\n');
    expect(referencePlaylistToken(media).split('\n')).toEqual([
      '#EXTM3U', '#EXT-X-VERSION:11', '#EXT-X-DEFINE:QUERYPARAM="token"', '#EXT-X-TARGETDURATION:2', '#EXT-X-MAP:URI="init.mp4?token={$token}"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/s1/0.key?token={$token}"', '#EXTINF:2.000,', 'seg_00010.m4s?token={$token}',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00011.0.m4s?token={$token}",INDEPENDENT=YES', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00011.1.m4s?token={$token}"',
      '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8?token={$token}",LAST-MSN=11,LAST-PART=0', '',
    ]);
    // A higher version is kept; without one, version 11 is added; CRLF line ends stay CRLF.
    expect(referencePlaylistToken('#EXTM3U\r\n#EXT-X-VERSION:12\r\n#EXT-X-TARGETDURATION:2\r\na.m4s\r\n'))
      .toBe('#EXTM3U\r\n#EXT-X-VERSION:12\r\n#EXT-X-DEFINE:QUERYPARAM="token"\r\n#EXT-X-TARGETDURATION:2\r\na.m4s?token={$token}\r\n');
    expect(referencePlaylistToken('#EXTM3U\n#EXT-X-TARGETDURATION:2\nhttps://cdn.example/a.m4s\n'))
      .toBe('#EXTM3U\n#EXT-X-VERSION:11\n#EXT-X-DEFINE:QUERYPARAM="token"\n#EXT-X-TARGETDURATION:2\nhttps://cdn.example/a.m4s\n');
    // renderPlaylistBody: media playlists by reference (the default), masters and `inline` written out.
    const master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n';
    expect(renderPlaylistBody(media, { skip: false, token: T })).toBe(referencePlaylistToken(media));
    expect(renderPlaylistBody(media, { skip: false, token: T })).not.toContain(T);
    expect(renderPlaylistBody(media, { skip: false, token: T, style: 'inline' })).toBe(rewritePlaylist(media, T));
    expect(renderPlaylistBody(master, { skip: false, token: T })).toBe(rewritePlaylist(master, T));
    expect(renderPlaylistBody(media, { skip: false, token: null })).toBe(media);
  });

  it('redacts tokens from logged URLs', () => {
    expect(redactPlaybackToken(`/live/a/master.m3u8?token=${T}&x=1`)).toBe('/live/a/master.m3u8?token=[redacted]&x=1');
    expect(redactPlaybackToken(`/a.m4s?_HLS_msn=1&token=${T}`)).toBe('/a.m4s?_HLS_msn=1&token=[redacted]');
  });
});
