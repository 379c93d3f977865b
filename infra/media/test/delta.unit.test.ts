import { describe, expect, it } from 'vitest';
import {
  checkLowLatencyPlaylist,
  compareDeltaUpdate,
  decideBlockingReload,
  llPartUri,
  llSegmentUri,
  parseLowLatencyPlaylist,
  parseMediaPlaylist,
  renderLowLatencyPlaylist,
  renderMediaPlaylist,
  renderPlaylistDeltaUpdate,
  segmentKeying,
  type LlPlaylistSegment,
  type PlaylistPart,
} from '../src/index.js';

const parts = (msn: number, n: number): PlaylistPart[] => Array.from({ length: n }, (_, i) => ({ uri: llPartUri(msn, i), duration: 0.5, independent: i === 0 }));
const keying = (rotate: number) => segmentKeying({ rotateEverySegments: rotate, keyFor: () => Buffer.alloc(16, 7), keyUri: (i) => `/keys/sess/${i}.key` });
const PDT0 = Date.parse('2026-01-02T03:04:05.678Z');

/**
 * A sliding live playlist: segments `first`..`first+n-1` of 2 s, parts on the last three, an open
 * segment with 2 parts; a discontinuity (new init segment, its own PROGRAM-DATE-TIME) at `discontinuityAt`;
 * encrypted with a key every `rotate` segments when given.
 */
function live(opts: { first?: number; n: number; discontinuityAt?: number; rotate?: number }): string {
  const first = opts.first ?? 0;
  const k = opts.rotate !== undefined ? keying(opts.rotate) : undefined;
  const at = opts.discontinuityAt ?? Infinity;
  const seg = (sequence: number) => ({
    sequence,
    discontinuity: sequence === at,
    map: sequence >= at ? 'init_2.mp4' : 'init_1.mp4',
    ...(sequence === first || sequence === at ? { programDateTime: new Date(PDT0 + sequence * 2000 + (sequence >= at ? 500 : 0)).toISOString() } : {}),
    ...(k ? { key: k(sequence).tag } : {}),
  });
  const segments: LlPlaylistSegment[] = Array.from({ length: opts.n }, (_, i) => first + i).map((s) => ({
    ...seg(s), uri: llSegmentUri(s), duration: 2, ...(s >= first + opts.n - 3 ? { parts: parts(s, 4) } : {}),
  }));
  const openMsn = first + opts.n;
  return renderLowLatencyPlaylist({
    segments, open: { ...seg(openMsn), parts: parts(openMsn, 2) }, partTarget: 0.5, minTargetDuration: 2, preloadHint: llPartUri(openMsn, 2),
    renditionReports: [{ uri: '../240p/index.m3u8', lastMsn: openMsn, lastPart: 1 }], playlistType: null, discontinuitySequence: 0,
  });
}

const errors = (text: string, full: string) => checkLowLatencyPlaylist(text, { partUri: llPartUri, renditionReports: 1, fullPlaylist: full })
  .filter((v) => v.severity === 'error').map((v) => `${v.rule}: ${v.message}`);

describe('renderPlaylistDeltaUpdate (RFC 8216bis §6.2.5.1, EXT-X-SKIP §4.4.5.2)', () => {
  it('replaces everything before the Skip Boundary (CAN-SKIP-UNTIL = 12 s from the end) with one EXT-X-SKIP, restating MAP and PROGRAM-DATE-TIME', () => {
    const full = live({ first: 100, n: 20 });
    expect(full).toContain('CAN-SKIP-UNTIL=12.00000');
    const delta = renderPlaylistDeltaUpdate(full)!;
    expect(delta.skippedSegments).toBe(14); // 6 x 2 s = 12 s kept in full
    const lines = delta.text.split('\n');
    expect(lines[1]).toBe('#EXT-X-VERSION:9');
    const skip = lines.indexOf('#EXT-X-SKIP:SKIPPED-SEGMENTS=14');
    expect(lines.slice(skip, skip + 4)).toEqual([
      '#EXT-X-SKIP:SKIPPED-SEGMENTS=14',
      '#EXT-X-MAP:URI="init_1.mp4"',
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(PDT0 + 114 * 2000).toISOString()}`,
      '#EXTINF:2.000000,',
    ]);
    expect(lines[skip + 4]).toBe(llSegmentUri(114));
    expect(lines.indexOf('#EXT-X-MEDIA-SEQUENCE:100')).toBeGreaterThan(0);
    expect(errors(delta.text, full)).toEqual([]);
    const pl = parseLowLatencyPlaylist(delta.text);
    expect(pl.segments.map((s) => s.msn)).toEqual([114, 115, 116, 117, 118, 119]);
    expect(pl.openParts.map((p) => p.msn)).toEqual([120, 120]);
    // the blocking-reload rules read a delta like its full playlist
    expect(decideBlockingReload({ msn: 120, part: 2 }, delta.text)).toEqual(decideBlockingReload({ msn: 120, part: 2 }, full));
    expect(decideBlockingReload({ msn: 119 }, delta.text)).toEqual({ action: 'serve' });
    expect(Buffer.byteLength(delta.text)).toBeLessThan(Buffer.byteLength(full));
  });

  it('restates the EXT-X-KEY (no IV: the MSN) that applies to the first full segment, and not twice when the segment starts a key period', () => {
    const full = live({ n: 20, rotate: 5 }); // keys 0..3; the first kept segment (14) is under key 2, which started at 10
    const delta = renderPlaylistDeltaUpdate(full)!;
    const lines = delta.text.split('\n');
    const skip = lines.indexOf('#EXT-X-SKIP:SKIPPED-SEGMENTS=14');
    expect(lines.slice(skip + 1, skip + 3)).toEqual(['#EXT-X-MAP:URI="init_1.mp4"', '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess/2.key"']);
    expect(errors(delta.text, full)).toEqual([]);
    expect(parseMediaPlaylist(delta.text).segments.map((s) => s.key)).toEqual(parseMediaPlaylist(full).segments.slice(14).map((s) => s.key));
    expect(lines.filter((l) => l.startsWith('#EXT-X-KEY')).length).toBe(3); // key 2 restated, key 3 at 15, key 4 at the open segment 20

    const aligned = live({ n: 21, rotate: 5 }); // first kept segment 15 starts key 3: its own tag suffices
    const d2 = renderPlaylistDeltaUpdate(aligned)!;
    expect(d2.skippedSegments).toBe(15);
    expect(d2.text.split('\n').filter((l) => l.startsWith('#EXT-X-KEY'))).toEqual(['#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess/3.key"', '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess/4.key"']);
    expect(errors(d2.text, aligned)).toEqual([]);
  });

  it('the checker finds a delta that drops the key, the map, or skips into the Skip Boundary', () => {
    const full = live({ n: 20, rotate: 5 });
    const delta = renderPlaylistDeltaUpdate(full)!.text;
    expect(errors(delta.replace('#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess/2.key"\n', ''), full).some((e) => e.startsWith('delta-update: segment 14: EXT-X-KEY'))).toBe(true);
    expect(errors(delta.replace('#EXT-X-SKIP:SKIPPED-SEGMENTS=14\n#EXT-X-MAP:URI="init_1.mp4"\n', '#EXT-X-SKIP:SKIPPED-SEGMENTS=14\n'), full)
      .some((e) => e.startsWith('delta-update: segment 14: EXT-X-MAP'))).toBe(true);
    const tooMuch = delta.replace('SKIPPED-SEGMENTS=14', 'SKIPPED-SEGMENTS=15').replace(/#EXTINF:2.000000,\nseg_00014.m4s\n/, '');
    expect(errors(tooMuch, full).some((e) => e.startsWith('skip: the listed segments span 10.000 s'))).toBe(true);
    expect(errors(delta.replace('#EXT-X-VERSION:9', '#EXT-X-VERSION:7'), full)).toContain('skip: EXT-X-SKIP needs EXT-X-VERSION 9 or more, found 7');
    expect(errors(delta.replace(/PROGRAM-DATE-TIME:[^\n]+/, 'PROGRAM-DATE-TIME:2020-01-01T00:00:00.000Z'), full).some((e) => /segment 14: PROGRAM-DATE-TIME/.test(e))).toBe(true);
    expect(compareDeltaUpdate(delta, full)).toEqual([]);
  });

  it('a discontinuity before the boundary: the new MAP and its extrapolated PROGRAM-DATE-TIME; one after it is kept as is', () => {
    const before = live({ n: 20, discontinuityAt: 8, rotate: 4 });
    const d = renderPlaylistDeltaUpdate(before)!;
    const lines = d.text.split('\n');
    const skip = lines.indexOf('#EXT-X-SKIP:SKIPPED-SEGMENTS=14');
    expect(lines.slice(skip + 1, skip + 4)).toEqual([
      '#EXT-X-MAP:URI="init_2.mp4"', '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess/3.key"', `#EXT-X-PROGRAM-DATE-TIME:${new Date(PDT0 + 14 * 2000 + 500).toISOString()}`,
    ]);
    expect(d.text).not.toContain('#EXT-X-DISCONTINUITY\n');
    expect(errors(d.text, before)).toEqual([]);
    const after = live({ n: 20, discontinuityAt: 16, rotate: 4 });
    const d2 = renderPlaylistDeltaUpdate(after)!;
    expect(d2.text).toContain('#EXT-X-DISCONTINUITY\n#EXT-X-KEY:METHOD=NONE\n#EXT-X-MAP:URI="init_2.mp4"');
    expect(errors(d2.text, after)).toEqual([]);
  });

  it('no delta for ENDLIST (VOD, ended) playlists, without CAN-SKIP-UNTIL, or when nothing lies before the boundary', () => {
    const segs = Array.from({ length: 20 }, (_, i) => ({ uri: llSegmentUri(i), duration: 2, sequence: i, discontinuity: false, map: 'init_1.mp4' }));
    expect(renderPlaylistDeltaUpdate(renderMediaPlaylist({ segments: segs, endList: true, playlistType: 'VOD' }))).toBeNull();
    expect(renderPlaylistDeltaUpdate(renderLowLatencyPlaylist({ segments: segs, partTarget: 0.5, minTargetDuration: 2, canSkipUntil: null }))).toBeNull();
    expect(renderPlaylistDeltaUpdate(live({ n: 6 }))).toBeNull();
    expect(renderPlaylistDeltaUpdate(live({ n: 7 }))!.skippedSegments).toBe(1);
    expect(renderPlaylistDeltaUpdate(renderPlaylistDeltaUpdate(live({ n: 20 }))!.text)).toBeNull();
  });

  it('CAN-SKIP-UNTIL below 6 target durations is refused by the renderer and flagged by the checker', () => {
    const segs = [{ uri: llSegmentUri(0), duration: 2, sequence: 0, discontinuity: false }];
    expect(() => renderLowLatencyPlaylist({ segments: segs, partTarget: 0.5, minTargetDuration: 2, canSkipUntil: 11 })).toThrow(RangeError);
    const text = live({ n: 8 }).replace('CAN-SKIP-UNTIL=12.00000', 'CAN-SKIP-UNTIL=6.00000');
    expect(checkLowLatencyPlaylist(text).map((v) => v.rule)).toContain('can-skip-until');
  });
});
