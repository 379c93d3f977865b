/**
 * The web side of thumbnails: the seek preview's WebVTT parsing (times, `#xywh=` sprite regions,
 * URLs resolved against the track, a token carried over to the sprites), the cue lookup for a
 * hover position, and the discovery cards' cache-busted live poster URL.
 */
import { describe, expect, it } from 'vitest';
import { livePosterUrl, POSTER_REFRESH_MS, sessionPosterUrl } from '../src/HomePage';
import { cueAt, thumbnailCuesFrom, thumbnailsVttUrl } from '../src/SeekPreview';

const BASE = 'http://localhost:5173/sessions/s1/thumbs/thumbnails.vtt';

/** What the worker writes (infra/media renderThumbnailsVtt): 5 s cells of 160x90 in 10-column sheets. */
const TRACK = [
  'WEBVTT',
  '',
  '00:00:00.000 --> 00:00:05.000',
  'sprite_0.jpg#xywh=0,0,160,90',
  '',
  '00:00:05.000 --> 00:00:10.000',
  'sprite_0.jpg#xywh=160,0,160,90',
  '',
  '00:00:10.000 --> 00:00:12.500',
  'sprite_1.jpg#xywh=0,90,160,90',
  '',
].join('\n');

describe('thumbnails track parsing', () => {
  it('reads times, sprite regions and resolves sprite URLs next to the track', () => {
    expect(thumbnailCuesFrom(TRACK, BASE)).toEqual([
      { start: 0, end: 5, url: 'http://localhost:5173/sessions/s1/thumbs/sprite_0.jpg', xywh: { x: 0, y: 0, w: 160, h: 90 } },
      { start: 5, end: 10, url: 'http://localhost:5173/sessions/s1/thumbs/sprite_0.jpg', xywh: { x: 160, y: 0, w: 160, h: 90 } },
      { start: 10, end: 12.5, url: 'http://localhost:5173/sessions/s1/thumbs/sprite_1.jpg', xywh: { x: 0, y: 90, w: 160, h: 90 } },
    ]);
  });

  it('carries the track URL query (a playback token) to same-origin sprites that have none', () => {
    const cues = thumbnailCuesFrom(TRACK.replace('sprite_1.jpg', 'sprite_1.jpg?v=2'), `${BASE}?token=abc`);
    expect(cues.map((c) => c.url)).toEqual([
      'http://localhost:5173/sessions/s1/thumbs/sprite_0.jpg?token=abc',
      'http://localhost:5173/sessions/s1/thumbs/sprite_0.jpg?token=abc',
      'http://localhost:5173/sessions/s1/thumbs/sprite_1.jpg?v=2',
    ]);
    expect(thumbnailCuesFrom('WEBVTT\n\n00:00.000 --> 00:01.000\nhttps://cdn.example/x.jpg#xywh=1,2,3,4\n', `${BASE}?token=abc`)[0]!.url).toBe('https://cdn.example/x.jpg');
  });

  it('accepts other tools\' tracks (BOM, CRLF, short times, identifiers, settings, NOTE, pixel:) and skips what it cannot use', () => {
    const text = [
      '\uFEFFWEBVTT',
      '',
      'NOTE made by hand',
      '',
      'c1',
      '00:04.000 --> 00:08.000 line:0',
      '/other/sheet.jpg#xywh=pixel:10,20,120,68',
      '',
      '00:00.000 --> 00:04.000',
      'whole.jpg',
      '',
      '00:08.000 --> 00:07.000',
      'backwards.jpg#xywh=0,0,1,1',
      '',
      '00:09.000 --> 00:99.000',
      'bad-time.jpg',
      '',
      '00:10.000 --> 00:11.000',
      '',
    ].join('\r\n');
    expect(thumbnailCuesFrom(text, BASE)).toEqual([
      { start: 0, end: 4, url: 'http://localhost:5173/sessions/s1/thumbs/whole.jpg', xywh: null },
      { start: 4, end: 8, url: 'http://localhost:5173/other/sheet.jpg', xywh: { x: 10, y: 20, w: 120, h: 68 } },
    ]);
    expect(thumbnailCuesFrom('<html>404</html>', BASE)).toEqual([]);
    expect(thumbnailCuesFrom('', BASE)).toEqual([]);
    expect(() => thumbnailCuesFrom(TRACK, '/relative.vtt')).toThrow(TypeError);
  });
});

describe('cue for a hover position', () => {
  const cues = thumbnailCuesFrom(TRACK, BASE);
  it.each([
    [0, 0],
    [4.999, 0],
    [5, 1],
    [9.5, 1],
    [10, 2],
    [12.4, 2],
    [12.5, 2], // the end of the media still previews the last thumbnail
    [60, 2],
  ])('%s s -> cue %i', (t, i) => {
    expect(cueAt(cues, t)).toBe(cues[i]);
  });

  it('has nothing before the first cue, in a gap, or without cues', () => {
    const gappy = thumbnailCuesFrom('WEBVTT\n\n00:01.000 --> 00:02.000\na.jpg\n\n00:05.000 --> 00:06.000\nb.jpg\n', BASE);
    expect(cueAt(gappy, 0.5)).toBeNull();
    expect(cueAt(gappy, 3)).toBeNull();
    expect(cueAt(gappy, 5.5)?.url).toMatch(/b\.jpg$/);
    expect(cueAt([], 1)).toBeNull();
    expect(cueAt(cues, Number.NaN)).toBeNull();
  });
});

describe('URLs', () => {
  it('cache-busts the live poster per 10 s refresh period', () => {
    expect(POSTER_REFRESH_MS).toBe(10_000);
    const bucket = Math.floor(Date.parse('2026-01-01T00:00:07Z') / POSTER_REFRESH_MS);
    expect(livePosterUrl('chan 1', bucket)).toBe(`/live/chan%201/poster.jpg?t=${bucket}`);
    expect(Math.floor(Date.parse('2026-01-01T00:00:09.999Z') / POSTER_REFRESH_MS)).toBe(bucket);
    expect(Math.floor(Date.parse('2026-01-01T00:00:10Z') / POSTER_REFRESH_MS)).toBe(bucket + 1);
    expect(sessionPosterUrl('s/1')).toBe('/sessions/s%2F1/poster.jpg');
    expect(thumbnailsVttUrl('s1')).toBe('/sessions/s1/thumbs/thumbnails.vtt');
  });
});
