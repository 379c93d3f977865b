import { describe, expect, it } from 'vitest';
import {
  PlaylistParseError,
  measureBitrates,
  parseAttributeList,
  parseMediaPlaylist,
  renderMasterPlaylist,
  renderMediaPlaylist,
  targetDurationFor,
  type PlaylistSegment,
} from '../src/index.js';

/** Written by ffmpeg 5.1's hls muxer (fmp4, event, program_date_time) for the 720p variant. */
const FFMPEG_PLAYLIST = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init_1_720p.mp4"
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-20T21:56:12.318+0000
seg_00000.m4s
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-20T21:56:14.318+0000
seg_00001.m4s
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-20T21:56:16.318+0000
seg_00002.m4s
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-20T21:56:18.318+0000
seg_00003.m4s
#EXTINF:0.033333,
#EXT-X-PROGRAM-DATE-TIME:2026-11-20T21:56:20.318+0000
seg_00004.m4s
#EXT-X-ENDLIST
`;

describe('parseMediaPlaylist', () => {
  it('reads PART-TARGET (EXT-X-PART-INF) and PART-HOLD-BACK (EXT-X-SERVER-CONTROL), and only numbers', () => {
    const head = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n';
    expect(parseMediaPlaylist(`${head}#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.66800,CAN-SKIP-UNTIL=12\n#EXT-X-PART-INF:PART-TARGET=0.33400\n`))
      .toMatchObject({ partTarget: 0.334, partHoldBack: 0.668 });
    expect(parseMediaPlaylist(head)).not.toHaveProperty('partTarget');
    expect(parseMediaPlaylist(`${head}#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n`)).not.toHaveProperty('partHoldBack');
    expect(() => parseMediaPlaylist(`${head}#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=x\n`)).toThrow('#EXT-X-SERVER-CONTROL PART-HOLD-BACK: not a number: "x"');
    expect(() => parseMediaPlaylist(`${head}#EXT-X-PART-INF:PART-TARGET=abc\n`)).toThrow('#EXT-X-PART-INF PART-TARGET: not a number: "abc"');
  });

  it('reads an ffmpeg-written playlist', () => {
    const pl = parseMediaPlaylist(FFMPEG_PLAYLIST);
    expect(pl).toMatchObject({
      version: 7,
      targetDuration: 2,
      mediaSequence: 0,
      discontinuitySequence: 0,
      playlistType: 'EVENT',
      independentSegments: true,
      endList: true,
    });
    expect(pl.segments).toHaveLength(5);
    expect(pl.segments[0]).toEqual({
      uri: 'seg_00000.m4s',
      duration: 2,
      sequence: 0,
      programDateTime: '2026-11-20T21:56:12.318Z',
      discontinuity: false,
      map: 'init_1_720p.mp4',
    });
    expect(pl.segments[4]).toMatchObject({ uri: 'seg_00004.m4s', duration: 0.033333, sequence: 4 });
  });

  it('numbers segments from EXT-X-MEDIA-SEQUENCE and tracks discontinuities and map changes', () => {
    const pl = parseMediaPlaylist(
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n#EXT-X-MAP:URI="init_1.mp4"\n' +
        '#EXTINF:2.0,\na.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_2.mp4"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:10.000+01:00\n#EXTINF:1.5,title\nb.m4s\n',
    );
    expect(pl.endList).toBe(false);
    expect(pl.segments).toEqual([
      { uri: 'a.m4s', duration: 2, sequence: 41, discontinuity: false, map: 'init_1.mp4' },
      { uri: 'b.m4s', duration: 1.5, sequence: 42, discontinuity: true, map: 'init_2.mp4', programDateTime: '2025-12-31T23:00:10.000Z' },
    ]);
  });

  it('refuses non-playlists', () => {
    expect(() => parseMediaPlaylist('hello')).toThrow(PlaylistParseError);
    expect(() => parseMediaPlaylist('#EXTM3U\nseg.m4s\n')).toThrow(PlaylistParseError);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXTINF:abc,\nseg.m4s\n')).toThrow(PlaylistParseError);
  });

  it('parses attribute lists with quoted commas', () => {
    expect(parseAttributeList('BANDWIDTH=1000,CODECS="avc1.4d401f,mp4a.40.2",RESOLUTION=1280x720')).toEqual({
      BANDWIDTH: '1000',
      CODECS: 'avc1.4d401f,mp4a.40.2',
      RESOLUTION: '1280x720',
    });
  });
});

const seg = (n: number, extra: Partial<PlaylistSegment> = {}): PlaylistSegment => ({
  uri: `seg_${String(n).padStart(5, '0')}.m4s`,
  duration: 2,
  sequence: n,
  discontinuity: false,
  map: 'init_1_720p.mp4',
  programDateTime: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678) + n * 2000).toISOString(),
  ...extra,
});

describe('renderMediaPlaylist', () => {
  it('renders a live EVENT playlist', () => {
    expect(renderMediaPlaylist({ segments: [seg(0), seg(1), seg(2, { duration: 1.98 })], playlistType: 'EVENT', endList: false })).toBe(
      `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init_1_720p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:2.000000,
seg_00001.m4s
#EXTINF:1.980000,
seg_00002.m4s
`,
    );
  });

  it('renders a resumed playlist: DISCONTINUITY, new MAP and PROGRAM-DATE-TIME, then ENDLIST', () => {
    const segments = [
      seg(0),
      seg(1),
      seg(5, { discontinuity: true, map: 'init_2_720p.mp4', programDateTime: '2026-01-02T03:05:00.000Z', duration: 2.002 }),
      seg(6, { map: 'init_2_720p.mp4' }),
    ];
    expect(renderMediaPlaylist({ segments, playlistType: 'EVENT', endList: true })).toBe(
      `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:3
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init_1_720p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:2.000000,
seg_00001.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init_2_720p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:05:00.000Z
#EXTINF:2.002000,
seg_00005.m4s
#EXTINF:2.000000,
seg_00006.m4s
#EXT-X-ENDLIST
`,
    );
  });

  it('renders a VOD playlist (and PROGRAM-DATE-TIME on every segment on request)', () => {
    const text = renderMediaPlaylist({
      segments: [seg(10), seg(11, { duration: 0.5 })],
      playlistType: 'VOD',
      endList: true,
      programDateTime: 'every-segment',
    });
    expect(text).toBe(
      `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_1_720p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:25.678Z
#EXTINF:2.000000,
seg_00010.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:27.678Z
#EXTINF:0.500000,
seg_00011.m4s
#EXT-X-ENDLIST
`,
    );
    // what we render, we parse back
    const back = parseMediaPlaylist(text);
    expect(back.segments.map((s) => [s.uri, s.sequence, s.duration, s.map])).toEqual([
      ['seg_00010.m4s', 10, 2, 'init_1_720p.mp4'],
      ['seg_00011.m4s', 11, 0.5, 'init_1_720p.mp4'],
    ]);
    expect(back.playlistType).toBe('VOD');
    expect(back.endList).toBe(true);
  });

  it('target duration is the ceiling of the longest EXTINF', () => {
    expect(targetDurationFor([{ duration: 2 }, { duration: 1.98 }])).toBe(2);
    expect(targetDurationFor([{ duration: 2.0001 }])).toBe(3);
    expect(targetDurationFor([{ duration: 0.03 }])).toBe(1);
  });
});

describe('renderMasterPlaylist', () => {
  it('renders STREAM-INF per variant, highest first', () => {
    const text = renderMasterPlaylist([
      { uri: '720p/index.m3u8', bandwidth: 3_428_000, averageBandwidth: 3_128_000, width: 1280, height: 720, codecs: ['avc1.4d401f', 'mp4a.40.2'], frameRate: 30 },
      { uri: '240p/index.m3u8', bandwidth: 568_000, averageBandwidth: 528_000, width: 426, height: 240, codecs: ['avc1.42c015', 'mp4a.40.2'], frameRate: 30 },
      { uri: '1080p/index.m3u8', bandwidth: 5_078_000, averageBandwidth: 4_628_000, width: 1920, height: 1080, codecs: ['avc1.640028', 'mp4a.40.2'], frameRate: 30 },
      { uri: '480p/index.m3u8', bandwidth: 1_448_000, averageBandwidth: 1_328_000, width: 854, height: 480, codecs: ['avc1.4d401f', 'mp4a.40.2'], frameRate: 29.97 },
    ]);
    expect(text).toBe(
      `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=5078000,AVERAGE-BANDWIDTH=4628000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2",FRAME-RATE=30.000
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3428000,AVERAGE-BANDWIDTH=3128000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1448000,AVERAGE-BANDWIDTH=1328000,RESOLUTION=854x480,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=29.970
480p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=568000,AVERAGE-BANDWIDTH=528000,RESOLUTION=426x240,CODECS="avc1.42c015,mp4a.40.2",FRAME-RATE=30.000
240p/index.m3u8
`,
    );
    expect(() => renderMasterPlaylist([])).toThrow(RangeError);
  });

  it('measures peak and average bit rates, ignoring the short tail segment for the peak', () => {
    const segments = [seg(0, { bytes: 750_000 }), seg(1, { bytes: 800_000 }), seg(2, { bytes: 30_000, duration: 0.033333 })];
    expect(measureBitrates(segments)).toEqual({ peak: 3_200_000, average: Math.round((1_580_000 * 8) / 4.033333) });
    expect(measureBitrates([seg(0)])).toBeUndefined();
  });
});
