import { describe, expect, it } from 'vitest';
import { checkDashMpd } from '../src/dash-check.js';
import {
  DashMpdError, dashLowLatencyTimingOf, dashOpenSegmentOf, dashRepresentationOf, dashRunsOf, parseMasterPlaylist, parseMediaPlaylist, planOpenSegment, renderDashMpd,
  type DashLowLatency,
} from '../src/index.js';

const MASTER = `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=568000,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2",FRAME-RATE=30.000
240p/index.m3u8
`;

/** A live playlist: segments 40-42 complete (42 with its parts), segment 43 open with two parts, part 2 hinted. */
const LIVE = `#EXTM3U
#EXT-X-VERSION:9
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
#EXT-X-PART:DURATION=0.50000,URI="seg_00042.part0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI="seg_00042.part1.m4s"
#EXT-X-PART:DURATION=0.50000,URI="seg_00042.part2.m4s"
#EXT-X-PART:DURATION=0.50000,URI="seg_00042.part3.m4s"
#EXTINF:2.000000,
seg_00042.m4s
#EXT-X-PART:DURATION=0.50000,URI="seg_00043.part0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI="seg_00043.part1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00043.part2.m4s"
`;

const LL: DashLowLatency = { segmentDuration: 2, partDuration: 0.5, targetLatencyMs: 1000, minPlaybackRate: 0.96, maxPlaybackRate: 1.04, timeUrl: '/time' };
// segment 43 starts at 08:00:06 (media time 86 s): at 08:00:07.1 its first two parts are out
const NOW = new Date('2026-12-07T08:00:07.100Z');

function llMpd(opts: { lowLatency?: DashLowLatency | undefined; open?: boolean; now?: Date } = {}): string {
  const runs = dashRunsOf(parseMediaPlaylist(LIVE), true).map((r) => ({ ...r, start: 80 * 90000, ...(opts.open !== false ? { openDuration: 2 } : {}) }));
  const reps = parseMasterPlaylist(MASTER).map((v) => dashRepresentationOf(v, 90000, runs));
  const lowLatency = 'lowLatency' in opts ? opts.lowLatency : LL;
  return renderDashMpd({ type: 'dynamic', representations: reps, live: { now: opts.now ?? NOW, minimumUpdatePeriod: 2, suggestedPresentationDelay: 0.5, ...(lowLatency ? { lowLatency } : {}) } });
}

describe('the open segment of a live playlist', () => {
  it('is the segment after the last complete one, with the parts listed so far', () => {
    expect(dashOpenSegmentOf(LIVE)).toEqual({ msn: 43, parts: ['seg_00043.part0.m4s', 'seg_00043.part1.m4s'] });
    expect(dashLowLatencyTimingOf(LIVE)).toEqual({ partDuration: 0.5, segmentDuration: 2 });
  });
  it('does not exist before its first part, after ENDLIST, or when a new attempt starts', () => {
    const noPart = LIVE.replace(/#EXT-X-PART:[^\n]*seg_00043[^\n]*\n/g, '').replace('seg_00043.part2', 'seg_00043.part0');
    expect(dashOpenSegmentOf(noPart)).toBeNull();
    expect(dashOpenSegmentOf(`${LIVE}#EXT-X-ENDLIST\n`)).toBeNull();
    const resumed = LIVE.replace('seg_00042.m4s\n', 'seg_00042.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_2.mp4"\n');
    expect(dashOpenSegmentOf(resumed)).toBeNull();
    expect(dashLowLatencyTimingOf(LIVE.replace(/#EXT-X-PART-INF[^\n]*\n/, ''))).toBeNull();
  });
});

describe('planOpenSegment: what a growing response of the open segment sends next', () => {
  it('sends the parts written so far, then waits for the hinted part', () => {
    expect(planOpenSegment(LIVE, 'seg_00043.m4s', 0)).toEqual({ action: 'send', parts: ['seg_00043.part0.m4s', 'seg_00043.part1.m4s'], last: false });
    expect(planOpenSegment(LIVE, 'seg_00043.m4s', 1)).toEqual({ action: 'send', parts: ['seg_00043.part1.m4s'], last: false });
    expect(planOpenSegment(LIVE, 'seg_00043.m4s', 2)).toEqual({ action: 'wait', request: { msn: 43, part: 2 } });
  });
  it('waits for part 0 of a segment that has none yet (hinted)', () => {
    const noPart = LIVE.replace(/#EXT-X-PART:[^\n]*seg_00043[^\n]*\n/g, '').replace('seg_00043.part2', 'seg_00043.part0');
    expect(planOpenSegment(noPart, 'seg_00043.m4s', 0)).toEqual({ action: 'wait', request: { msn: 43, part: 0 } });
  });
  it('sends the remaining parts and ends once the segment is complete; the stored segment\'s rest when its parts are no longer listed', () => {
    expect(planOpenSegment(LIVE, 'seg_00042.m4s', 2)).toEqual({ action: 'send', parts: ['seg_00042.part2.m4s', 'seg_00042.part3.m4s'], last: true });
    expect(planOpenSegment(LIVE, 'seg_00042.m4s', 4)).toEqual({ action: 'send', parts: [], last: true });
    expect(planOpenSegment(LIVE, 'seg_00041.m4s', 1)).toEqual({ action: 'rest' });
  });
  it('gives up on what can no longer appear, and on encrypted playlists', () => {
    expect(planOpenSegment(LIVE, 'seg_00039.m4s', 0).action).toBe('gone');
    expect(planOpenSegment(LIVE, 'seg_00044.m4s', 0).action).toBe('gone');
    expect(planOpenSegment(LIVE, 'seg_00043.part0.m4s', 0).action).toBe('gone');
    expect(planOpenSegment(`${LIVE}#EXT-X-ENDLIST\n`, 'seg_00043.m4s', 0).action).toBe('gone');
    expect(planOpenSegment(LIVE.replace(/#EXT-X-PRELOAD-HINT[^\n]*\n/, ''), 'seg_00043.m4s', 2).action).toBe('gone');
    const enc = LIVE.replace('#EXT-X-MAP:URI="init_1.mp4"\n', '#EXT-X-MAP:URI="init_1.mp4"\n#EXT-X-KEY:METHOD=AES-128,URI="/keys/s/0.key"\n');
    expect(planOpenSegment(enc, 'seg_00043.m4s', 0)).toEqual({ action: 'encrypted' });
    expect(planOpenSegment(LIVE.replace('#EXT-X-MAP', '#EXT-X-KEY:METHOD=NONE\n#EXT-X-MAP'), 'seg_00043.m4s', 0).action).toBe('send');
  });
});

describe('renderDashMpd: low-latency live', () => {
  const mpd = llMpd();
  it('lists the open segment last and advertises early availability, a service description and an HTTP time source', () => {
    expect(mpd).toContain('<S t="7200000" d="180000" r="3"/>'); // 40, 41, 42 and the open 43
    expect(mpd).toContain('availabilityTimeOffset="1.5" availabilityTimeComplete="false"');
    expect(mpd).toMatch(/<ServiceDescription id="0">\n<Latency target="1000"\/>\n<PlaybackRate min="0.96" max="1.04"\/>\n<\/ServiceDescription>\n<Period/);
    expect(mpd).toMatch(/<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="\/time"\/>\n<UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014"/);
    expect(checkDashMpd(mpd)).toEqual([]);
  });
  it('refuses an open segment outside a low-latency MPD, and out-of-range settings', () => {
    expect(() => llMpd({ lowLatency: undefined })).toThrow(DashMpdError);
    expect(() => llMpd({ lowLatency: { ...LL, partDuration: 2 } })).toThrow(DashMpdError);
    expect(() => llMpd({ lowLatency: { ...LL, targetLatencyMs: 0.5 } })).toThrow(DashMpdError);
    expect(() => llMpd({ lowLatency: { ...LL, minPlaybackRate: 1.1 } })).toThrow(DashMpdError);
  });
});

describe('checkDashMpd: low-latency rules', () => {
  const good = llMpd();
  it.each<[string, string, string]>([
    ['no availabilityTimeComplete', good.replace(/ availabilityTimeComplete="false"/, ''), 'll-availability-time-offset'],
    ['an offset on one Representation only', good.replace(/ availabilityTimeOffset="1.5"/, ' availabilityTimeOffset="0"'), 'll-availability-time-offset'],
    ['an offset longer than the segment', good.replace(/availabilityTimeOffset="1.5"/, 'availabilityTimeOffset="2.5"'), 'll-availability-time-offset'],
    ['a malformed offset', good.replace(/availabilityTimeOffset="1.5"/, 'availabilityTimeOffset="soon"'), 'll-availability-time-offset'],
    ['no ServiceDescription', good.replace(/<ServiceDescription[\s\S]*<\/ServiceDescription>\n/, ''), 'll-service-description'],
    ['a latency target that is not milliseconds', good.replace('target="1000"', 'target="1.5"'), 'll-service-description'],
    ['no PlaybackRate', good.replace(/<PlaybackRate[^>]*\/>\n/, ''), 'll-service-description'],
    ['a PlaybackRate range without 1', good.replace('min="0.96"', 'min="1.01"'), 'll-service-description'],
    ['only the direct UTCTiming', good.replace(/<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014"[^>]*\/>\n/, ''), 'll-utc-timing'],
    ['a timeline that stops at the complete segments', llMpd({ open: false }), 'll-open-segment'],
  ])('finds %s', (_name, xml, rule) => {
    expect(checkDashMpd(xml).filter((v) => v.severity === 'error').map((v) => v.rule)).toContain(rule);
  });
  it('counts availabilityTimeOffset in the availability of the newest segment', () => {
    // 08:00:06.4: part 0 of segment 43 is not complete, so not even the early availability has come
    expect(checkDashMpd(good, { now: new Date('2026-12-07T08:00:06.400Z') }).map((v) => v.rule)).toContain('availability');
    expect(checkDashMpd(good, { now: new Date('2026-12-07T08:00:06.600Z') })).toEqual([]);
    // without the offset the same timeline is 1.5 s early
    expect(checkDashMpd(good.replace(/ availabilityTimeOffset="1.5"/g, ''), { now: NOW }).map((v) => v.rule)).toContain('availability');
  });
});
