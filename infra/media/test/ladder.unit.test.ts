import { describe, expect, it } from 'vitest';
import { UnsupportedSourceError, h264CodecString, h264Level, selectLadder, type SourceInfo } from '../src/index.js';

describe('selectLadder', () => {
  it('1080p30 H.264 + AAC: passthrough 1080p and three encodes', () => {
    const source: SourceInfo = {
      video: { codec: 'h264', codecString: 'avc1.640028', width: 1920, height: 1080, frameRate: 30, bitrateKbps: 4500 },
      audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, bitrateKbps: 160 },
    };
    expect(selectLadder(source)).toEqual([
      { name: '1080p', width: 1920, height: 1080, videoBitrateKbps: 4500, maxrateKbps: 4950, bufsizeKbps: 9000, audioBitrateKbps: 160, passthrough: true, profile: 'high', level: '4.0', codecString: 'avc1.640028' },
      { name: '720p', width: 1280, height: 720, videoBitrateKbps: 3000, maxrateKbps: 3300, bufsizeKbps: 6000, audioBitrateKbps: 160, passthrough: false, profile: 'main', level: '3.1', codecString: 'avc1.4d401f' },
      { name: '480p', width: 854, height: 480, videoBitrateKbps: 1200, maxrateKbps: 1320, bufsizeKbps: 2400, audioBitrateKbps: 160, passthrough: false, profile: 'main', level: '3.1', codecString: 'avc1.4d401f' },
      { name: '240p', width: 426, height: 240, videoBitrateKbps: 400, maxrateKbps: 440, bufsizeKbps: 800, audioBitrateKbps: 160, passthrough: false, profile: 'baseline', level: '2.1', codecString: 'avc1.42c015' },
    ]);
  });

  it('encodes 1080p when the source cannot be passed through (HEVC, 4K, 10-bit, > 60 fps, huge bitrate)', () => {
    const cases: SourceInfo[] = [
      { video: { codec: 'hevc', width: 1920, height: 1080, frameRate: 30 } },
      { video: { codec: 'h264', width: 3840, height: 2160, frameRate: 30 } },
      { video: { codec: 'h264', codecString: 'avc1.6e0028', width: 1920, height: 1080, frameRate: 30 } },
      { video: { codec: 'h264', width: 1920, height: 1080, frameRate: 120 } },
      { video: { codec: 'h264', width: 1920, height: 1080, frameRate: 30, bitrateKbps: 40_000 } },
    ];
    for (const source of cases) {
      const ladder = selectLadder(source);
      expect(ladder.map((r) => [r.name, r.passthrough])).toEqual([
        ['1080p', false], ['720p', false], ['480p', false], ['240p', false],
      ]);
      expect(ladder[0]).toMatchObject({ width: 1920, height: 1080, videoBitrateKbps: 6000, profile: 'high' });
    }
    // 1080p60 needs level 4.2
    expect(selectLadder({ video: { codec: 'hevc', width: 1920, height: 1080, frameRate: 60 } })[0]).toMatchObject({ level: '4.2', codecString: 'avc1.64002a' });
  });

  it('never upscales; keeps the smallest rung at the source size for tiny sources', () => {
    expect(selectLadder({ video: { codec: 'vp6f', width: 640, height: 360, frameRate: 30 } }).map((r) => r.name)).toEqual(['240p']);
    expect(selectLadder({ video: { codec: 'vp6f', width: 640, height: 480, frameRate: 30 } }).map((r) => [r.name, r.width, r.height])).toEqual([
      ['480p', 640, 480],
      ['240p', 320, 240],
    ]);
    const tiny = selectLadder({ video: { codec: 'flv1', width: 176, height: 144, frameRate: 15 } });
    expect(tiny).toHaveLength(1);
    expect(tiny[0]).toMatchObject({ name: '240p', width: 176, height: 144, passthrough: false });
    const tinyH264 = selectLadder({ video: { codec: 'h264', width: 176, height: 144, frameRate: 15 } });
    expect(tinyH264.map((r) => [r.name, r.width, r.height, r.passthrough])).toEqual([['144p', 176, 144, true]]);
  });

  it('names an off-ladder passthrough after its own size and encodes the rungs below it', () => {
    const l360 = selectLadder({ video: { codec: 'h264', width: 640, height: 360, frameRate: 30 }, audio: { codec: 'aac' } });
    expect(l360.map((r) => [r.name, r.width, r.height, r.passthrough])).toEqual([['360p', 640, 360, true], ['240p', 426, 240, false]]);
    const l900 = selectLadder({ video: { codec: 'h264', width: 1600, height: 900, frameRate: 30 } });
    expect(l900.map((r) => [r.name, r.passthrough])).toEqual([['900p', true], ['720p', false], ['480p', false], ['240p', false]]);
  });

  it('keeps the aspect ratio of portrait sources (the rung is the short side)', () => {
    const ladder = selectLadder({ video: { codec: 'h264', width: 1080, height: 1920, frameRate: 30 }, audio: { codec: 'aac' } });
    expect(ladder.map((r) => [r.name, r.width, r.height, r.passthrough])).toEqual([
      ['1080p', 1080, 1920, true],
      ['720p', 720, 1280, false],
      ['480p', 480, 854, false],
      ['240p', 240, 426, false],
    ]);
  });

  it('refuses a source without video', () => {
    expect(() => selectLadder({ audio: { codec: 'aac' } })).toThrow(UnsupportedSourceError);
  });
});

describe('H.264 level and codec string', () => {
  it('picks the lowest level of ITU-T H.264 Table A-1', () => {
    expect(h264Level(1920, 1080, 30, 6600, 'high')).toBe('4.0');
    expect(h264Level(1920, 1080, 30, 30000, 'high')).toBe('4.1');
    expect(h264Level(1280, 720, 30, 3300, 'main')).toBe('3.1');
    expect(h264Level(1280, 720, 60, 3300, 'main')).toBe('3.2');
    expect(h264Level(854, 480, 25, 1320, 'main')).toBe('3.0');
    expect(h264Level(426, 240, 30, 440, 'baseline')).toBe('2.1');
    expect(() => h264Level(7680, 4320, 60, 1000, 'high')).toThrow(RangeError);
  });

  it('writes RFC 6381 avc1 strings the way x264 signals the profile', () => {
    expect(h264CodecString('high', '4.0')).toBe('avc1.640028');
    expect(h264CodecString('main', '3.1')).toBe('avc1.4d401f');
    expect(h264CodecString('baseline', '3.0')).toBe('avc1.42c01e');
  });
});
