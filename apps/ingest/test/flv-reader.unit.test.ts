/** The incremental FLV demuxer that turns ffmpeg's `-f flv pipe:1` back into publish messages. */
import { describe, expect, it } from 'vitest';
import { FlvFormatError, FlvReader } from '../src/remux/flv-reader.js';
import { flvRemuxArgs, isEmptyAacSequenceHeader } from '../src/remux/ffmpeg-remux.js';
import { flvHeader, flvTag, FlvTagType } from '../src/relay/flv.js';
import { encodeAmf0, ecmaArray } from '../src/rtmp/index.js';

const avcSequenceHeader = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1f, 0xff, 0xe0]);
const keyframe = Buffer.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]);
const interFrame = Buffer.from([0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a]);
const aacSequenceHeader = Buffer.from([0xaf, 0x00, 0x12, 0x10]);
const aacFrame = Buffer.from([0xaf, 0x01, 0x21, 0x00]);

function stream(): Buffer {
  return Buffer.concat([
    flvHeader({ audio: true, video: true }),
    flvTag(FlvTagType.Script, 0, encodeAmf0('onMetaData', ecmaArray({ width: 1280, height: 720 }))),
    flvTag(FlvTagType.Video, 0, avcSequenceHeader),
    flvTag(FlvTagType.Audio, 0, aacSequenceHeader),
    flvTag(FlvTagType.Video, 0, keyframe),
    flvTag(FlvTagType.Audio, 21, aacFrame),
    flvTag(FlvTagType.Video, 0x01020304, interFrame),
  ]);
}

describe('FlvReader', () => {
  it('reads every tag as the message an RTMP publish would produce', () => {
    const msgs = new FlvReader().push(stream());
    expect(msgs.map((m) => [m.kind, m.timestamp, m.keyframe, m.sequenceHeader])).toEqual([
      ['data', 0, false, false],
      ['video', 0, true, true],
      ['audio', 0, false, true],
      ['video', 0, true, false],
      ['audio', 21, false, false],
      ['video', 0x01020304, false, false],
    ]);
    expect(msgs[0]!.values?.[0]).toBe('onMetaData');
    expect(msgs[3]!.payload.equals(keyframe)).toBe(true);
  });

  it('gives the same messages whatever the chunking, one byte at a time included', () => {
    const whole = new FlvReader().push(stream());
    const bytes = stream();
    for (const size of [1, 7, 13, 100]) {
      const reader = new FlvReader();
      const got = [];
      for (let i = 0; i < bytes.length; i += size) got.push(...reader.push(bytes.subarray(i, i + size)));
      expect(got).toEqual(whole);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  it('refuses a stream that is not FLV and a tag over the bound', () => {
    expect(() => new FlvReader().push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(FlvFormatError);
    const big = Buffer.concat([flvHeader({ audio: false, video: true }), flvTag(FlvTagType.Video, 0, Buffer.alloc(2000, 0x27))]);
    expect(() => new FlvReader(1000).push(big)).toThrow(/exceeds 1000/);
  });

  it('skips empty tags and tag types FLV publishers do not send', () => {
    const b = Buffer.concat([flvHeader({ audio: true, video: true }), flvTag(FlvTagType.Video, 0, Buffer.alloc(0)), flvTag(15 as never, 0, Buffer.from([1]))]);
    expect(new FlvReader().push(b)).toEqual([]);
  });
});

describe('flvRemuxArgs', () => {
  it('maps the first video and audio stream, copies by default and writes FLV to stdout', () => {
    const args = flvRemuxArgs(['-f', 'mpegts', '-i', 'pipe:0']);
    expect(args.join(' ')).toBe('-hide_banner -loglevel warning -f mpegts -i pipe:0 -map 0:v:0? -map 0:a:0? -c:v copy -c:a copy -f flv -flvflags no_duration_filesize pipe:1');
    expect(flvRemuxArgs(['-i', 'x.sdp'], ['-c:v', 'copy', '-c:a', 'aac'])).toContain('aac');
  });
});

describe('isEmptyAacSequenceHeader', () => {
  it('is true only for an AAC sequence header without its AudioSpecificConfig', () => {
    const msg = (kind: 'audio' | 'video', payload: Buffer) => ({ kind, timestamp: 0, payload, keyframe: false, sequenceHeader: payload[1] === 0 });
    expect(isEmptyAacSequenceHeader(msg('audio', Buffer.from([0xaf, 0x00])))).toBe(true);
    expect(isEmptyAacSequenceHeader(msg('audio', aacSequenceHeader))).toBe(false);
    expect(isEmptyAacSequenceHeader(msg('audio', Buffer.from([0xaf, 0x01])))).toBe(false);
    expect(isEmptyAacSequenceHeader(msg('audio', Buffer.from([0x2f, 0x00])))).toBe(false); // MP3
    expect(isEmptyAacSequenceHeader(msg('video', Buffer.from([0xaf, 0x00])))).toBe(false);
  });
});
