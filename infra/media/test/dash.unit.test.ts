import { describe, expect, it } from 'vitest';
import { checkDashMpd, dashSegmentUrls, parseDashDuration } from '../src/dash-check.js';
import {
  DashMpdError,
  dashRepresentationOf,
  dashRunsOf,
  formatDashFrameRate,
  parseMasterPlaylist,
  parseMediaPlaylist,
  PlaylistParseError,
  renderDashMpd,
  type DashRepresentationInput,
} from '../src/index.js';

const MASTER = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=29.970
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=568000,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2",FRAME-RATE=30.000
240p/index.m3u8
`;

/** A live LL-HLS media playlist as the packager writes it: a slid DVR window, parts, a preload hint. */
const LIVE = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000,HOLD-BACK=6.00000
#EXT-X-PART-INF:PART-TARGET=0.50000
#EXT-X-MEDIA-SEQUENCE:40
#EXT-X-MAP:URI="init_1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:00.000Z
#EXTINF:2.000000,
seg_00040.m4s
#EXTINF:2.000000,
seg_00041.m4s
#EXTINF:1.966660,
seg_00042.m4s
#EXT-X-PART:DURATION=0.50000,URI="seg_00043.part0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00043.part1.m4s"
`;

/** A finished session's VOD playlist with a resumed attempt (discontinuity, new init segment). */
const VOD = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_1.mp4"
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:2.000000,
seg_00001.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init_2.mp4"
#EXTINF:2.000000,
seg_00002.m4s
#EXTINF:0.500000,
seg_00003.m4s
#EXT-X-ENDLIST
`;

const NOW = new Date('2026-12-07T08:00:06.500Z');

function liveMpd(query?: string): string {
  const variants = parseMasterPlaylist(MASTER);
  const runs = dashRunsOf(parseMediaPlaylist(LIVE), true);
  const reps = variants.map((v) => dashRepresentationOf(v, 90000, runs.map((r) => ({ ...r, start: 80 * 90000 }))));
  return renderDashMpd({ type: 'dynamic', representations: reps, live: { now: NOW, minimumUpdatePeriod: 2, suggestedPresentationDelay: 6 }, ...(query ? { query } : {}) });
}

describe('parseMasterPlaylist', () => {
  it('reads bandwidth, resolution, codecs and frame rate of each variant in order', () => {
    const v = parseMasterPlaylist(MASTER);
    expect(v.map((x) => x.uri)).toEqual(['720p/index.m3u8', '240p/index.m3u8']);
    expect(v[0]).toMatchObject({ bandwidth: 2800000, averageBandwidth: 2500000, width: 1280, height: 720, codecs: ['avc1.64001f', 'mp4a.40.2'], frameRate: 29.97 });
  });
  it('refuses a malformed variant', () => {
    expect(() => parseMasterPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=x\na/b.m3u8\n')).toThrow(PlaylistParseError);
    expect(() => parseMasterPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n')).toThrow(PlaylistParseError);
    expect(() => parseMasterPlaylist('nope')).toThrow(PlaylistParseError);
  });
});

describe('renderDashMpd: live', () => {
  const mpd = liveMpd();
  it('is a dynamic MPD anchored on PROGRAM-DATE-TIME minus media time, with the DVR window and HOLD-BACK', () => {
    // segment 40 starts at media time 80 s and wall clock 08:00:00: media time 0 was at 07:58:40
    expect(mpd).toContain('availabilityStartTime="2026-12-07T07:58:40.000Z"');
    expect(mpd).toContain('publishTime="2026-12-07T08:00:06.500Z"');
    expect(mpd).toContain('timeShiftBufferDepth="PT5.967S"');
    expect(mpd).toContain('suggestedPresentationDelay="PT6S"');
    expect(mpd).toContain('minimumUpdatePeriod="PT2S"');
    expect(mpd).toContain('<UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="2026-12-07T08:00:06.500Z"/>');
  });
  it('lists the complete segments only, numbered like the packager names them, in a multiplexed Representation', () => {
    expect(mpd).toContain('startNumber="40" initialization="720p/init_1.mp4" media="720p/seg_$Number%05d$.m4s"');
    expect(mpd).toContain('<S t="7200000" d="180000" r="1"/>');
    expect(mpd).toContain('<S d="176999"/>');
    expect(mpd).toContain('codecs="avc1.64001f,mp4a.40.2"');
    expect(mpd).toContain('frameRate="30000/1001"');
    expect(mpd).toContain('presentationTimeOffset="0"');
    expect(dashSegmentUrls(mpd, 'https://edge.test/live/ch/manifest.mpd').slice(0, 4)).toEqual([
      'https://edge.test/live/ch/720p/init_1.mp4', 'https://edge.test/live/ch/720p/seg_00040.m4s',
      'https://edge.test/live/ch/720p/seg_00041.m4s', 'https://edge.test/live/ch/720p/seg_00042.m4s',
    ]);
  });
  it('passes the conformance check at its publish time, and warns when the clock says a listed segment is not out yet', () => {
    expect(checkDashMpd(mpd)).toEqual([]);
    const early = checkDashMpd(mpd, { now: new Date('2026-12-07T08:00:04.000Z') });
    expect(early.map((v) => [v.rule, v.severity])).toEqual([['availability', 'warning'], ['availability', 'warning']]);
  });
  it('carries a playback token on every segment URL, escaped for XML', () => {
    const withToken = liveMpd('token=a.b&x=1');
    expect(withToken).toContain('media="720p/seg_$Number%05d$.m4s?token=a.b&amp;x=1"');
    expect(dashSegmentUrls(withToken, 'https://e.test/live/c/manifest.mpd')[1]).toBe('https://e.test/live/c/720p/seg_00040.m4s?token=a.b&x=1');
  });
  it('lists only the current attempt of a resumed transcode', () => {
    const runs = dashRunsOf(parseMediaPlaylist(VOD.replace('#EXT-X-PLAYLIST-TYPE:VOD\n', '').replace('#EXT-X-ENDLIST\n', '')
      .replace('#EXT-X-DISCONTINUITY\n', '#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-12-07T09:00:00.000Z\n')), true);
    expect(runs).toEqual([{ init: 'init_2.mp4', firstNumber: 2, durations: [2, 0.5], programDateTime: '2026-12-07T09:00:00.000Z' }]);
  });
  it('extrapolates PROGRAM-DATE-TIME to the first segment of the run', () => {
    const text = LIVE.replace('#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:00.000Z\n', '').replace('seg_00040.m4s\n', 'seg_00040.m4s\n#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:02.000Z\n');
    expect(dashRunsOf(parseMediaPlaylist(text), true)[0]!.programDateTime).toBe('2026-12-07T08:00:00.000Z');
  });
});

describe('renderDashMpd: VOD', () => {
  const runs = dashRunsOf(parseMediaPlaylist(VOD), false);
  const starts = [1000, 0];
  const reps: DashRepresentationInput[] = parseMasterPlaylist(MASTER).map((v) => dashRepresentationOf(v, 1000, runs.map((r, i) => ({ ...r, start: starts[i]! }))));
  const mpd = renderDashMpd({ type: 'static', representations: reps });
  it('is static, one Period per attempt, each offset by its first media time', () => {
    expect(mpd).toContain('type="static"');
    expect(mpd).toContain('mediaPresentationDuration="PT6.5S"');
    expect(mpd).toContain('<Period id="init_1" start="PT0S">');
    expect(mpd).toContain('<Period id="init_2" start="PT4S">');
    expect(mpd).toContain('presentationTimeOffset="1000" startNumber="0" initialization="720p/init_1.mp4"');
    expect(mpd).toContain('presentationTimeOffset="0" startNumber="2" initialization="720p/init_2.mp4"');
    expect(mpd).not.toContain('availabilityStartTime');
    expect(checkDashMpd(mpd)).toEqual([]);
  });
});

describe('renderDashMpd: bad input', () => {
  const rep = (over: Partial<DashRepresentationInput> = {}): DashRepresentationInput => ({
    id: '240p', bandwidth: 1, codecs: ['avc1.42c00d'], width: 320, height: 180, timescale: 1000,
    runs: [{ init: 'init_1.mp4', firstNumber: 0, start: 0, durations: [1], programDateTime: '2026-12-07T08:00:00.000Z' }], ...over,
  });
  it.each<[string, Parameters<typeof renderDashMpd>[0]]>([
    ['no representation', { type: 'static', representations: [] }],
    ['no segment', { type: 'static', representations: [rep({ runs: [{ init: 'init_1.mp4', firstNumber: 0, start: 0, durations: [] }] })] }],
    ['a zero duration', { type: 'static', representations: [rep({ runs: [{ init: 'init_1.mp4', firstNumber: 0, start: 0, durations: [0] }] })] }],
    ['a bad timescale', { type: 'static', representations: [rep({ timescale: 0.5 })] }],
    ['no codecs', { type: 'static', representations: [rep({ codecs: [] })] }],
    ['an id that breaks the URL', { type: 'static', representations: [rep({ id: 'a/../b' })] }],
    ['repeated ids', { type: 'static', representations: [rep(), rep()] }],
    ['attempts that disagree', { type: 'static', representations: [rep(), rep({ id: 'x', runs: [...rep().runs, ...rep().runs] })] }],
    ['a dynamic MPD without live timing', { type: 'dynamic', representations: [rep()] }],
    ['a dynamic MPD without PROGRAM-DATE-TIME', { type: 'dynamic', live: { now: NOW, minimumUpdatePeriod: 1, suggestedPresentationDelay: 3 }, representations: [rep({ runs: [{ init: 'init_1.mp4', firstNumber: 0, start: 0, durations: [1] }] })] }],
  ])('refuses %s with a DashMpdError', (_name, opts) => {
    expect(() => renderDashMpd(opts)).toThrow(DashMpdError);
  });
  it('refuses a playlist without segments, or a live one without PROGRAM-DATE-TIME', () => {
    expect(() => dashRunsOf(parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n'), false)).toThrow(DashMpdError);
    expect(() => dashRunsOf(parseMediaPlaylist(VOD), true)).toThrow(/PROGRAM-DATE-TIME/);
    expect(() => dashRunsOf(parseMediaPlaylist('#EXTM3U\n#EXTINF:1,\na.m4s\n'), false)).toThrow(/EXT-X-MAP/);
  });
  it('refuses a variant URI that is not <rendition>/<playlist>', () => {
    expect(() => dashRepresentationOf({ uri: 'index.m3u8', bandwidth: 1, width: 1, height: 1, codecs: ['avc1.42c00d'] }, 1000, [])).toThrow(DashMpdError);
  });
});

describe('checkDashMpd', () => {
  const good = liveMpd();
  it.each<[string, string, string]>([
    ['not XML', 'hello', 'xml'],
    ['a wrong namespace', good.replace('urn:mpeg:dash:schema:mpd:2011', 'urn:x'), 'namespace'],
    ['no minBufferTime', good.replace(/minBufferTime="[^"]*"/, ''), 'min-buffer-time'],
    ['no availabilityStartTime', good.replace(/availabilityStartTime="[^"]*"/, ''), 'dynamic'],
    ['an availabilityStartTime after publishTime', good.replace(/publishTime="[^"]*"/, 'publishTime="2026-12-07T07:00:00.000Z"'), 'availability-start'],
    ['no UTCTiming', good.replace(/<UTCTiming[^>]*\/>/, ''), 'utc-timing'],
    ['no Period id', good.replace(/<Period id="[^"]*"/, '<Period'), 'period-id'],
    ['no codecs', good.replace(/ codecs="[^"]*"/g, ''), 'representation'],
    ['no bandwidth', good.replace(/ bandwidth="[^"]*"/, ''), 'representation'],
    ['no media template', good.replace(/ media="[^"]*"/, ''), 'segment-template'],
    ['an unknown identifier', good.replace('$Number%05d$', '$Nummer$'), 'segment-template'],
    ['an overlapping timeline', good.replace('<S d="176999"/>', '<S t="0" d="176999"/>'), 'segment-timeline'],
    ['a segment over maxSegmentDuration', good.replace(/maxSegmentDuration="[^"]*"/, 'maxSegmentDuration="PT1S"'), 'max-segment-duration'],
    ['a static MPD without a duration', good.replace('type="dynamic"', 'type="static"'), 'static-duration'],
  ])('finds %s', (_name, xml, rule) => {
    expect(checkDashMpd(xml).filter((v) => v.severity === 'error').map((v) => v.rule)).toContain(rule);
  });
  it('parses xs:durations and frame rates', () => {
    expect(parseDashDuration('PT1H2M3.5S')).toBe(3723.5);
    expect(parseDashDuration('P1DT2S')).toBe(86402);
    expect(parseDashDuration('PT')).toBeNaN();
    expect(parseDashDuration('1S')).toBeNaN();
    expect(formatDashFrameRate(30)).toBe('30');
    expect(formatDashFrameRate(59.94)).toBe('60000/1001');
    expect(formatDashFrameRate(12.5)).toBe('12500/1000');
  });
});
