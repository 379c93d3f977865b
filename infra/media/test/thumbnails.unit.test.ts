/**
 * Pure parts of the thumbnails module: the WebVTT thumbnails track (times, `#xywh=` regions,
 * grid layout) written and read back, the ffmpeg argument lists, and how the poster picks its
 * segment and rendition.
 */
import { describe, expect, it } from 'vitest';
import {
  ThumbnailsVttError,
  buildPosterArgs,
  buildSpriteArgs,
  buildThumbnailCues,
  buildThumbnailFrameArgs,
  formatVttTimestamp,
  newestCompleteSegment,
  parseThumbnailsVtt,
  posterKey,
  posterRenditionFor,
  posterSize,
  renderThumbnailsVtt,
  spriteKey,
  spriteLayoutFor,
  thumbnailsVttKey,
  type ThumbnailCue,
} from '../src/index.js';

const CELL = { width: 160, height: 90 };

describe('WebVTT timestamps', () => {
  it.each([
    [0, '00:00:00.000'],
    [5, '00:00:05.000'],
    [59.9994, '00:00:59.999'],
    [59.9996, '00:01:00.000'],
    [61.25, '00:01:01.250'],
    [3725.5, '01:02:05.500'],
    [360_000, '100:00:00.000'],
  ])('%s s -> %s', (s, text) => {
    expect(formatVttTimestamp(s)).toBe(text);
  });

  it('refuses negative and non-finite times', () => {
    for (const bad of [-0.001, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => formatVttTimestamp(bad)).toThrow(RangeError);
  });
});

describe('sprite grid layout', () => {
  it.each([
    [0, 1, 1],
    [1, 1, 1],
    [7, 7, 1],
    [10, 10, 1],
    [11, 10, 2],
    [12, 10, 2],
    [100, 10, 10],
    [101, 10, 10],
    [2880, 10, 10],
  ])('%i thumbnails -> %ix%i cells per sheet', (count, columns, rows) => {
    expect(spriteLayoutFor(count, CELL)).toEqual({ columns, rows, ...CELL });
  });

  it('respects smaller limits and refuses bad dimensions', () => {
    expect(spriteLayoutFor(13, CELL, 3, 2)).toEqual({ columns: 3, rows: 2, ...CELL });
    expect(spriteLayoutFor(5, CELL, 3, 2)).toEqual({ columns: 3, rows: 2, ...CELL });
    expect(spriteLayoutFor(2, CELL, 3, 2)).toEqual({ columns: 2, rows: 1, ...CELL });
    expect(() => spriteLayoutFor(5, { width: 0, height: 90 })).toThrow(RangeError);
    expect(() => spriteLayoutFor(5, CELL, 2.5)).toThrow(RangeError);
  });
});

describe('thumbnail cues', () => {
  it('places thumbnail i in sheet floor(i/cells), row-major, and covers [0, duration] without gaps', () => {
    const layout = spriteLayoutFor(250, CELL);
    const cues = buildThumbnailCues({ count: 250, intervalSeconds: 5, durationSeconds: 1248.4, layout });
    expect(cues).toHaveLength(250);
    expect(cues[0]).toEqual({ start: 0, end: 5, uri: 'sprite_0.jpg', xywh: { x: 0, y: 0, w: 160, h: 90 } });
    expect(cues[1]!.xywh).toEqual({ x: 160, y: 0, w: 160, h: 90 });
    expect(cues[10]!.xywh).toEqual({ x: 0, y: 90, w: 160, h: 90 });
    expect(cues[99]).toMatchObject({ uri: 'sprite_0.jpg', xywh: { x: 1440, y: 810 } });
    expect(cues[100]).toMatchObject({ start: 500, end: 505, uri: 'sprite_1.jpg', xywh: { x: 0, y: 0 } });
    expect(cues[249]).toMatchObject({ start: 1245, end: 1248.4, uri: 'sprite_2.jpg', xywh: { x: 1440, y: 360 } });
    for (let i = 1; i < cues.length; i++) expect(cues[i]!.start).toBe(cues[i - 1]!.end);
    for (const c of cues) {
      // inside a 1600x900 sheet
      expect(c.xywh!.x + c.xywh!.w).toBeLessThanOrEqual(1600);
      expect(c.xywh!.y + c.xywh!.h).toBeLessThanOrEqual(900);
    }
  });

  it('stretches the last cue to the duration when there are fewer thumbnails, drops thumbnails past it', () => {
    const layout = spriteLayoutFor(3, CELL);
    expect(buildThumbnailCues({ count: 3, intervalSeconds: 5, durationSeconds: 17, layout }).map((c) => [c.start, c.end])).toEqual([[0, 5], [5, 10], [10, 17]]);
    expect(buildThumbnailCues({ count: 5, intervalSeconds: 5, durationSeconds: 12, layout: spriteLayoutFor(5, CELL) }).map((c) => [c.start, c.end])).toEqual([[0, 5], [5, 10], [10, 12]]);
    expect(buildThumbnailCues({ count: 4, intervalSeconds: 2.5, durationSeconds: 10, layout: spriteLayoutFor(4, CELL) }).map((c) => [c.start, c.end])).toEqual([[0, 2.5], [2.5, 5], [5, 7.5], [7.5, 10]]);
    expect(buildThumbnailCues({ count: 0, intervalSeconds: 5, durationSeconds: 12, layout })).toEqual([]);
  });

  it('works in whole milliseconds (no float drift over hours)', () => {
    const cues = buildThumbnailCues({ count: 3600, intervalSeconds: 0.1 * 3, durationSeconds: 1080, layout: spriteLayoutFor(3600, CELL) });
    expect(cues).toHaveLength(3600);
    expect(cues.at(-1)).toMatchObject({ start: 1079.7, end: 1080 });
    expect(renderThumbnailsVtt(cues)).toContain('\n00:17:59.700 --> 00:18:00.000\nsprite_35.jpg#xywh=1440,810,160,90\n');
  });

  it('refuses invalid input', () => {
    const layout = spriteLayoutFor(3, CELL);
    expect(() => buildThumbnailCues({ count: -1, intervalSeconds: 5, durationSeconds: 10, layout })).toThrow(RangeError);
    expect(() => buildThumbnailCues({ count: 1.5, intervalSeconds: 5, durationSeconds: 10, layout })).toThrow(RangeError);
    expect(() => buildThumbnailCues({ count: 1, intervalSeconds: 0, durationSeconds: 10, layout })).toThrow(RangeError);
    expect(() => buildThumbnailCues({ count: 1, intervalSeconds: 5, durationSeconds: 0, layout })).toThrow(RangeError);
    expect(() => buildThumbnailCues({ count: 1, intervalSeconds: 5, durationSeconds: 5, layout: { ...layout, rows: 0 } })).toThrow(RangeError);
  });
});

describe('thumbnails track: render and parse', () => {
  it('renders the de-facto format (JW Player / video.js / hls.js previews)', () => {
    const cues = buildThumbnailCues({ count: 3, intervalSeconds: 5, durationSeconds: 12.5, layout: spriteLayoutFor(3, CELL) });
    expect(renderThumbnailsVtt(cues)).toBe(
      [
        'WEBVTT',
        '',
        '00:00:00.000 --> 00:00:05.000',
        'sprite_0.jpg#xywh=0,0,160,90',
        '',
        '00:00:05.000 --> 00:00:10.000',
        'sprite_0.jpg#xywh=160,0,160,90',
        '',
        '00:00:10.000 --> 00:00:12.500',
        'sprite_0.jpg#xywh=320,0,160,90',
        '',
      ].join('\n'),
    );
  });

  it('round-trips: parse(render(cues)) equals cues', () => {
    const cues = buildThumbnailCues({ count: 230, intervalSeconds: 10, durationSeconds: 2291.25, layout: spriteLayoutFor(230, CELL) });
    expect(parseThumbnailsVtt(renderThumbnailsVtt(cues))).toEqual(cues);
  });

  it('reads tracks written by other tools: BOM, CRLF, identifiers, settings, NOTE, pixel: and whole images', () => {
    const text = [
      '\uFEFFWEBVTT - thumbnails',
      '',
      'NOTE generated elsewhere',
      'over two lines',
      '',
      '1',
      '00:00.000 --> 00:04.000 align:start',
      'https://cdn.example/a/sprite.jpg#xywh=pixel:320,180,160,90',
      '',
      'two',
      '00:04.000 --> 01:00:04.500',
      'poster.jpg',
      '',
      '01:00:04.500 --> 01:00:06.000',
      'thumb.jpg#t=1&xywh=percent:0,0,50,50',
      '',
    ].join('\r\n');
    const cues: ThumbnailCue[] = parseThumbnailsVtt(text);
    expect(cues).toEqual([
      { start: 0, end: 4, uri: 'https://cdn.example/a/sprite.jpg', xywh: { x: 320, y: 180, w: 160, h: 90 } },
      { start: 4, end: 3604.5, uri: 'poster.jpg', xywh: null },
      { start: 3604.5, end: 3606, uri: 'thumb.jpg', xywh: null },
    ]);
  });

  it('refuses a track without the header or with a malformed time', () => {
    expect(() => parseThumbnailsVtt('00:00.000 --> 00:01.000\nx.jpg\n')).toThrow(ThumbnailsVttError);
    expect(() => parseThumbnailsVtt('WEBVTT\n\n00:00.000 --> 00:61.000\nx.jpg\n')).toThrow(ThumbnailsVttError);
    expect(() => renderThumbnailsVtt([{ start: 5, end: 5, uri: 'x.jpg', xywh: null }])).toThrow(RangeError);
  });
});

describe('keys', () => {
  it('puts the poster and thumbnails under the session', () => {
    expect(posterKey('sessions/s1')).toBe('sessions/s1/poster.jpg');
    expect(thumbnailsVttKey('sessions/s1')).toBe('sessions/s1/thumbs/thumbnails.vtt');
    expect(spriteKey('sessions/s1', 3)).toBe('sessions/s1/thumbs/sprite_3.jpg');
  });
});

describe('ffmpeg argument lists', () => {
  it('poster: first frame of init+segment, optional scale, one JPEG file', () => {
    expect(buildPosterArgs('/w/segment.mp4', '/w/poster.jpg', { scaleWidth: 640 })).toEqual([
      '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
      '-threads', '1',
      '-i', '/w/segment.mp4',
      '-map', '0:v:0',
      '-frames:v', '1',
      '-vf', 'scale=640:-2',
      '-q:v', '4',
      '-f', 'image2', '-update', '1',
      '/w/poster.jpg',
    ]);
    expect(buildPosterArgs('in.mp4', 'out.jpg', { quality: 7 })).not.toContain('-vf');
    expect(buildPosterArgs('in.mp4', 'out.jpg', { quality: 7 })).toContain('7');
  });

  it('VOD pass 1: keyframes only, one per interval, letterboxed raw frames', () => {
    expect(buildThumbnailFrameArgs('/w/vod.mp4', '/w/frames.yuv', { intervalSeconds: 5, width: 160, height: 90, maxFrames: 250 })).toEqual([
      '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
      '-skip_frame', 'nokey',
      '-i', '/w/vod.mp4',
      '-map', '0:v:0',
      '-vf', 'fps=fps=1/5:eof_action=pass,scale=160:90:force_original_aspect_ratio=decrease:force_divisible_by=2,pad=160:90:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p',
      '-frames:v', '250',
      '-f', 'rawvideo', '-pix_fmt', 'yuv420p',
      '/w/frames.yuv',
    ]);
  });

  it('VOD pass 2: raw frames tiled into numbered JPEG sheets from 0', () => {
    expect(buildSpriteArgs('/w/frames.yuv', '/w/sheets', { columns: 10, rows: 2, width: 160, height: 90 })).toEqual([
      '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
      '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', '160x90', '-framerate', '1',
      '-i', '/w/frames.yuv',
      '-vf', 'tile=10x2',
      '-q:v', '5',
      '-f', 'image2', '-start_number', '0',
      '/w/sheets/sprite_%d.jpg',
    ]);
  });
});

describe('poster source', () => {
  const ladder = [
    { name: '1080p', width: 1920, height: 1080 },
    { name: '720p', width: 1280, height: 720 },
    { name: '480p', width: 854, height: 480 },
    { name: '240p', width: 426, height: 240 },
  ];

  it('decodes the narrowest rendition at least as wide as the poster, never upscales', () => {
    expect(posterRenditionFor(ladder).name).toBe('480p');
    expect(posterRenditionFor(ladder, 400).name).toBe('240p');
    expect(posterRenditionFor(ladder, 1280).name).toBe('720p');
    expect(posterRenditionFor(ladder, 4000).name).toBe('1080p');
    expect(posterRenditionFor([ladder[3]!]).name).toBe('240p');
    expect(() => posterRenditionFor([])).toThrow(RangeError);
    expect(posterSize({ width: 854, height: 480 })).toEqual({ width: 640, height: 360 });
    expect(posterSize({ width: 426, height: 240 }, 320)).toEqual({ width: 320, height: 180 });
    expect(posterSize({ width: 426, height: 240 })).toEqual({ width: 426, height: 240 });
    expect(posterSize({ width: 1080, height: 1920 })).toEqual({ width: 640, height: 1138 });
  });

  it('finds the newest COMPLETE segment of a low-latency playlist (not the open one), with its init segment', () => {
    const ll = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-MEDIA-SEQUENCE:40',
      '#EXT-X-MAP:URI="init_2.mp4"',
      '#EXTINF:2.000000,',
      'seg_00040.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00041.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00041.1.m4s"',
      '#EXTINF:2.000000,',
      'seg_00041.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="seg_00042.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00042.1.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="../720p/index.m3u8",LAST-MSN=42,LAST-PART=0',
      '',
    ].join('\n');
    expect(newestCompleteSegment(ll)).toMatchObject({ uri: 'seg_00041.m4s', sequence: 41, map: 'init_2.mp4' });
    expect(newestCompleteSegment(ll)?.key).toBeUndefined();
  });

  it('reports the key of an encrypted segment, and null for nothing to decode', () => {
    const enc = [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MAP:URI="init_1.mp4"',
      '#EXT-X-KEY:METHOD=AES-128,URI="/keys/s1/0.key",IV=0x0000000000000000000000000000000a',
      '#EXTINF:2.000000,',
      'seg_00010.m4s',
      '',
    ].join('\n');
    expect(newestCompleteSegment(enc)).toMatchObject({ uri: 'seg_00010.m4s', map: 'init_1.mp4', key: { uri: '/keys/s1/0.key', iv: '0x0000000000000000000000000000000a' } });
    expect(newestCompleteSegment('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART:DURATION=0.5,URI="p.m4s"\n')).toBeNull();
    expect(newestCompleteSegment('<html>not a playlist</html>')).toBeNull();
    expect(newestCompleteSegment('')).toBeNull();
  });
});
