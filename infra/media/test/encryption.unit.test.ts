/**
 * AES-128 segment encryption (RFC 8216bis §4.4.4.4, §5.2) and the EXT-X-KEY tags of our
 * playlists: bytes decrypt with plain Node crypto, KEY lines come before the segments (and
 * parts) they apply to, keys rotate every N segments, init segments stay clear, IVs are explicit.
 */
import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  SegmentEncryptionError,
  decryptAes128,
  dvrWindowStart,
  encryptAes128,
  formatIv,
  ivForSequence,
  keyIndexFor,
  keyTagLine,
  parseIv,
  parseMediaPlaylist,
  renderLowLatencyPlaylist,
  renderMediaPlaylist,
  segmentKeying,
  type PlaylistSegment,
} from '../src/index.js';

const KEYS = new Map<number, Buffer>();
const keyFor = (i: number) => {
  if (!KEYS.has(i)) KEYS.set(i, randomBytes(16));
  return KEYS.get(i)!;
};
const keyUri = (i: number) => `/keys/sess-1/${i}.key`;

describe('AES-128 (RFC 8216bis §5.2)', () => {
  it('encrypts a segment that Node crypto decrypts with the same key and IV, bytes equal', () => {
    const plain = randomBytes(100_003); // not a multiple of 16: PKCS#7 pads
    const key = keyFor(0);
    const iv = ivForSequence(42);
    const cipher = encryptAes128(plain, key, iv);
    expect(cipher.length % 16).toBe(0);
    expect(cipher.length).toBe(Math.ceil((plain.length + 1) / 16) * 16);
    expect(cipher.subarray(0, 64).equals(plain.subarray(0, 64))).toBe(false);
    const d = createDecipheriv('aes-128-cbc', key, iv);
    expect(Buffer.concat([d.update(cipher), d.final()]).equals(plain)).toBe(true);
    expect(decryptAes128(cipher, key, iv).equals(plain)).toBe(true);
  });

  it('a whole block of padding is added to a plaintext that is a multiple of 16', () => {
    expect(encryptAes128(Buffer.alloc(32), keyFor(0), ivForSequence(0)).length).toBe(48);
  });

  it('the IV is the media sequence number as a 128-bit big-endian integer, written 0x + 32 hex digits', () => {
    expect(formatIv(ivForSequence(0))).toBe('0x00000000000000000000000000000000');
    expect(formatIv(ivForSequence(258))).toBe('0x00000000000000000000000000000102');
    expect(Buffer.from(parseIv('0X00000000000000000000000000000102')).equals(ivForSequence(258))).toBe(true);
  });

  it('key periods: floor(msn / N), one key when N = 0', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => keyIndexFor(n, 3))).toEqual([0, 0, 0, 1, 1, 1, 2]);
    expect(keyIndexFor(1234, 0)).toBe(0);
    expect(keyIndexFor(7, 1)).toBe(7);
  });

  it('refuses bad input with clear errors', () => {
    expect(() => encryptAes128(Buffer.alloc(1), Buffer.alloc(15), ivForSequence(0))).toThrow(/key is 16 bytes, got 15/);
    expect(() => encryptAes128(Buffer.alloc(1), keyFor(0), Buffer.alloc(8))).toThrow(SegmentEncryptionError);
    expect(() => keyIndexFor(-1, 3)).toThrow(/integer >= 0/);
    expect(() => keyIndexFor(1, 1.5)).toThrow(/rotateEverySegments/);
    expect(() => parseIv('0x1234')).toThrow(/32 hex digits/);
    expect(() => decryptAes128(Buffer.alloc(17), keyFor(0), ivForSequence(0))).toThrow(/decryption failed/);
    expect(() => decryptAes128(encryptAes128(Buffer.from('hello'), keyFor(0), ivForSequence(0)), keyFor(99), ivForSequence(0))).toThrow(SegmentEncryptionError);
    expect(() => keyTagLine({ uri: 'a"b', iv: formatIv(ivForSequence(0)) })).toThrow(/quotes/);
    expect(() => segmentKeying({ rotateEverySegments: -2, keyFor, keyUri })).toThrow(/rotateEverySegments/);
    expect(() => segmentKeying({ rotateEverySegments: 1, keyFor: () => Buffer.alloc(8), keyUri })(0)).toThrow(/returned 8 bytes/);
  });
});

function encryptedSegments(n: number, rotate: number, opts: { discontinuityAt?: number; first?: number } = {}): PlaylistSegment[] {
  const keying = segmentKeying({ rotateEverySegments: rotate, keyFor, keyUri });
  const first = opts.first ?? 0;
  return Array.from({ length: n }, (_, i) => {
    const seq = first + i;
    const disc = opts.discontinuityAt !== undefined && seq === opts.discontinuityAt;
    return {
      uri: `seg_${String(seq).padStart(5, '0')}.m4s`,
      duration: 2,
      sequence: seq,
      discontinuity: disc,
      map: opts.discontinuityAt !== undefined && seq >= opts.discontinuityAt ? 'init_2.mp4' : 'init_1.mp4',
      key: keying(seq).tag,
    };
  });
}

/** The tag/URI lines after the header (from the first EXT-X-MAP on). */
function body(text: string): string[] {
  const lines = text.trim().split('\n');
  return lines.slice(lines.findIndex((l) => l.startsWith('#EXT-X-MAP')));
}

describe('EXT-X-KEY in playlists (RFC 8216bis §4.4.4.4)', () => {
  it('media playlist: MAP before the first KEY, a KEY (IV = MSN, so no IV attribute) only where the key changes, rotation every N', () => {
    const text = renderMediaPlaylist({ segments: encryptedSegments(5, 2), playlistType: 'VOD', endList: true });
    expect(body(text)).toEqual([
      '#EXT-X-MAP:URI="init_1.mp4"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/0.key"',
      '#EXTINF:2.000000,', 'seg_00000.m4s',
      '#EXTINF:2.000000,', 'seg_00001.m4s',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/1.key"',
      '#EXTINF:2.000000,', 'seg_00002.m4s',
      '#EXTINF:2.000000,', 'seg_00003.m4s',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/2.key"',
      '#EXTINF:2.000000,', 'seg_00004.m4s',
      '#EXT-X-ENDLIST',
    ]);
    // parsed back, each segment's IV is its MSN (RFC 8216bis §5.2), as the packager encrypted it
    expect(parseMediaPlaylist(text).segments.map((s) => s.key!.iv)).toEqual([0, 1, 2, 3, 4].map((n) => formatIv(ivForSequence(n))));
  });

  it('an IV that is not the MSN is written explicitly, on a tag of its own per segment', () => {
    const segs = encryptedSegments(3, 0).map((s) => ({ ...s, key: { uri: s.key!.uri, iv: formatIv(ivForSequence(100 + s.sequence)) } }));
    const text = renderMediaPlaylist({ segments: segs, playlistType: 'VOD', endList: true });
    expect(body(text).filter((l) => l.startsWith('#EXT-X-KEY'))).toEqual([0, 1, 2].map((n) => `#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/0.key",IV=${formatIv(ivForSequence(100 + n))}`));
    expect(parseMediaPlaylist(text).segments.map((s) => s.key)).toEqual(segs.map((s) => s.key));
    // an implicit-IV segment after an explicit one needs its own (IV-less) tag again
    const mixed = renderMediaPlaylist({ segments: [segs[0]!, encryptedSegments(3, 0)[1]!], playlistType: 'VOD', endList: true });
    expect(body(mixed).filter((l) => l.startsWith('#EXT-X-KEY'))).toEqual([`#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/0.key",IV=${formatIv(ivForSequence(100))}`, '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/0.key"']);
  });

  it('rotateEverySegments 0: one key URI for the whole session', () => {
    const text = renderMediaPlaylist({ segments: encryptedSegments(6, 0), playlistType: 'EVENT', endList: false });
    expect(new Set(text.match(/URI="\/keys\/[^"]+"/g))).toEqual(new Set(['URI="/keys/sess-1/0.key"']));
  });

  it('a new init segment after a discontinuity stays clear: KEY METHOD=NONE before its MAP, then the KEY', () => {
    const text = renderMediaPlaylist({ segments: encryptedSegments(3, 10, { discontinuityAt: 2 }), playlistType: 'EVENT', endList: false });
    const lines = body(text);
    const i = lines.indexOf('#EXT-X-DISCONTINUITY');
    expect(lines.slice(i, i + 4)).toEqual([
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-KEY:METHOD=NONE',
      '#EXT-X-MAP:URI="init_2.mp4"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/0.key"',
    ]);
    // every EXT-X-MAP is preceded by no AES-128 key in effect
    let keyOn = false;
    for (const l of lines) {
      if (l.startsWith('#EXT-X-KEY:METHOD=AES-128')) keyOn = true;
      if (l === '#EXT-X-KEY:METHOD=NONE') keyOn = false;
      if (l.startsWith('#EXT-X-MAP')) expect(keyOn).toBe(false);
    }
  });

  it('a clear segment after an encrypted one gets METHOD=NONE', () => {
    const segs = encryptedSegments(2, 1);
    delete segs[1]!.key;
    const text = renderMediaPlaylist({ segments: segs, playlistType: 'EVENT', endList: false });
    expect(body(text).slice(3, 5)).toEqual(['seg_00000.m4s', '#EXT-X-KEY:METHOD=NONE']);
  });

  it('parses back: every segment gets its key (IV from the tag, or the MSN when the tag has none)', () => {
    const segs = encryptedSegments(4, 2);
    const parsed = parseMediaPlaylist(renderMediaPlaylist({ segments: segs, playlistType: 'VOD', endList: true }));
    expect(parsed.segments.map((s) => s.key)).toEqual(segs.map((s) => s.key));
    const implicit = parseMediaPlaylist('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-KEY:METHOD=AES-128,URI="k.key"\n#EXTINF:2,\na.m4s\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\nb.m4s\n');
    expect(implicit.segments.map((s) => s.key)).toEqual([{ uri: 'k.key', iv: formatIv(ivForSequence(7)) }, undefined]);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"\n#EXTINF:2,\na.m4s\n')).toThrow(/unsupported/);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x12\n#EXTINF:2,\na.m4s\n')).toThrow(/bad IV/);
  });

  it('low-latency playlist: the KEY precedes the parts of the first segment of its key period, the open segment included', () => {
    const keying = segmentKeying({ rotateEverySegments: 1, keyFor, keyUri });
    const segs = encryptedSegments(2, 1).map((s) => ({
      ...s,
      parts: [0, 1, 2, 3].map((i) => ({ uri: `seg_${String(s.sequence).padStart(5, '0')}.part${i}.m4s`, duration: 0.5, independent: i === 0 })),
    }));
    const text = renderLowLatencyPlaylist({
      segments: segs,
      open: { sequence: 2, parts: [{ uri: 'seg_00002.part0.m4s', duration: 0.5, independent: true }], discontinuity: false, map: 'init_1.mp4', key: keying(2).tag },
      partTarget: 0.5,
      minTargetDuration: 2,
      preloadHint: 'seg_00002.part1.m4s',
    });
    const lines = body(text);
    expect(lines[0]).toBe('#EXT-X-MAP:URI="init_1.mp4"');
    for (const msn of [0, 1, 2]) {
      const key = lines.indexOf(keyTagLine(keying(msn).tag, true));
      const firstPart = lines.findIndex((l) => l.includes(`seg_0000${msn}.part0.m4s`));
      expect(key, `KEY of ${msn}`).toBeGreaterThanOrEqual(0);
      expect(key).toBe(firstPart - 1);
    }
    // one key for the session: one tag for every segment, parts and open segment
    const one = segmentKeying({ rotateEverySegments: 0, keyFor, keyUri });
    const single = renderLowLatencyPlaylist({
      segments: segs.map((s) => ({ ...s, key: one(s.sequence).tag })),
      open: { sequence: 2, parts: [{ uri: 'seg_00002.part0.m4s', duration: 0.5, independent: true }], discontinuity: false, map: 'init_1.mp4', key: one(2).tag },
      partTarget: 0.5, minTargetDuration: 2, preloadHint: 'seg_00002.part1.m4s',
    });
    expect(body(single).filter((l) => l.startsWith('#EXT-X-KEY'))).toEqual([keyTagLine(one(0).tag, true)]);
  });
});

describe('DVR window', () => {
  const segs = (n: number) => Array.from({ length: n }, () => ({ duration: 2 }));

  it('keeps the most recent segments that add up to at least the window', () => {
    expect(dvrWindowStart(segs(10), 8)).toBe(6); // 4 x 2 s = 8 s listed
    expect(dvrWindowStart(segs(10), 7)).toBe(6); // 8 s >= 7 s; dropping one more leaves 6 s < 7 s
    expect(dvrWindowStart(segs(3), 8)).toBe(0);
    expect(dvrWindowStart(segs(10), 2, 6)).toBe(7); // never below 3 target durations (RFC 8216bis §6.2.2)
    expect(dvrWindowStart(segs(1), 0)).toBe(0); // never drops the last segment
  });

  it('renders a sliding playlist: no PLAYLIST-TYPE, MEDIA-SEQUENCE and DISCONTINUITY-SEQUENCE advance, MAP and KEY on the first listed segment', () => {
    const all = encryptedSegments(8, 2, { discontinuityAt: 3 });
    const start = dvrWindowStart(all, 6);
    expect(start).toBe(5);
    const removed = all.slice(0, start);
    const text = renderLowLatencyPlaylist({
      segments: all.slice(start),
      partTarget: 0.5,
      minTargetDuration: 2,
      playlistType: null,
      discontinuitySequence: removed.filter((s) => s.discontinuity).length,
    });
    expect(text).not.toContain('#EXT-X-PLAYLIST-TYPE');
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n');
    expect(body(text).slice(0, 2)).toEqual(['#EXT-X-MAP:URI="init_2.mp4"', '#EXT-X-KEY:METHOD=AES-128,URI="/keys/sess-1/2.key"']);
  });
});
