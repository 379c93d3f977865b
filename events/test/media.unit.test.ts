import { describe, expect, it } from 'vitest';
import {
  ALL_MEDIA_SUBJECTS, decodeMediaAnnouncement, encodeMediaAnnouncement, isMediaPath, MAX_MEDIA_ANNOUNCEMENT_BYTES, MAX_MEDIA_BODY_BYTES,
  MediaAnnouncementError, mediaSubject, type MediaAnnouncement,
} from '../src/index.js';

const text = new TextEncoder().encode('#EXTM3U\n#EXT-X-TARGETDURATION:2\n');
const part: MediaAnnouncement = { kind: 'part', sessionId: 's-1', path: '480p/seg_00012.part3.m4s', size: 4, at: 1_700_000_000_123, body: new Uint8Array([0, 1, 2, 255]) };

describe('media subjects', () => {
  it('builds media.<sessionId> and refuses tokens NATS would split or match', () => {
    expect(mediaSubject('0190abcd-ef')).toBe('media.0190abcd-ef');
    expect(ALL_MEDIA_SUBJECTS).toBe('media.*');
    for (const bad of ['', 'a.b', 'a*', '>', 'a b']) expect(() => mediaSubject(bad)).toThrow(TypeError);
  });
});

describe('media announcement wire format', () => {
  it('round-trips every kind, with and without a body', () => {
    const cases: MediaAnnouncement[] = [
      part,
      { kind: 'playlist', sessionId: 's-1', path: '480p/index.m3u8', size: text.length, at: 5, live: true, body: text },
      { kind: 'playlist', sessionId: 's-1', path: 'master.m3u8', size: 900_000, at: 5, live: false },
      { kind: 'segment', sessionId: 's_2', path: '1080p/seg_00012.m4s', size: 2_000_000, at: 0 },
      { kind: 'init', sessionId: 's_2', path: '1080p/init_1.mp4', size: 3, at: 1, body: new Uint8Array([9, 9, 9]) },
    ];
    for (const a of cases) {
      const back = decodeMediaAnnouncement(encodeMediaAnnouncement(a));
      expect({ ...back, body: back.body ? [...back.body] : undefined }).toEqual({ ...a, body: a.body ? [...a.body] : undefined });
    }
  });

  it('starts with the version and the kind byte (the format is versioned)', () => {
    const bytes = encodeMediaAnnouncement(part);
    expect([bytes[0], bytes[1]]).toEqual([1, 2]);
    const newer = Uint8Array.from(bytes);
    newer[0] = 2;
    expect(() => decodeMediaAnnouncement(newer)).toThrow(/version 2/);
    const unknownKind = Uint8Array.from(bytes);
    unknownKind[1] = 9;
    expect(() => decodeMediaAnnouncement(unknownKind)).toThrow(/kind 9/);
  });

  it('bounds the message: a body over the limit is refused at encoding, an oversized message at decoding', () => {
    const big = new Uint8Array(MAX_MEDIA_BODY_BYTES + 1);
    expect(() => encodeMediaAnnouncement({ ...part, size: big.length, body: big })).toThrow(MediaAnnouncementError);
    const fits = new Uint8Array(MAX_MEDIA_BODY_BYTES);
    expect(encodeMediaAnnouncement({ ...part, size: fits.length, body: fits }).length).toBeLessThanOrEqual(MAX_MEDIA_ANNOUNCEMENT_BYTES);
    expect(() => decodeMediaAnnouncement(new Uint8Array(MAX_MEDIA_ANNOUNCEMENT_BYTES + 1))).toThrow(/over/);
  });

  it('refuses invalid fields when encoding', () => {
    expect(() => encodeMediaAnnouncement({ ...part, sessionId: 'a.b' })).toThrow(/session/);
    expect(() => encodeMediaAnnouncement({ ...part, path: '../etc/passwd' })).toThrow(/path/);
    expect(() => encodeMediaAnnouncement({ ...part, size: 5 })).toThrow(/size says 5/);
    expect(() => encodeMediaAnnouncement({ ...part, size: -1, body: undefined })).toThrow(/size/);
    expect(() => encodeMediaAnnouncement({ ...part, kind: 'nope' as never })).toThrow(/kind/);
  });

  it('refuses truncated, garbled or inconsistent messages with MediaAnnouncementError', () => {
    const bytes = encodeMediaAnnouncement(part);
    const garbled = Uint8Array.from(bytes);
    garbled[5] = 0xff; // invalid UTF-8 inside the header
    const badHeader = (json: string) => {
      const h = new TextEncoder().encode(json);
      return Uint8Array.from([1, 2, h.length >> 8, h.length & 0xff, ...h]);
    };
    for (const bad of [
      new Uint8Array(0), bytes.subarray(0, 3), bytes.subarray(0, 10), garbled, bytes.subarray(0, bytes.length - 1),
      badHeader('[]'), badHeader('{"s":"a","p":"x.m4s","n":0,"t":0}'), badHeader('{"s":"a","p":"/x","n":0,"t":0,"b":false}'),
      Uint8Array.from([...badHeader('{"s":"a","p":"x.m4s","n":1,"t":0,"b":false}'), 7]),
    ]) {
      expect(() => decodeMediaAnnouncement(bad)).toThrow(MediaAnnouncementError);
    }
  });

  it('accepts only relative paths of up to 4 safe segments', () => {
    expect(isMediaPath('480p/seg_00001.part0.a2.m4s')).toBe(true);
    for (const bad of ['', '/x', 'a//b', 'a/../b', '.hidden', 'a/b/c/d/e', 'a\\b', 'x'.repeat(257)]) expect(isMediaPath(bad)).toBe(false);
  });
});
