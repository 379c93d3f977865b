/**
 * FLV muxing primitives (Adobe Flash Video File Format Specification v10.1, annex E): the file
 * header and tags. The relay writes an FLV "file" that never ends while the publish is live.
 */
import { ecmaArray, encodeAmf0, type AmfObject } from '../rtmp/amf0.js';
import type { MediaInfo } from '../rtmp/media-info.js';

/** FLV TagType values (FLV v10.1 §E.4.1). */
export const FlvTagType = { Audio: 8, Video: 9, Script: 18 } as const;
/** One of {@link FlvTagType}. */
export type FlvTagTypeValue = (typeof FlvTagType)[keyof typeof FlvTagType];

/**
 * The 9-byte FLV header (FLV v10.1 §E.2: "FLV", version 1, TypeFlagsAudio 0x04 /
 * TypeFlagsVideo 0x01, DataOffset 9) followed by PreviousTagSize0 = 0 (§E.3): 13 bytes.
 */
export function flvHeader(flags: { audio: boolean; video: boolean }): Buffer {
  const b = Buffer.alloc(13);
  b.write('FLV', 0, 'latin1');
  b[3] = 1;
  b[4] = (flags.audio ? 0x04 : 0) | (flags.video ? 0x01 : 0);
  b.writeUInt32BE(9, 5);
  return b; // bytes 9..12: PreviousTagSize0 = 0
}

/**
 * One FLV tag (FLV v10.1 §E.4.1) followed by its PreviousTagSize (§E.3): 11-byte tag header
 * (type, 24-bit DataSize, 24-bit Timestamp + 8-bit TimestampExtended in ms, StreamID 0),
 * `body`, then 11 + body length as UInt32.
 *
 * @throws RangeError if `body` exceeds the 24-bit DataSize.
 */
export function flvTag(type: FlvTagTypeValue, timestampMs: number, body: Buffer): Buffer {
  if (body.length > 0xffffff) throw new RangeError(`FLV tag body of ${body.length} bytes exceeds 24 bits`);
  const out = Buffer.allocUnsafe(11 + body.length + 4);
  const ts = timestampMs >>> 0;
  out[0] = type;
  out.writeUIntBE(body.length, 1, 3);
  out.writeUIntBE(ts & 0xffffff, 4, 3);
  out[7] = ts >>> 24;
  out.writeUIntBE(0, 8, 3);
  body.copy(out, 11);
  out.writeUInt32BE(11 + body.length, 11 + body.length);
  return out;
}

/**
 * A SCRIPTDATA body `"onMetaData", {ECMA array}` (FLV v10.1 §E.5) synthesized from MediaInfo,
 * for publishers that sent no onMetaData. Codec ids: 7 AVC, 10 AAC (§E.4.3.1, §E.4.2.1).
 */
export function onMetaDataBody(media: MediaInfo): Buffer {
  const meta: AmfObject = { duration: 0 };
  const v = media.video;
  if (v) {
    if (v.width !== undefined) meta.width = v.width;
    if (v.height !== undefined) meta.height = v.height;
    if (v.frameRate !== undefined) meta.framerate = v.frameRate;
    if (v.bitrateKbps !== undefined) meta.videodatarate = v.bitrateKbps;
    if (v.codec === 'h264') meta.videocodecid = 7;
  }
  const a = media.audio;
  if (a) {
    if (a.sampleRate !== undefined) meta.audiosamplerate = a.sampleRate;
    if (a.channels !== undefined) meta.stereo = a.channels > 1;
    if (a.bitrateKbps !== undefined) meta.audiodatarate = a.bitrateKbps;
    if (a.codec === 'aac') meta.audiocodecid = 10;
  }
  return encodeAmf0('onMetaData', ecmaArray(meta));
}
