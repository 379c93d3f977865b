import { describe, expect, it } from 'vitest';
import {
  advancePartLimit,
  awaitBlockingReload,
  blockingReloadTimeoutMs,
  checkLowLatencyPlaylist,
  decideBlockingReload,
  decideHintedPartRequest,
  formatPartDuration,
  formatPartTarget,
  llPartUri,
  llSegmentUri,
  parseBlockingReloadQuery,
  parseLlPartUri,
  parseLowLatencyPlaylist,
  parseMediaPlaylist,
  playlistHasPart,
  renderLowLatencyPlaylist,
  type LlPlaylistSegment,
  type PlaylistPart,
} from '../src/index.js';

const parts = (msn: number, n: number, duration = 0.5): PlaylistPart[] =>
  Array.from({ length: n }, (_, i) => ({ uri: llPartUri(msn, i), duration, independent: i === 0 }));

/** Five 2 s segments (0..4), parts on the last two (3, 4), segment 5 open with 2 parts. */
function fixture(): string {
  const segments: LlPlaylistSegment[] = [0, 1, 2, 3, 4].map((sequence) => ({
    uri: llSegmentUri(sequence),
    duration: 2,
    sequence,
    discontinuity: false,
    map: 'init_1.mp4',
    ...(sequence === 0 ? { programDateTime: '2026-01-02T03:04:05.678Z' } : {}),
    ...(sequence >= 3 ? { parts: parts(sequence, 4) } : {}),
  }));
  return renderLowLatencyPlaylist({
    segments,
    open: { sequence: 5, parts: parts(5, 2), discontinuity: false, map: 'init_1.mp4' },
    partTarget: 0.5,
    minTargetDuration: 2,
    preloadHint: llPartUri(5, 2),
    renditionReports: [{ uri: '../240p/index.m3u8', lastMsn: 5, lastPart: 1 }],
  });
}

const rules = (text: string, opts: Parameters<typeof checkLowLatencyPlaylist>[1] = { partUri: llPartUri, renditionReports: 1 }) =>
  checkLowLatencyPlaylist(text, opts).map((v) => `${v.severity}:${v.rule}`);

describe('renderLowLatencyPlaylist', () => {
  it('renders the LL tags, every full segment, parts, the open segment, the hint and the reports', () => {
    const text = fixture();
    expect(text.split('\n').slice(0, 10)).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.00000,PART-HOLD-BACK=1.50000,HOLD-BACK=6.00000',
      '#EXT-X-PART-INF:PART-TARGET=0.50000',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-PLAYLIST-TYPE:EVENT',
      '#EXT-X-MAP:URI="init_1.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z',
    ]);
    expect(text).toContain('#EXT-X-PART:DURATION=0.50000,URI="seg_00003.part0.m4s",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.50000,URI="seg_00003.part1.m4s"\n');
    expect(text.endsWith('#EXT-X-PART:DURATION=0.50000,URI="seg_00005.part1.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part2.m4s"\n#EXT-X-RENDITION-REPORT:URI="../240p/index.m3u8",LAST-MSN=5,LAST-PART=1\n')).toBe(true);
    // a regular client sees the same 5 full segments
    const regular = parseMediaPlaylist(text);
    expect(regular.segments.map((s) => s.uri)).toEqual([0, 1, 2, 3, 4].map(llSegmentUri));
    expect(regular.segments.every((s) => s.duration === 2 && s.map === 'init_1.mp4')).toBe(true);
  });

  it('writes DISCONTINUITY, MAP and PROGRAM-DATE-TIME before the parts of the segment they apply to', () => {
    const text = renderLowLatencyPlaylist({
      segments: [{ uri: llSegmentUri(0), duration: 2, sequence: 0, discontinuity: false, map: 'init_1.mp4', programDateTime: '2026-01-02T03:04:05.000Z' }],
      open: { sequence: 1, parts: parts(1, 1), discontinuity: true, map: 'init_2.mp4', programDateTime: '2026-01-02T03:05:00.000Z' },
      partTarget: 0.5,
      minTargetDuration: 2,
    });
    expect(text).toContain('seg_00000.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_2.mp4"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:05:00.000Z\n#EXT-X-PART:DURATION=0.50000,URI="seg_00001.part0.m4s",INDEPENDENT=YES\n');
  });

  it('rounds PART-TARGET up and part durations down (29.97 fps: 16 frames = 0.533866.. s)', () => {
    expect(formatPartTarget(16 / (30000 / 1001))).toBe('0.53387');
    expect(formatPartDuration(16 / (30000 / 1001))).toBe('0.53386');
    expect(formatPartTarget(0.5)).toBe('0.50000');
    expect(formatPartDuration(0.5)).toBe('0.50000');
    expect(() => renderLowLatencyPlaylist({ segments: [], partTarget: 0, targetDuration: 2 })).toThrow(RangeError);
  });
});

describe('checkLowLatencyPlaylist', () => {
  it('finds nothing wrong with a conforming playlist', () => {
    expect(checkLowLatencyPlaylist(fixture(), { partUri: llPartUri, renditionReports: 1 })).toEqual([]);
  });

  // one mutation per rule: each must be reported (and only because of the mutation: the fixture is clean)
  const cases: Array<[string, (t: string) => string, string, Parameters<typeof checkLowLatencyPlaylist>[1]?]> = [
    ['no #EXTM3U', (t) => t.replace('#EXTM3U\n', ''), 'error:header'],
    ['no EXT-X-TARGETDURATION', (t) => t.replace('#EXT-X-TARGETDURATION:2\n', ''), 'error:target-duration'],
    ['EXTINF above the target duration', (t) => t.replace('#EXTINF:2.000000,\nseg_00001', '#EXTINF:2.600000,\nseg_00001'), 'error:target-duration'],
    ['parts without EXT-X-PART-INF', (t) => t.replace('#EXT-X-PART-INF:PART-TARGET=0.50000\n', ''), 'error:part-inf'],
    ['two EXT-X-PART-INF', (t) => t.replace('#EXT-X-PART-INF:PART-TARGET=0.50000\n', '#EXT-X-PART-INF:PART-TARGET=0.50000\n#EXT-X-PART-INF:PART-TARGET=0.50000\n'), 'error:part-inf'],
    ['no EXT-X-SERVER-CONTROL', (t) => t.replace(/#EXT-X-SERVER-CONTROL:.*\n/, ''), 'error:server-control'],
    ['CAN-BLOCK-RELOAD missing', (t) => t.replace('CAN-BLOCK-RELOAD=YES,', ''), 'error:server-control'],
    ['PART-HOLD-BACK missing', (t) => t.replace('PART-HOLD-BACK=1.50000,', ''), 'error:part-hold-back'],
    ['PART-HOLD-BACK under 2x PART-TARGET', (t) => t.replace('PART-HOLD-BACK=1.50000', 'PART-HOLD-BACK=0.90000'), 'error:part-hold-back'],
    ['PART-HOLD-BACK under 3x PART-TARGET', (t) => t.replace('PART-HOLD-BACK=1.50000', 'PART-HOLD-BACK=1.20000'), 'warning:part-hold-back'],
    ['HOLD-BACK under 3x target duration', (t) => t.replace('HOLD-BACK=6.00000', 'HOLD-BACK=4.00000'), 'error:hold-back'],
    ['a part longer than PART-TARGET', (t) => t.replace('DURATION=0.50000,URI="seg_00005.part1.m4s"', 'DURATION=0.52000,URI="seg_00005.part1.m4s"'), 'error:part-duration-max'],
    ['an INDEPENDENT part longer than PART-TARGET', (t) => t.replace('DURATION=0.50000,URI="seg_00004.part0.m4s"', 'DURATION=0.52000,URI="seg_00004.part0.m4s"'), 'error:part-duration-max'],
    ['a short part in the middle of a segment', (t) => t.replace('DURATION=0.50000,URI="seg_00004.part1.m4s"', 'DURATION=0.40000,URI="seg_00004.part1.m4s"'), 'error:part-duration-min'],
    ['a short last part of the open segment (not final yet)', (t) => t.replace('DURATION=0.50000,URI="seg_00005.part1.m4s"', 'DURATION=0.30000,URI="seg_00005.part1.m4s"'), 'error:part-duration-min'],
    ['parts that do not add up to EXTINF', (t) => t.replace('#EXTINF:2.000000,\nseg_00004', '#EXTINF:1.800000,\nseg_00004'), 'error:part-sum'],
    ['a segment without parts after one with parts', (t) => t.replace(/#EXT-X-PART:[^\n]*seg_00004[^\n]*\n/g, ''), 'error:parts-contiguous'],
    ['part numbering with a gap', (t) => t.replace('URI="seg_00004.part2.m4s"', 'URI="seg_00004.part3.m4s"'), 'error:parts-contiguous'],
    ['part of the wrong MSN', (t) => t.replace('URI="seg_00004.part1.m4s"', 'URI="seg_00003.part1.m4s"'), 'error:parts-contiguous'],
    ['too few parts at the live edge', (t) => t.replace(/#EXT-X-PART:[^\n]*seg_0000[34][^\n]*\n/g, ''), 'warning:parts-recent'],
    ['no preload hint', (t) => t.replace(/#EXT-X-PRELOAD-HINT:.*\n/, ''), 'error:preload-hint'],
    ['two part preload hints', (t) => t.replace(/(#EXT-X-PRELOAD-HINT:.*\n)/, '$1$1'), 'error:preload-hint'],
    ['a preload hint that is not the next part', (t) => t.replace('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part2.m4s"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part3.m4s"'), 'error:preload-hint'],
    ['a preload hint naming a listed part', (t) => t.replace('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part2.m4s"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part1.m4s"'), 'error:preload-hint', {}],
    ['a preload hint with ENDLIST', (t) => `${t}#EXT-X-ENDLIST\n`, 'error:preload-hint'],
    ['a part without URI', (t) => t.replace(',URI="seg_00004.part2.m4s"', ''), 'error:part-uri'],
    ['a segment whose first part is not INDEPENDENT', (t) => t.replace('URI="seg_00004.part0.m4s",INDEPENDENT=YES', 'URI="seg_00004.part0.m4s"'), 'error:part-independent'],
    ['the open segment\'s first part not INDEPENDENT', (t) => t.replace('URI="seg_00005.part0.m4s",INDEPENDENT=YES', 'URI="seg_00005.part0.m4s"'), 'error:part-independent'],
    ['a rendition report without LAST-PART', (t) => t.replace(',LAST-PART=1', ''), 'error:rendition-report'],
    ['a rendition report without LAST-MSN', (t) => t.replace('LAST-MSN=5,', ''), 'error:rendition-report'],
    ['a missing rendition report', (t) => t.replace(/#EXT-X-RENDITION-REPORT:.*\n/, ''), 'error:rendition-report'],
    ['no PROGRAM-DATE-TIME', (t) => t.replace(/#EXT-X-PROGRAM-DATE-TIME:.*\n/, ''), 'warning:program-date-time'],
  ];
  it.each(cases)('reports %s', (_name, mutate, rule, opts) => {
    const text = mutate(fixture());
    expect(text).not.toBe(fixture()); // the mutation applied
    expect(rules(text, opts ?? { partUri: llPartUri, renditionReports: 1 })).toContain(rule);
  });

  it('exempts INDEPENDENT parts and the final part of a segment from the 85% minimum, not from the maximum', () => {
    const short = fixture()
      .replace('DURATION=0.50000,URI="seg_00004.part0.m4s"', 'DURATION=0.30000,URI="seg_00004.part0.m4s"')
      .replace('DURATION=0.50000,URI="seg_00004.part3.m4s"', 'DURATION=0.70000,URI="seg_00004.part3.m4s"')
      .replace('DURATION=0.50000,URI="seg_00003.part3.m4s"', 'DURATION=0.10000,URI="seg_00003.part3.m4s"')
      .replace('#EXTINF:2.000000,\nseg_00003', '#EXTINF:1.600000,\nseg_00003');
    const found = checkLowLatencyPlaylist(short, { partUri: llPartUri, renditionReports: 1 });
    expect(found.filter((v) => v.rule === 'part-duration-min')).toEqual([]);
    expect(found.filter((v) => v.rule === 'part-duration-max').map((v) => v.line)).toEqual([short.split('\n').findIndex((l) => l.includes('seg_00004.part3')) + 1]);
  });

  it('warns about parts kept more than 3 target durations from the end (part-age)', () => {
    const render = (withPartsFrom: number) =>
      renderLowLatencyPlaylist({
        segments: [0, 1, 2, 3, 4].map((sequence) => ({
          uri: llSegmentUri(sequence), duration: 2, sequence, discontinuity: false, programDateTime: '2026-01-02T03:04:05.000Z',
          ...(sequence >= withPartsFrom ? { parts: parts(sequence, 4) } : {}),
        })),
        open: { sequence: 5, parts: parts(5, 2), discontinuity: false },
        partTarget: 0.5,
        minTargetDuration: 2,
        preloadHint: llPartUri(5, 2),
      });
    expect(rules(render(3), { partUri: llPartUri })).toEqual([]); // segment 3 starts 5 s from the end
    expect(rules(render(2), { partUri: llPartUri })).toEqual(['warning:part-age']); // segment 2 starts 7 s from the end
  });

  it('accepts a finished playlist without parts or hint', () => {
    const ended = renderLowLatencyPlaylist({ segments: [{ uri: llSegmentUri(0), duration: 2, sequence: 0, discontinuity: false, programDateTime: '2026-01-02T03:04:05.000Z' }], partTarget: 0.5, minTargetDuration: 2 }) + '#EXT-X-ENDLIST\n';
    expect(checkLowLatencyPlaylist(ended)).toEqual([]);
  });
});

describe('blocking playlist reload (8216bis §6.2.5.2)', () => {
  it('parses _HLS_msn, _HLS_part and _HLS_skip', () => {
    expect(parseBlockingReloadQuery(new URLSearchParams(''))).toEqual({ ok: true, request: {} });
    expect(parseBlockingReloadQuery(new URLSearchParams('_HLS_msn=12'))).toEqual({ ok: true, request: { msn: 12 } });
    expect(parseBlockingReloadQuery(new URLSearchParams('_HLS_msn=12&_HLS_part=3&_HLS_skip=YES'))).toEqual({ ok: true, request: { msn: 12, part: 3, skip: 'YES' } });
    expect(parseBlockingReloadQuery({ _HLS_msn: '7', _HLS_part: '0' })).toEqual({ ok: true, request: { msn: 7, part: 0 } });
    expect(parseBlockingReloadQuery({ _HLS_skip: 'v2' })).toEqual({ ok: true, request: { skip: 'v2' } });
  });

  it.each([
    ['_HLS_part=1', '_HLS_part without _HLS_msn'],
    ['_HLS_msn=-1', 'not a decimal-integer'],
    ['_HLS_msn=1.5', 'not a decimal-integer'],
    ['_HLS_msn=abc', 'not a decimal-integer'],
    ['_HLS_msn=01', 'not a decimal-integer'],
    ['_HLS_msn=1&_HLS_part=x', 'not a decimal-integer'],
    ['_HLS_msn=1&_HLS_msn=2', 'more than once'],
    ['_HLS_skip=NO', '_HLS_skip must be'],
  ])('answers 400 to %s', (query, reason) => {
    const r = parseBlockingReloadQuery(new URLSearchParams(query));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(400);
      expect(r.reason).toContain(reason);
    }
  });

  it('playlistHasPart: complete segments, parts of the open segment, later parts', () => {
    const text = fixture(); // segments 0..4 complete, 5 open with parts 0 and 1
    expect(playlistHasPart(text, 4)).toBe(true);
    expect(playlistHasPart(text, 5)).toBe(false); // segment 5 is not complete
    expect(playlistHasPart(text, 5, 0)).toBe(true);
    expect(playlistHasPart(text, 5, 1)).toBe(true);
    expect(playlistHasPart(text, 5, 2)).toBe(false);
    expect(playlistHasPart(text, 6, 0)).toBe(false);
    expect(playlistHasPart(text, 4, 9)).toBe(true); // segment 4 is complete
    expect(playlistHasPart(text, 0, 0)).toBe(true);
    expect(playlistHasPart(`${text}#EXT-X-ENDLIST\n`, 9, 0)).toBe(true);
  });

  it('decideBlockingReload: serve, wait, or 400 beyond the limits', () => {
    const text = fixture();
    expect(decideBlockingReload({}, text)).toEqual({ action: 'serve' });
    expect(decideBlockingReload({ msn: 5, part: 1 }, text)).toEqual({ action: 'serve' });
    expect(decideBlockingReload({ msn: 5, part: 2 }, text)).toEqual({ action: 'wait' });
    expect(decideBlockingReload({ msn: 5 }, text)).toEqual({ action: 'wait' });
    expect(decideBlockingReload({ msn: 6 }, text)).toEqual({ action: 'wait' }); // last complete 4, + 2
    expect(decideBlockingReload({ msn: 7 }, text)).toMatchObject({ action: 'reject', status: 400 });
    // Advance Part Limit: 3 / 0.5 = 6 parts beyond the last one (5.1)
    expect(advancePartLimit(0.5)).toBe(6);
    expect(advancePartLimit(1)).toBe(3);
    expect(decideBlockingReload({ msn: 6, part: 3 }, text)).toEqual({ action: 'wait' }); // 5.1 -> 6.3 is 6 parts ahead
    expect(decideBlockingReload({ msn: 6, part: 4 }, text)).toMatchObject({ action: 'reject', status: 400 });
    expect(blockingReloadTimeoutMs(2)).toBe(6000);
  });

  it('parseLowLatencyPlaylist numbers parts by their parent segment', () => {
    const pl = parseLowLatencyPlaylist(fixture());
    expect(pl.segments[3]!.parts.map((p) => [p.msn, p.index, p.independent])).toEqual([[3, 0, true], [3, 1, false], [3, 2, false], [3, 3, false]]);
    expect(pl.openParts.map((p) => [p.msn, p.index])).toEqual([[5, 0], [5, 1]]);
    expect(pl.partTarget).toBe(0.5);
  });

  it('awaitBlockingReload: answers once the part appears, 400 at once, 503 after the timeout', async () => {
    const base = fixture();
    const grown = base.replace(
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part2.m4s"',
      '#EXT-X-PART:DURATION=0.50000,URI="seg_00005.part2.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00005.part3.m4s"',
    );
    let reads = 0;
    const read = async () => (++reads >= 3 ? grown : base);
    await expect(awaitBlockingReload({ msn: 5, part: 2 }, { read, pollMs: 5 })).resolves.toEqual({ status: 200, text: grown });
    expect(reads).toBe(3);
    await expect(awaitBlockingReload({ msn: 9 }, { read: async () => base, pollMs: 5 })).resolves.toMatchObject({ status: 400 });
    const t0 = Date.now();
    await expect(awaitBlockingReload({ msn: 6, part: 0 }, { read: async () => base, pollMs: 5, timeoutMs: 60 })).resolves.toMatchObject({ status: 503 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    await expect(awaitBlockingReload({}, { read: async () => null })).resolves.toEqual({ status: 404 });
    const ac = new AbortController();
    const pending = awaitBlockingReload({ msn: 6 }, { read: async () => base, changed: () => new Promise(() => undefined), signal: ac.signal });
    ac.abort();
    await expect(pending).resolves.toMatchObject({ status: 503, reason: 'aborted' });
  });
});

describe('requests for preload-hinted parts (8216bis §6.2.6)', () => {
  it('parseLlPartUri reads llPartUri back, with the attempt suffix; other names are null', () => {
    expect(parseLlPartUri(llPartUri(12, 3))).toEqual({ msn: 12, index: 3, attempt: 0 });
    expect(parseLlPartUri(llPartUri(123456, 0))).toEqual({ msn: 123456, index: 0, attempt: 0 });
    expect(parseLlPartUri('seg_00012.part3.a2.m4s')).toEqual({ msn: 12, index: 3, attempt: 2 });
    expect(parseLlPartUri(llPartUri(12, 3, 2))).toEqual({ msn: 12, index: 3, attempt: 2 });
    expect(llPartUri(12, 3, 2)).toBe('seg_00012.part3.a2.m4s');
    for (const other of ['seg_00012.m4s', 'index.m3u8', 'seg_12.part3.m4s', 'seg_00012.part3.a0.m4s', 'seg_00012.part3.m4s.m4s', '../seg_00012.part3.m4s']) {
      expect(parseLlPartUri(other)).toBeNull();
    }
  });

  it('waits for the hinted part and for later parts within the Advance Part Limit', () => {
    const text = fixture(); // 5 open with parts 0 and 1, hint: 5.2; PART-TARGET 0.5 → limit 6 parts
    expect(decideHintedPartRequest(text, llPartUri(5, 2))).toEqual({ action: 'wait', request: { msn: 5, part: 2 } });
    expect(decideHintedPartRequest(text, llPartUri(5, 3))).toEqual({ action: 'wait', request: { msn: 5, part: 3 } });
    expect(decideHintedPartRequest(text, llPartUri(6, 0))).toEqual({ action: 'wait', request: { msn: 6, part: 0 } });
    expect(decideHintedPartRequest(text, llPartUri(6, 4))).toEqual({ action: 'wait', request: { msn: 6, part: 4 } }); // 6 parts ahead
    expect(decideHintedPartRequest(text, llPartUri(6, 5))).toMatchObject({ action: 'gone', reason: expect.stringContaining('Advance Part Limit') });
  });

  it('says listed for what the playlist names, gone for what can no longer appear', () => {
    const text = fixture();
    expect(decideHintedPartRequest(text, llPartUri(5, 1))).toEqual({ action: 'listed' });
    expect(decideHintedPartRequest(text, llPartUri(3, 0))).toEqual({ action: 'listed' });
    expect(decideHintedPartRequest(text, llSegmentUri(4))).toEqual({ action: 'listed' });
    expect(decideHintedPartRequest(text, llPartUri(1, 0))).toMatchObject({ action: 'gone', reason: expect.stringContaining('earlier part') }); // parts removed
    expect(decideHintedPartRequest(text, llPartUri(4, 4))).toMatchObject({ action: 'gone' }); // segment 4 closed with 4 parts
    expect(decideHintedPartRequest(text, 'seg_00005.part2.a2.m4s')).toMatchObject({ action: 'gone', reason: expect.stringContaining('another packager attempt') });
    expect(decideHintedPartRequest(text, llSegmentUri(5))).toMatchObject({ action: 'gone' }); // segments are not hinted
    expect(decideHintedPartRequest(`${text}#EXT-X-ENDLIST\n`.replace(/#EXT-X-PRELOAD-HINT[^\n]*\n/, ''), llPartUri(5, 2))).toMatchObject({ action: 'gone', reason: 'the playlist has ended' });
    expect(decideHintedPartRequest(text.replace(/#EXT-X-PRELOAD-HINT[^\n]*\n/, ''), llPartUri(5, 2))).toMatchObject({ action: 'gone', reason: 'the playlist hints no part' });
  });
});
