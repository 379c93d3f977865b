/**
 * The worker's media announcer: what it puts on `media.<sessionId>` for each object and playlist
 * the packager writes (decoded with the edge's decoder), bytes included only when they fit.
 */
import { describe, expect, it } from 'vitest';
import { decodeMediaAnnouncement, MAX_MEDIA_BODY_BYTES } from '@live/events';
import { createMediaAnnouncer } from '../src/announcer.js';

function capture() {
  const sent: Array<{ subject: string; data: Uint8Array }> = [];
  return { sent, publish: (subject: string, data: Uint8Array) => { sent.push({ subject, data }); } };
}

describe('createMediaAnnouncer', () => {
  it('announces parts and init segments with their bytes, segments without, on media.<sessionId>', () => {
    const { sent, publish } = capture();
    const a = createMediaAnnouncer('s-1', publish, () => 42);
    a.object('part', '480p/seg_00001.part0.m4s', 3, new Uint8Array([1, 2, 3]));
    a.object('init', '480p/init_1.mp4', 2, new Uint8Array([7, 8]));
    a.object('segment', '480p/seg_00001.m4s', 3, new Uint8Array([1, 2, 3]));
    expect(sent.map((m) => m.subject)).toEqual(['media.s-1', 'media.s-1', 'media.s-1']);
    const [part, init, seg] = sent.map((m) => decodeMediaAnnouncement(m.data));
    expect({ ...part, body: [...part!.body!] }).toEqual({ kind: 'part', sessionId: 's-1', path: '480p/seg_00001.part0.m4s', size: 3, at: 42, body: [1, 2, 3] });
    expect([...init!.body!]).toEqual([7, 8]);
    expect(seg).toEqual({ kind: 'segment', sessionId: 's-1', path: '480p/seg_00001.m4s', size: 3, at: 42 });
  });

  it('announces playlists with their text, and objects or playlists too large for a message without bytes', () => {
    const { sent, publish } = capture();
    const a = createMediaAnnouncer('s-1', publish);
    a.playlist('480p/index.m3u8', '#EXTM3U\n', true);
    a.playlist('master.m3u8', 'x'.repeat(MAX_MEDIA_BODY_BYTES + 1), false);
    a.object('part', '480p/big.m4s', MAX_MEDIA_BODY_BYTES + 1, new Uint8Array(MAX_MEDIA_BODY_BYTES + 1));
    const [small, big, bigPart] = sent.map((m) => decodeMediaAnnouncement(m.data));
    expect([new TextDecoder().decode(small!.body), small!.live]).toEqual(['#EXTM3U\n', true]);
    expect([big!.body, big!.size, big!.live, bigPart!.body, bigPart!.size]).toEqual([undefined, MAX_MEDIA_BODY_BYTES + 1, false, undefined, MAX_MEDIA_BODY_BYTES + 1]);
  });

  it('refuses a session id that is not a subject token', () => {
    expect(() => createMediaAnnouncer('a.b', () => undefined)).toThrow(TypeError);
  });
});
