/**
 * Property-based fuzzing (fast-check) of the HTTP-FLV relay's tag handling: the FLV tag and header
 * writers, synthesized onMetaData, the GOP cache, the relay's per-subscriber FLV stream, and the
 * tag-body classifiers and sequence-header parsers the ingest runs on publisher bytes. Properties:
 * no crash (only documented errors), bounded work, and the invariants of an FLV stream a
 * subscriber receives. Fixed seed; fast-check prints seed and counterexample on a failure.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { ok } from '@live/dev/fuzz';
import { describe, expect, it, vi } from 'vitest';
import { createRelay, flvHeader, flvTag, FlvTagType, GopCache, onMetaDataBody } from '../src/relay/index.js';
import {
  decodeAmf0, isEcmaArray, MediaInfoCollector, parseAudioSpecificConfig, parseAudioTagHeader, parseAvcDecoderConfig, parseH264Sps,
  parseVideoTagHeader, RtmpProtocolError, type MediaInfo, type MediaMessage, type PublishStartInfo,
} from '../src/rtmp/index.js';
import { readFlv } from './helpers/flv.js';
import { captureLogger } from './helpers/log.js';

// 10,000 runs per property take a few seconds of CPU; on a loaded machine (the unit tier runs files in
// parallel) that can exceed Vitest's default 5 s per test.
vi.setConfig({ testTimeout: 120_000 });

const RUNS = 10_000;
const SEED = 0x15f0_0004;
const opts = { numRuns: RUNS, seed: SEED };


const u32 = fc.oneof(fc.nat(), fc.constantFrom(0, 1, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff));

describe('flvTag / flvHeader (fuzz)', () => {
  it('a tag reads back with its type, 32-bit timestamp (24 bits + extension byte), body and PreviousTagSize', () => {
    fc.assert(
      fc.property(fc.constantFrom(FlvTagType.Audio, FlvTagType.Video, FlvTagType.Script), fc.oneof(u32, fc.integer({ min: -0x80000000, max: -1 })), fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.boolean(), (type, ts, body, audio, video) => {
        const tag = flvTag(type, ts, Buffer.from(body));
        ok(tag.length === 11 + body.length + 4, 'tag size');
        const flv = readFlv(Buffer.concat([flvHeader({ audio, video }), tag]));
        ok(flv.flags === ((audio ? 4 : 0) | (video ? 1 : 0)), 'header flags');
        ok(flv.trailing === 0 && flv.tags.length === 1, 'one whole tag');
        const t = flv.tags[0]!;
        ok(t.type === type && t.timestamp === ts >>> 0 && Buffer.compare(t.body, Buffer.from(body)) === 0, 'type, timestamp, body');
        ok(tag.readUIntBE(8, 3) === 0, 'StreamID 0');
      }),
      opts,
    );
  });
});

const numberish = fc.oneof(fc.double(), fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(NaN, Infinity, -1, 0));
const mediaInfoArb: fc.Arbitrary<MediaInfo> = fc.record(
  {
    video: fc.record({ codec: fc.constantFrom('h264', 'hevc', 'vp6', ''), width: numberish, height: numberish, frameRate: numberish, bitrateKbps: numberish, codecString: fc.string() }, { requiredKeys: ['codec'] }),
    audio: fc.record({ codec: fc.constantFrom('aac', 'mp3', 'opus'), sampleRate: numberish, channels: numberish, bitrateKbps: numberish }, { requiredKeys: ['codec'] }),
  },
  { requiredKeys: [] },
);

describe('onMetaDataBody (fuzz)', () => {
  it('is "onMetaData" and an ECMA array of exactly the known fields, for any MediaInfo', () => {
    fc.assert(
      fc.property(mediaInfoArb, (media) => {
        const values = decodeAmf0(onMetaDataBody(media));
        ok(values.length === 2 && values[0] === 'onMetaData', '"onMetaData", {...}');
        const meta = values[1] as Record<string, unknown>;
        ok(isEcmaArray(meta) && meta.duration === 0, 'an ECMA array with duration 0');
        const same = (a: unknown, b: unknown, what: string) => ok(Object.is(a, b), `${what}: ${String(a)} != ${String(b)}`);
        same(meta.width, media.video?.width, 'width');
        same(meta.height, media.video?.height, 'height');
        same(meta.framerate, media.video?.frameRate, 'framerate');
        same(meta.videodatarate, media.video?.bitrateKbps, 'videodatarate');
        same(meta.videocodecid, media.video?.codec === 'h264' ? 7 : undefined, 'videocodecid');
        same(meta.audiosamplerate, media.audio?.sampleRate, 'audiosamplerate');
        same(meta.audiodatarate, media.audio?.bitrateKbps, 'audiodatarate');
        same(meta.stereo, media.audio?.channels === undefined ? undefined : media.audio.channels > 1, 'stereo');
        same(meta.audiocodecid, media.audio?.codec === 'aac' ? 10 : undefined, 'audiocodecid');
      }),
      opts,
    );
  });
});

// Messages whose payload starts with a unique 4-byte index, so tags can be traced back to them.
type Kind = MediaMessage['kind'];
const msgShape = fc.record({
  kind: fc.constantFrom<Kind>('video', 'video', 'audio', 'audio', 'data'),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 5000 }), u32),
  keyframe: fc.boolean(),
  sequenceHeader: fc.nat({ max: 9 }).map((n) => n === 0),
  extra: fc.nat({ max: 40 }),
  onMetaData: fc.boolean(),
});
type Shape = typeof msgShape extends fc.Arbitrary<infer T> ? T : never;

function toMessage(s: Shape, i: number): MediaMessage {
  const payload = Buffer.alloc(4 + s.extra, i & 0xff);
  payload.writeUInt32BE(i, 0);
  if (s.kind === 'data') return { kind: 'data', timestamp: s.timestamp, payload, keyframe: false, sequenceHeader: false, values: s.onMetaData ? ['onMetaData', {}] : ['onCuePoint'] };
  return { kind: s.kind, timestamp: s.timestamp, payload, keyframe: s.kind === 'video' && s.keyframe, sequenceHeader: s.sequenceHeader };
}

describe('GopCache (fuzz)', () => {
  it('holds the media since the first key frame until keepLatestOnly, then since the latest key frame, within its byte bound, or nothing after an overflow', () => {
    fc.assert(
      fc.property(fc.array(msgShape, { maxLength: 60 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: -1, max: 60 }), (shapes, maxBytes, latestFrom) => {
        const cache = new GopCache(maxBytes);
        // reference model
        let model: MediaMessage[] = [];
        let gopStart = 0;
        let overflowed = false;
        let fromStart = true;
        const sum = () => model.reduce((n, x) => n + x.payload.length, 0);
        const bound = () => {
          if (sum() <= maxBytes) return;
          if (fromStart && gopStart > 0) {
            fromStart = false;
            model = model.slice(gopStart);
            gopStart = 0;
            if (sum() <= maxBytes || model.length === 1) return;
          }
          fromStart = false;
          model = [];
          gopStart = 0;
          overflowed = true;
        };
        shapes.forEach((s, i) => {
          if (i === latestFrom) {
            cache.keepLatestOnly();
            fromStart = false;
          }
          const m = toMessage(s, i);
          cache.push(m);
          if (m.kind === 'data' || m.sequenceHeader) return;
          if (m.kind === 'video' && m.keyframe) {
            if (fromStart && model.length > 0 && !overflowed) {
              gopStart = model.length;
              model.push(m);
              bound();
            } else {
              model = [m];
              gopStart = 0;
              overflowed = false;
            }
          } else if (model.length > 0 && !overflowed) {
            model.push(m);
            bound();
          }
          const snap = cache.snapshot();
          ok(snap.length === model.length && snap.every((x, k) => x === model[k]), `snapshot after message ${i}`);
          ok(cache.size === snap.reduce((n, x) => n + x.payload.length, 0), 'size');
          if (snap.length > 0) {
            ok(snap[0]!.kind === 'video' && snap[0]!.keyframe, 'starts with a key frame');
            // a lone key frame may exceed the bound (it is kept: it is what a subscriber needs first)
            if (snap.length > 1) ok(cache.size <= maxBytes, 'within the bound');
          }
          ok(!snap.some((x) => x.kind === 'data' || x.sequenceHeader), 'media only');
        });
      }),
      opts,
    );
  });
});

function collector(): { out: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { out, data: () => Buffer.concat(chunks) };
}

const info = (media: MediaInfo): PublishStartInfo => ({
  sessionId: '01900000-0000-7000-8000-000000000001', channelId: 'ch', app: 'live', remoteAddress: '127.0.0.1', media, startedAt: new Date(0),
});

describe('relay FLV stream (fuzz)', () => {
  const { logger } = captureLogger();

  it('every subscriber, joining at any point, gets a well-formed FLV stream of the publish, in order, rebased to 0', () => {
    fc.assert(
      fc.property(
        fc.array(msgShape, { maxLength: 40 }),
        fc.array(fc.nat({ max: 40 }), { maxLength: 3 }),
        fc.constantFrom<MediaInfo>({}, { video: { codec: 'h264' } }, { audio: { codec: 'aac' } }, { video: { codec: 'h264', width: 1280 }, audio: { codec: 'aac' } }),
        fc.nat({ max: 500 }),
        (shapes, joins, media, gopBytes) => {
          const relay = createRelay({ logger, maxGopBytes: 64 + gopBytes });
          const sink = relay.openPublish(info(media));
          const messages = shapes.map(toMessage);
          const subs: Array<{ at: number; data: () => Buffer; out: Writable; hasVideo: boolean; hasAudio: boolean }> = [];
          let hasVideo = media.video !== undefined;
          let hasAudio = media.audio !== undefined;
          for (let i = 0; i <= messages.length; i++) {
            for (const at of joins) {
              if (at !== i) continue;
              const c = collector();
              expect(relay.subscribe(info(media).sessionId, c.out)).toBeDefined();
              subs.push({ at: i, ...c, hasVideo, hasAudio });
            }
            const m = messages[i];
            if (m) {
              sink.write(m);
              if (m.kind === 'video') hasVideo = true;
              if (m.kind === 'audio') hasAudio = true;
            }
          }
          sink.end('unpublished');
          sink.write(toMessage({ kind: 'audio', timestamp: 1, keyframe: false, sequenceHeader: false, extra: 0, onMetaData: false }, 9999)); // ignored after the end
          expect(relay.has(info(media).sessionId)).toBe(false);

          for (const sub of subs) {
            ok(sub.out.writableEnded, 'ended with the publish');
            const flv = readFlv(sub.data());
            ok(flv.trailing === 0, 'whole tags');
            ok(flv.flags === ((sub.hasAudio ? 4 : 0) | (sub.hasVideo ? 1 : 0)), 'header flags');
            const [script, ...rest] = flv.tags;
            ok(script!.type === FlvTagType.Script && script!.timestamp === 0, 'onMetaData first, at 0');
            // every later tag is one of the messages, in publish order (the cached GOP, then live ones)
            const idx = rest.map((t) => t.body.readUInt32BE(0));
            ok(idx.every((n) => n < messages.length), 'tags are messages');
            // the preamble: the latest AVC and AAC sequence headers from before the join, at 0
            const preamble = rest.filter((_t, k) => messages[idx[k]!]!.sequenceHeader && idx[k]! < sub.at);
            ok(preamble.every((t) => t.timestamp === 0), 'sequence headers at 0');
            const after = idx.slice(preamble.length);
            for (let k = 1; k < after.length; k++) ok(after[k]! > after[k - 1]!, 'publish order');
            for (const t of rest) {
              const m = messages[t.body.readUInt32BE(0)]!;
              ok(Buffer.compare(t.body, m.payload) === 0, 'body is the payload');
              ok(t.type === (m.kind === 'video' ? FlvTagType.Video : m.kind === 'audio' ? FlvTagType.Audio : FlvTagType.Script), 'tag type');
            }
            // the first audio/video frame (not a sequence header) is at 0, and a key frame if the publish has video
            const media0 = after.findIndex((n) => messages[n]!.kind !== 'data' && !messages[n]!.sequenceHeader);
            for (let k = 0; k < (media0 < 0 ? after.length : media0); k++) ok(rest[preamble.length + k]!.timestamp === 0, 'at 0 before the first frame');
            if (media0 >= 0) {
              const first = messages[after[media0]!]!;
              if (sub.hasVideo) ok(first.kind === 'video' && first.keyframe, 'starts at a key frame');
              // later frames are rebased on it: (ts - base) as a signed 32-bit difference, clamped at 0
              for (let k = media0; k < after.length; k++) {
                const m = messages[after[k]!]!;
                ok(rest[preamble.length + k]!.timestamp === Math.max(0, (m.timestamp - first.timestamp) | 0), 'rebased timestamp');
              }
            }
          }
        },
      ),
      opts,
    );
  });
});

describe('tag bodies from publishers (fuzz)', () => {
  /** Bytes that look like tag bodies: FLV/Enhanced RTMP first bytes, AVC/AAC packet types, SPS-ish NAL headers. */
  const bodyArb = fc.tuple(
    fc.oneof(fc.nat({ max: 255 }), fc.constantFrom(0x17, 0x27, 0x1c, 0x90, 0x80, 0xaf, 0xae, 0x2f, 0x92)),
    fc.oneof(fc.nat({ max: 255 }), fc.constant(0), fc.constant(1)),
    fc.uint8Array({ maxLength: 120 }),
  ).map(([a, b, rest]) => Buffer.concat([Buffer.from([a, b]), rest]));
  const BITSTREAM = new Set(['BITSTREAM_MALFORMED']);
  const protocolCode = (fn: () => unknown): string | null => {
    try {
      fn();
      return null;
    } catch (err) {
      if (err instanceof RtmpProtocolError) return err.code;
      throw err;
    }
  };

  it('tag header classifiers never throw; the collector only records warnings', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom<'audio' | 'video'>('audio', 'video'), fc.oneof(bodyArb, fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)))), { maxLength: 6 }), (msgs) => {
        const c = new MediaInfoCollector();
        for (const [kind, body] of msgs) {
          const tag = kind === 'video' ? parseVideoTagHeader(body) : parseAudioTagHeader(body);
          ok(body.length === 0 ? tag === undefined : tag !== undefined && tag.bodyOffset > 0, 'classified');
          c.observe(kind, body);
        }
        void c.complete;
        JSON.stringify(c.snapshot());
      }),
      opts,
    );
  });

  it('AVC decoder configuration, SPS and AudioSpecificConfig parsers: a value or BITSTREAM_MALFORMED', () => {
    fc.assert(
      fc.property(bodyArb, fc.nat({ max: 8 }), (body, skip) => {
        const b = body.subarray(Math.min(skip, body.length));
        for (const parse of [parseAvcDecoderConfig, parseH264Sps, parseAudioSpecificConfig] as Array<(x: Buffer) => unknown>) {
          const code = protocolCode(() => parse(b));
          ok(code === null || BITSTREAM.has(code), `undocumented code ${code}`);
        }
        // an SPS NAL header in front (nal_unit_type 7) reaches the Exp-Golomb reader
        const sps = Buffer.concat([Buffer.from([0x67]), b]);
        const code = protocolCode(() => parseH264Sps(sps));
        ok(code === null || BITSTREAM.has(code), `undocumented code ${code}`);
      }),
      opts,
    );
  });
});
