import { describe, expect, it } from 'vitest';
import {
  avcCodecString,
  encodeAmf0,
  MediaInfoCollector,
  parseAudioSpecificConfig,
  parseAvcDecoderConfig,
  parseH264Sps,
  RtmpProtocolError,
} from '../src/rtmp/index.js';
import { unescapeRbsp } from '@live/media/formats';

/**
 * SPS NAL units captured from libx264 (ffmpeg 5.1) with
 * `ffmpeg -f lavfi -i testsrc2=size=WxH:rate=R -t 0.1 -c:v libx264 <opts> -f h264 -`,
 * cut at the 00 00 01 start codes; expected values as reported by ffprobe.
 */
const CAPTURED = [
  { name: 'high 1920x1080 (-profile:v high)', hex: '67640028acd940780227e5c044000003000400000300f03c60c658', codec: 'avc1.640028', width: 1920, height: 1080, chroma: 1, frameMbsOnly: true, depth: 8 },
  { name: 'constrained baseline 640x360', hex: '6742c01ed900a02ff970110000030001000003003c0f162e48', codec: 'avc1.42C01E', width: 640, height: 360, chroma: 1, frameMbsOnly: true, depth: 8 },
  { name: 'main 1280x720', hex: '674d401feca02802dd8088000003000800000301e078c18cb0', codec: 'avc1.4D401F', width: 1280, height: 720, chroma: 1, frameMbsOnly: true, depth: 8 },
  { name: 'high 4:4:4 predictive 1002x502 (yuv444p)', hex: '67f4001f919b281f820f3c5e0220000003002000000781e30632c0', codec: 'avc1.F4001F', width: 1002, height: 502, chroma: 3, frameMbsOnly: true, depth: 8 },
  { name: 'high 4:2:2 854x480 (yuv422p)', hex: '677a001fbcd940d83de6f0110000030001000003003c0f183196', codec: 'avc1.7A001F', width: 854, height: 480, chroma: 2, frameMbsOnly: true, depth: 8 },
  { name: 'high interlaced 720x576 (interlaced=1)', hex: '6764001eacd940b424d8088000000300800000190f8a14cb', codec: 'avc1.64001E', width: 720, height: 576, chroma: 1, frameMbsOnly: false, depth: 8 },
  { name: 'high 10 1280x720 (yuv420p10le)', hex: '676e001fa6cd9405005bb0110000030001000003003c0f183196', codec: 'avc1.6E001F', width: 1280, height: 720, chroma: 1, frameMbsOnly: true, depth: 10 },
];

/** MSB-first bit writer with Exp-Golomb, to synthesize SPS variants libx264 does not emit. */
class BitWriter {
  private bits: number[] = [];
  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }
  ue(v: number): this {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    this.u(len, 0);
    return this.u(len + 1, x);
  }
  se(v: number): this {
    return this.ue(v <= 0 ? -2 * v : 2 * v - 1);
  }
  /** rbsp_trailing_bits, then emulation prevention (H.264 §7.4.1). */
  nal(header: number): Buffer {
    this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    const rbsp: number[] = [];
    for (let i = 0; i < this.bits.length; i += 8) rbsp.push(parseInt(this.bits.slice(i, i + 8).join(''), 2));
    const out: number[] = [header];
    let zeros = 0;
    for (const b of rbsp) {
      if (zeros >= 2 && b <= 3) {
        out.push(3);
        zeros = 0;
      }
      out.push(b);
      zeros = b === 0 ? zeros + 1 : 0;
    }
    return Buffer.from(out);
  }
}

describe('H.264 SPS (ITU-T H.264 §7.3.2.1.1)', () => {
  it.each(CAPTURED)('$name', (c) => {
    const sps = parseH264Sps(Buffer.from(c.hex, 'hex'));
    expect(avcCodecString(sps.profileIdc, sps.constraintFlags, sps.levelIdc)).toBe(c.codec);
    expect({ width: sps.width, height: sps.height }).toEqual({ width: c.width, height: c.height });
    expect(sps.chromaFormatIdc).toBe(c.chroma);
    expect(sps.frameMbsOnly).toBe(c.frameMbsOnly);
    expect(sps.bitDepthLuma).toBe(c.depth);
  });

  it('parses scaling matrices, picture order count type 1 and cropping (synthetic high profile SPS)', () => {
    const w = new BitWriter().u(8, 100).u(8, 0).u(8, 40).ue(0); // profile, constraints, level, sps id
    w.ue(1).ue(0).ue(0).u(1, 0); // chroma_format_idc 4:2:0, bit depths, qpprime bypass
    w.u(1, 1); // seq_scaling_matrix_present_flag
    w.u(1, 1).se(-8); // list 0 present; first delta makes nextScale 0 → use default, stop
    for (let i = 1; i < 6; i++) w.u(1, 0);
    w.u(1, 1);
    for (let j = 0; j < 64; j++) w.se(j % 3 === 0 ? 3 : -3); // list 6: 64 deltas
    w.u(1, 0); // list 7 absent
    w.ue(0); // log2_max_frame_num_minus4
    w.ue(1).u(1, 0).se(-2).se(1).ue(3).se(5).se(-5).se(7); // poc type 1 and its cycle
    w.ue(4).u(1, 0); // max_num_ref_frames, gaps
    w.ue(119).ue(67); // 120 x 68 macroblocks = 1920 x 1088
    w.u(1, 1).u(1, 1); // frame_mbs_only, direct_8x8
    w.u(1, 1).ue(0).ue(0).ue(0).ue(4); // crop bottom 4 × CropUnitY 2 = 8
    w.u(1, 0); // no VUI
    const nal = w.nal(0x67);
    const sps = parseH264Sps(nal);
    expect(sps).toMatchObject({ profileIdc: 100, levelIdc: 40, width: 1920, height: 1080 });
  });

  it('uses crop units of 1 for monochrome and 2 rows per unit for field coding (§7.4.2.1.1)', () => {
    const w = new BitWriter().u(8, 100).u(8, 0).u(8, 30).ue(0);
    w.ue(0).ue(0).ue(0).u(1, 0).u(1, 0); // chroma_format_idc 0 (monochrome)
    w.ue(0).ue(2); // frame num, poc type 2
    w.ue(1).u(1, 0).ue(9).ue(4); // 160 wide, 5 map units
    w.u(1, 0).u(1, 0).u(1, 1); // frame_mbs_only 0, mbaff 0, direct_8x8 1
    w.u(1, 1).ue(0).ue(3).ue(0).ue(1); // crop right 3, bottom 1
    w.u(1, 0);
    const sps = parseH264Sps(w.nal(0x67));
    expect({ w: sps.width, h: sps.height }).toEqual({ w: 160 - 3, h: 2 * 5 * 16 - 2 });
  });

  it('treats separate colour planes as ChromaArrayType 0', () => {
    const w = new BitWriter().u(8, 244).u(8, 0).u(8, 31).ue(0);
    w.ue(3).u(1, 1).ue(0).ue(0).u(1, 0).u(1, 0); // 4:4:4 with separate_colour_plane_flag
    w.ue(0).ue(2).ue(1).u(1, 0).ue(9).ue(4).u(1, 1).u(1, 1);
    w.u(1, 1).ue(1).ue(2).ue(0).ue(5);
    w.u(1, 0);
    const sps = parseH264Sps(w.nal(0x67));
    expect({ w: sps.width, h: sps.height }).toEqual({ w: 160 - 3, h: 80 - 5 });
  });

  it('removes emulation prevention bytes', () => {
    expect([...unescapeRbsp(Buffer.from('0000030100000302', 'hex'))]).toEqual([0, 0, 1, 0, 0, 2]);
  });

  it('throws RtmpProtocolError on a truncated SPS or a non-SPS NAL, never reading past the end', () => {
    const full = Buffer.from(CAPTURED[0]!.hex, 'hex');
    // Cropping ends inside byte 11 of this SPS (VUI follows and is not read): every shorter cut must throw.
    expect(() => parseH264Sps(full.subarray(0, 11))).not.toThrow();
    for (let cut = 0; cut < 11; cut++) expect(() => parseH264Sps(full.subarray(0, cut))).toThrow(RtmpProtocolError);
    expect(() => parseH264Sps(Buffer.from('68ebe3cb', 'hex'))).toThrow(RtmpProtocolError);
    expect(() => parseH264Sps(Buffer.from('6764002800000000000000', 'hex'))).toThrow(RtmpProtocolError); // endless Exp-Golomb zeros
  });
});

const SPS_1080 = Buffer.from(CAPTURED[0]!.hex, 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const avcRecord = (sps: Buffer): Buffer =>
  Buffer.concat([Buffer.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1]), Buffer.from([sps.length >> 8, sps.length & 0xff]), sps, Buffer.from([1, 0, PPS.length]), PPS]);
/** FLV VIDEODATA for an AVC sequence header: key frame + AVC (0x17), AVCPacketType 0, CTS 0. */
const avcSequenceHeader = (sps: Buffer): Buffer => Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), avcRecord(sps)]);
/** FLV AUDIODATA for an AAC sequence header: 0xAF (AAC, 44 kHz, 16-bit, stereo), AACPacketType 0. */
const aacSequenceHeader = (asc: number[]): Buffer => Buffer.from([0xaf, 0, ...asc]);

describe('AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1)', () => {
  it('reads profile, compatibility, level, NAL length size and parameter sets', () => {
    const cfg = parseAvcDecoderConfig(avcRecord(SPS_1080));
    expect(cfg).toMatchObject({ profileIdc: 100, profileCompatibility: 0, levelIdc: 40, nalLengthSize: 4 });
    expect(cfg.sps[0]).toEqual(SPS_1080);
    expect(cfg.pps[0]).toEqual(PPS);
  });

  it('rejects truncated records and a wrong version', () => {
    const rec = avcRecord(SPS_1080);
    for (const cut of [0, 3, 6, 8, 20, rec.length - 1]) expect(() => parseAvcDecoderConfig(rec.subarray(0, cut))).toThrow(RtmpProtocolError);
    const bad = Buffer.from(rec);
    bad[0] = 2;
    expect(() => parseAvcDecoderConfig(bad)).toThrow(RtmpProtocolError);
  });
});

describe('AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1)', () => {
  it.each([
    { name: 'AAC-LC 48 kHz stereo', asc: [0x11, 0x90], aot: 2, rate: 48000, ch: 2 },
    { name: 'AAC-LC 48 kHz mono (ffmpeg sine)', asc: [0x11, 0x88], aot: 2, rate: 48000, ch: 1 },
    { name: 'AAC-LC 44.1 kHz mono', asc: [0x12, 0x08], aot: 2, rate: 44100, ch: 1 },
    // aot 5 | idx 6 (24 kHz) | 2 ch | ext idx 3 (48 kHz) | aot 2
    { name: 'HE-AAC explicit SBR', asc: [0x2b, 0x11, 0x88, 0x00], aot: 5, rate: 48000, ch: 2 },
    // aot 31 escape → 32 + 10 = 42 (USAC) | idx 15 explicit 96000 | 8 ch (config 7)
    { name: 'escaped object type, explicit frequency, 7.1', asc: [0xf9, 0x5e, 0x02, 0xee, 0x00, 0xe0], aot: 42, rate: 96000, ch: 8 },
  ])('$name', (c) => {
    const asc = parseAudioSpecificConfig(Buffer.from(c.asc));
    expect(asc).toMatchObject({ audioObjectType: c.aot, sampleRate: c.rate, channels: c.ch, codecString: `mp4a.40.${c.aot}` });
  });

  it('rejects truncated configs and reserved frequency indexes', () => {
    expect(() => parseAudioSpecificConfig(Buffer.from([0x11]))).toThrow(RtmpProtocolError);
    expect(() => parseAudioSpecificConfig(Buffer.alloc(0))).toThrow(RtmpProtocolError);
    expect(() => parseAudioSpecificConfig(Buffer.from([0x16, 0x90]))).toThrow(RtmpProtocolError); // index 13
  });
});

describe('MediaInfoCollector', () => {
  it('is complete after both sequence headers and reports RFC 6381 codec strings and dimensions', () => {
    const c = new MediaInfoCollector();
    c.observe('video', avcSequenceHeader(SPS_1080));
    expect(c.complete).toBe(false);
    c.observe('audio', aacSequenceHeader([0x11, 0x90]));
    expect(c.complete).toBe(true);
    expect(c.snapshot()).toEqual({
      video: { codec: 'h264', codecString: 'avc1.640028', width: 1920, height: 1080 },
      audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2 },
    });
  });

  it('takes frame rate and bit rates from onMetaData, and falls back to its sizes when the SPS is unreadable', () => {
    const c = new MediaInfoCollector();
    c.setMetadata({ width: 640, height: 360, framerate: 29.97, videodatarate: 2500, videocodecid: 7, audiocodecid: 10, audiosamplerate: 44100, stereo: true, audiodatarate: 128 });
    const broken = avcSequenceHeader(SPS_1080).subarray(0, 16);
    c.observe('video', broken);
    expect(c.complete).toBe(false);
    c.observe('audio', aacSequenceHeader([0x12, 0x08]));
    expect(c.complete).toBe(true);
    expect(c.warnings).toHaveLength(1);
    expect(c.snapshot()).toEqual({
      video: { codec: 'h264', width: 640, height: 360, frameRate: 29.97, bitrateKbps: 2500 },
      audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 44100, channels: 1, bitrateKbps: 128 },
    });
  });

  it('waits only for the tracks onMetaData announces', () => {
    const c = new MediaInfoCollector();
    c.setMetadata({ width: 1920, height: 1080, videocodecid: 7 });
    c.observe('video', Buffer.from([0x27, 1, 0, 0, 0, 0xaa])); // inter frame before the header
    expect(c.complete).toBe(false);
    c.observe('video', avcSequenceHeader(SPS_1080));
    expect(c.complete).toBe(true);
    expect(c.snapshot().audio).toBeUndefined();
  });

  it('knows non-AAC audio and Enhanced RTMP video codecs without a sequence header parse', () => {
    const c = new MediaInfoCollector();
    c.observe('audio', Buffer.from([0x2f, 0xff, 0xfb])); // MP3, 44 kHz, stereo
    c.observe('video', Buffer.concat([Buffer.from([0x90]), Buffer.from('hvc1', 'latin1'), Buffer.from([1, 2, 3])])); // ExHeader key frame SequenceStart
    expect(c.complete).toBe(true);
    expect(c.snapshot()).toEqual({ video: { codec: 'hevc' }, audio: { codec: 'mp3', sampleRate: 44100, channels: 2 } });
  });

  it('accepts onMetaData decoded from AMF0 (ECMA array)', async () => {
    const { decodeAmf0, ecmaArray } = await import('../src/rtmp/index.js');
    const [, meta] = decodeAmf0(encodeAmf0('onMetaData', ecmaArray({ width: 1280, height: 720, framerate: 30, videocodecid: 7 })));
    const c = new MediaInfoCollector();
    c.setMetadata(meta);
    expect(c.snapshot().video).toEqual({ codec: 'h264', width: 1280, height: 720, frameRate: 30 });
  });
});
