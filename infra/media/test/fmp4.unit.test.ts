import { describe, expect, it } from 'vitest';
import {
  Fmp4Splitter,
  Mp4ParseError,
  detectInbandCaptions,
  masterClosedCaptionsOf,
  renderMasterPlaylist,
  trackSampleRanges,
  buildLowLatencyLadderArgs,
  parseFragment,
  parseInitTracks,
  partFramesFor,
  partTargetSeconds,
  selectLadder,
  type SourceInfo,
} from '../src/index.js';

function box(type: string, ...payload: Uint8Array[]): Buffer {
  const body = Buffer.concat(payload);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
}
const u32 = (...v: number[]) => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
};
const zeros = (n: number) => Buffer.alloc(n);

/** init: track 1 video (timescale 15360), track 2 audio (48000, trex default duration 1024). */
function init(): Buffer {
  const trak = (id: number, timescale: number, handler: string) =>
    box('trak',
      box('tkhd', u32(0), zeros(8), u32(id), zeros(72)), // v0: flags, ctime, mtime, track_ID, ...
      box('mdia', box('mdhd', u32(0), zeros(8), u32(timescale), zeros(8)), box('hdlr', u32(0, 0), Buffer.from(handler, 'latin1'), zeros(12))));
  const mvex = box('mvex', box('trex', u32(0, 1, 1, 0, 0, 0)), box('trex', u32(0, 2, 1, 1024, 0, 0)));
  return Buffer.concat([box('ftyp', Buffer.from('isom'), u32(0x200)), box('moov', box('mvhd', zeros(100)), trak(1, 15360, 'vide'), trak(2, 48000, 'soun'), mvex)]);
}

/** A fragment: video `frames` x 512 ticks (first-sample-flags: sync or not), audio 3 x 1024 (trex default duration). */
function fragment(baseVideo: number, frames: number, keyframe: boolean): Buffer {
  // video trun: flags data-offset(1) | first-sample-flags(4) | duration(0x100) | size(0x200)
  const vTrun = box('trun', u32(0x000305, frames, 0, keyframe ? 0x02000000 : 0x01010000), ...Array.from({ length: frames }, () => u32(512, 100)));
  const vTraf = box('traf', box('tfhd', u32(0x020000, 1)), box('tfdt', Buffer.from([1, 0, 0, 0]), zeros(4), u32(baseVideo)), vTrun);
  // audio trun: size only (durations from trex), default flags 0 = sync
  const aTrun = box('trun', u32(0x000201, 3, 0), u32(10), u32(10), u32(10));
  const aTraf = box('traf', box('tfhd', u32(0x020000, 2)), box('tfdt', u32(0, 3072)), aTrun);
  return Buffer.concat([box('moof', box('mfhd', u32(0, 1)), vTraf, aTraf), box('mdat', zeros(frames * 100 + 30))]);
}

describe('fMP4 fragments', () => {
  it('reads tracks, timing and the keyframe flag of each fragment', () => {
    const tracks = parseInitTracks(init());
    expect(tracks).toEqual([
      { id: 1, timescale: 15360, handler: 'vide', defaultSampleDuration: 0, defaultSampleSize: 0, defaultSampleFlags: 0 },
      { id: 2, timescale: 48000, handler: 'soun', defaultSampleDuration: 1024, defaultSampleSize: 0, defaultSampleFlags: 0 },
    ]);
    const key = parseFragment(fragment(30720, 15, true), tracks);
    expect(key).toMatchObject({ startSeconds: 2, durationSeconds: 0.5, independent: true });
    expect(key.runs).toEqual([
      { trackId: 1, baseDecodeTime: 30720, duration: 7680, samples: 15, firstSampleSync: true },
      { trackId: 2, baseDecodeTime: 3072, duration: 3072, samples: 3, firstSampleSync: true },
    ]);
    const delta = parseFragment(fragment(38400, 15, false), tracks);
    expect(delta).toMatchObject({ startSeconds: 2.5, durationSeconds: 0.5, independent: false });
    expect(() => parseFragment(fragment(0, 1, true), [tracks[1]!])).toThrow(Mp4ParseError); // unknown track 1
    expect(() => parseInitTracks(box('ftyp', zeros(8)))).toThrow(Mp4ParseError);
  });

  it('splits a stream written in arbitrary pieces into init + whole fragments', () => {
    const stream = Buffer.concat([init(), fragment(0, 15, true), fragment(7680, 15, false), fragment(15360, 3, false)]);
    const splitter = new Fmp4Splitter();
    const out = [];
    for (let at = 0; at < stream.length; at += 37) out.push(...splitter.push(stream.subarray(at, at + 37)));
    expect(out.map((c) => c.kind)).toEqual(['init', 'fragment', 'fragment', 'fragment']);
    expect(Buffer.concat(out.map((c) => c.bytes)).equals(stream)).toBe(true);
    expect(out[0]!.bytes.equals(init())).toBe(true);
    expect(splitter.buffered).toBe(0);
    // a fragment whose mdat is not complete yet stays buffered
    const s2 = new Fmp4Splitter();
    const frag = fragment(0, 15, true);
    const moofSize = frag.readUInt32BE(0);
    expect(s2.push(Buffer.concat([init(), frag.subarray(0, moofSize + 20)])).map((c) => c.kind)).toEqual(['init']);
    expect(s2.buffered).toBe(moofSize + 20);
    expect(s2.push(frag.subarray(moofSize + 20)).map((c) => c.kind)).toEqual(['fragment']);
    const bad = Buffer.from(init());
    bad.writeUInt32BE(3, 0);
    expect(() => new Fmp4Splitter().push(bad)).toThrow(Mp4ParseError);
  });
});

describe('buildLowLatencyLadderArgs', () => {
  const source: SourceInfo = {
    video: { codec: 'h264', codecString: 'avc1.64001f', width: 854, height: 480, frameRate: 30, bitrateKbps: 1200 },
    audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, bitrateKbps: 96 },
  };
  it('one fragmented-MP4 output per rendition, fragments of exactly one part', () => {
    expect(partFramesFor(30)).toBe(15);
    expect(partFramesFor(25)).toBe(13);
    expect(partFramesFor(60, 1 / 3)).toBe(20);
    const ladder = selectLadder(source);
    const args = buildLowLatencyLadderArgs({ input: 'in.flv', source, ladder, outputDir: '/w', segmentSeconds: 2, frameRate: 30, partFrames: 15 });
    const out = args.slice(args.indexOf('-map'));
    expect(out).toEqual([
      '-map', '0:v:0', '-c:v', 'copy',
      '-map', '0:a:0', '-c:a', 'copy',
      '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer',
      '-frag_duration', '500000', '-flush_packets', '1', '/w/480p/stream.mp4',
      '-map', '[out240p]', '-c:v', 'libx264', '-preset', 'veryfast', '-tune:v', 'zerolatency', '-profile:v', 'baseline', '-level:v', '2.1',
      '-b:v', '400k', '-maxrate:v', '440k', '-bufsize:v', '800k',
      '-g:v', '60', '-keyint_min:v', '60', '-sc_threshold:v', '0', '-force_key_frames:v', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0', '-c:a', 'copy',
      '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer',
      '-frag_duration', '500000', '-flush_packets', '1', '/w/240p/stream.mp4',
    ]);
    expect(args).toContain('-filter_complex');
    expect(args.slice(0, args.indexOf('-map'))).not.toContain('-f');
    expect(() => buildLowLatencyLadderArgs({ input: 'in.flv', source, ladder, outputDir: '/w', segmentSeconds: 2, frameRate: 30, partFrames: 0 })).toThrow(RangeError);
    // 29.97 fps: 15 frames = 0.5005 s, cut at 500 ms (ms timestamps of a passthrough: 500 or 501 ms), PART-TARGET 0.501
    const ntsc = buildLowLatencyLadderArgs({ input: 'in.flv', source, ladder, outputDir: '/w', segmentSeconds: 2, frameRate: 30000 / 1001, partFrames: 15 });
    expect(ntsc[ntsc.indexOf('-frag_duration') + 1]).toBe('500000');
    expect(partTargetSeconds(15, 30000 / 1001)).toBe(0.501);
    expect(partTargetSeconds(15, 30)).toBe(0.5);
    expect(partTargetSeconds(13, 25)).toBe(0.52);
  });
});

/** H.264 §7.4.1: 0x03 after two zero bytes wherever the next byte is 0x00–0x03. */
function escapeRbsp(rbsp: Uint8Array): Buffer {
  const out: number[] = [];
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

/** An SEI NAL unit (type 6) of messages `[payloadType, body]`, escaped, with its trailing bits. */
function seiNal(...messages: Array<[number, Uint8Array]>): Buffer {
  const rbsp = Buffer.concat([...messages.map(([type, body]) => Buffer.concat([Buffer.from([type, body.length]), body])), Buffer.from([0x80])]);
  return Buffer.concat([Buffer.from([0x06]), escapeRbsp(rbsp)]);
}

/** An ATSC A/53 `GA94` cc_data body with `[marker, b1, b2]` triplets (CEA-708 §4.4). */
function ga94(...triplets: Array<[number, number, number]>): Buffer {
  return Buffer.from([0xb5, 0x00, 0x31, 0x47, 0x41, 0x39, 0x34, 0x03, 0x40 | triplets.length, 0xff, ...triplets.flat(), 0xff]);
}

/** The samples of a NAL-length-prefixed H.264 track: each sample its NAL units. */
function avcSample(lengthSize: number, ...nals: Buffer[]): Buffer {
  return Buffer.concat(nals.map((n) => {
    const len = Buffer.alloc(lengthSize);
    len.writeUIntBE(n.length, 0, lengthSize);
    return Buffer.concat([len, n]);
  }));
}

/** init: track 1 H.264 (`entry` sample entry with avcC of `lengthSize`), track 2 audio. */
function avcInit(lengthSize = 4, entry = 'avc1'): Buffer {
  const avcC = box('avcC', Buffer.from([1, 0x42, 0xc0, 0x1f, 0xfc | (lengthSize - 1), 0xe0]));
  const stbl = box('stbl', box('stsd', u32(0, 1), box(entry, zeros(78), avcC)));
  const trak = (id: number, handler: string, minf?: Buffer) =>
    box('trak', box('tkhd', u32(0), zeros(8), u32(id), zeros(72)),
      box('mdia', box('mdhd', u32(0), zeros(8), u32(90000), zeros(8)), box('hdlr', u32(0, 0), Buffer.from(handler, 'latin1'), zeros(12)), ...(minf ? [minf] : [])));
  const mvex = box('mvex', box('trex', u32(0, 1, 1, 3000, 0, 0)), box('trex', u32(0, 2, 1, 1024, 0, 0)));
  return Buffer.concat([box('ftyp', Buffer.from('isom'), u32(0x200)), box('moov', box('mvhd', zeros(100)), trak(1, 'vide', box('minf', stbl)), trak(2, 'soun'), mvex)]);
}

/** One fragment (default-base-is-moof): the video samples, then three 10-byte audio samples, in one mdat. */
function avcFragment(videoSamples: Buffer[]): Buffer {
  const build = (offset: number) => {
    const vTrun = box('trun', u32(0x000201, videoSamples.length, offset), ...videoSamples.map((v) => u32(v.length)));
    const videoBytes = videoSamples.reduce((n, v) => n + v.length, 0);
    const aTrun = box('trun', u32(0x000201, 3, offset + videoBytes), u32(10), u32(10), u32(10));
    return box('moof', box('mfhd', u32(0, 1)), box('traf', box('tfhd', u32(0x020000, 1)), box('tfdt', u32(0, 0)), vTrun), box('traf', box('tfhd', u32(0x020000, 2)), box('tfdt', u32(0, 0)), aTrun));
  };
  const moofSize = build(0).length;
  return Buffer.concat([build(moofSize + 8), box('mdat', ...videoSamples, Buffer.alloc(30, 0xaa))]);
}

describe('in-band CEA-608 captions (A/53 GA94 in H.264 SEI)', () => {
  const slice = Buffer.from([0x65, 0x88, 0x84, 0x00]);
  // an unregistered SEI first, with escaped zeros: misread by two bytes, the GA94 message after it would be lost
  const unregistered: [number, Uint8Array] = [5, Buffer.concat([zeros(6), Buffer.alloc(14, 0x80)])];
  const captions = seiNal(unregistered, [4, ga94([0xfc, 0x94, 0x20], [0xfd, 0x80, 0x80])]);

  it('finds the 608 fields of cc_data in the video samples, across fragments', () => {
    const media = Buffer.concat([avcFragment([avcSample(4, seiNal(unregistered), slice)]), avcFragment([avcSample(4, captions, slice), avcSample(4, slice)])]);
    const found = detectInbandCaptions(avcInit(), media);
    expect(found).toEqual({ kind: 'cea-608', fields: new Set([1, 2]) });
    expect(masterClosedCaptionsOf(found)).toEqual({ channels: ['CC1', 'CC3'] });
    // two-byte NAL lengths (avcC lengthSizeMinusOne 1)
    expect(detectInbandCaptions(avcInit(2), avcFragment([avcSample(2, captions, slice)]))).toMatchObject({ kind: 'cea-608' });
  });

  it('says none for SEI without valid 608 pairs, and unknown for what it cannot read', () => {
    const onlyInvalid = seiNal([4, ga94([0xf8, 0x94, 0x20], [0xfe, 0x01, 0x02])]); // cc_valid 0; a 708 (DTVCC) pair
    expect(detectInbandCaptions(avcInit(), avcFragment([avcSample(4, seiNal(unregistered), slice), avcSample(4, onlyInvalid, slice)]))).toEqual({ kind: 'none' });
    expect(masterClosedCaptionsOf({ kind: 'none' })).toBe('none');
    expect(detectInbandCaptions(avcInit(4, 'hvc1'), avcFragment([avcSample(4, captions)]))).toEqual({ kind: 'unknown' });
    expect(detectInbandCaptions(avcInit(), Buffer.alloc(4000, 0x5a))).toEqual({ kind: 'unknown' }); // e.g. AES-128 encrypted
    const wrongLengths = avcFragment([Buffer.concat([Buffer.from([0, 0, 0x7f, 0xff]), captions])]);
    expect(detectInbandCaptions(avcInit(), wrongLengths)).toEqual({ kind: 'unknown' });
    expect(masterClosedCaptionsOf({ kind: 'unknown' })).toBeUndefined();
  });

  it('locates one track\'s samples in a fragment (trun data offsets and sizes)', () => {
    const samples = [avcSample(4, slice), avcSample(4, captions, slice)];
    const fragment = avcFragment(samples);
    const ranges = trackSampleRanges(fragment, 1, parseInitTracks(avcInit()));
    expect(ranges.map((r) => fragment.subarray(r.start, r.end))).toEqual(samples);
    expect(trackSampleRanges(fragment, 2, parseInitTracks(avcInit())).map((r) => r.end - r.start)).toEqual([10, 10, 10]);
  });

  it('declares them in the master playlist', () => {
    const v = [{ uri: '720p/index.m3u8', bandwidth: 3_000_000, width: 1280, height: 720, codecs: ['avc1.64001f'] }];
    expect(renderMasterPlaylist(v, { closedCaptions: 'none' })).toContain('CODECS="avc1.64001f",CLOSED-CAPTIONS=NONE\n720p/index.m3u8');
    const withCc = renderMasterPlaylist(v, { closedCaptions: { channels: ['CC1', 'CC3'] } });
    expect(withCc.split('\n').slice(3, 6)).toEqual([
      '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",DEFAULT=YES,AUTOSELECT=YES,INSTREAM-ID="CC1"',
      '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC3",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID="CC3"',
      '#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f",CLOSED-CAPTIONS="cc"',
    ]);
    expect(renderMasterPlaylist(v)).not.toContain('CLOSED-CAPTIONS');
    expect(() => renderMasterPlaylist(v, { closedCaptions: { channels: [] } })).toThrow(RangeError);
  });
});
