/**
 * What a publish carries: FLV audio/video tag header classification (FLV spec v10.1 §E.4.2.1
 * AUDIODATA, §E.4.3.1 VIDEODATA, plus the "Enhanced RTMP" v1 ExHeader for FourCC codecs) and
 * the collection of {@link MediaInfo} from sequence headers and `onMetaData`.
 */
import { parseAudioSpecificConfig } from './aac.js';
import { isAmfObject, type AmfObject, type AmfValue } from './amf0.js';
import { avcCodecString, parseAvcDecoderConfig, parseH264Sps } from './avc.js';

/** Codec and picture/sound parameters of a publish, reported to `onPublishStarted`. */
export interface MediaInfo {
  video?: {
    /** `h264`, or another codec name (`hevc`, `av1`, `vp9`, `vp6`, `h263`, ...). */
    codec: 'h264' | string;
    /** RFC 6381 codec string, e.g. `avc1.64001F` (H.264 only). */
    codecString?: string;
    /** Pixels, from the SPS after cropping, else from onMetaData. */
    width?: number;
    height?: number;
    /** Frames per second, from onMetaData `framerate` (or `fps`). */
    frameRate?: number;
    /** Kilobits per second, from onMetaData `videodatarate`. */
    bitrateKbps?: number;
  };
  audio?: {
    /** `aac`, or another codec name (`mp3`, `opus`, `speex`, `pcm`, ...). */
    codec: 'aac' | string;
    /** RFC 6381 codec string, e.g. `mp4a.40.2` (AAC only). */
    codecString?: string;
    /** Hz. */
    sampleRate?: number;
    channels?: number;
    /** Kilobits per second, from onMetaData `audiodatarate`. */
    bitrateKbps?: number;
  };
}

/** Classification of an FLV/RTMP video message's tag header (FLV spec v10.1 §E.4.3.1). */
export interface VideoTagInfo {
  /** Codec name (see {@link MediaInfo}); `unknown-<id>` for unassigned ids. */
  readonly codec: string;
  /** Frame type 1 (key frame). */
  readonly keyframe: boolean;
  /** AVC/HEVC sequence header (AVCPacketType 0) or Enhanced RTMP SequenceStart. */
  readonly sequenceHeader: boolean;
  /** Offset of the codec payload (the decoder configuration record for a sequence header). */
  readonly bodyOffset: number;
}

/** Classification of an FLV/RTMP audio message's tag header (FLV spec v10.1 §E.4.2.1). */
export interface AudioTagInfo {
  readonly codec: string;
  /** AAC sequence header (AACPacketType 0) or Enhanced RTMP audio SequenceStart. */
  readonly sequenceHeader: boolean;
  /** Offset of the codec payload (the AudioSpecificConfig for an AAC sequence header). */
  readonly bodyOffset: number;
  /** From the legacy tag header: 5512/11025/22050/44100 Hz (AAC always says 44100). */
  readonly sampleRate?: number;
  /** From the legacy tag header: 1 mono, 2 stereo. */
  readonly channels?: number;
}

const VIDEO_CODECS: Record<number, string> = { 1: 'jpeg', 2: 'h263', 3: 'screen', 4: 'vp6', 5: 'vp6a', 6: 'screen2', 7: 'h264', 12: 'hevc', 13: 'av1' };
const AUDIO_CODECS: Record<number, string> = {
  0: 'pcm', 1: 'adpcm', 2: 'mp3', 3: 'pcm', 4: 'nellymoser', 5: 'nellymoser', 6: 'nellymoser', 7: 'g711a', 8: 'g711u', 10: 'aac', 11: 'speex', 14: 'mp3', 15: 'device',
};
const FOURCC_CODECS: Record<string, string> = {
  avc1: 'h264', hvc1: 'hevc', av01: 'av1', vp09: 'vp9', vp08: 'vp8', Opus: 'opus', fLaC: 'flac', 'ac-3': 'ac3', 'ec-3': 'eac3', '.mp3': 'mp3', mp4a: 'aac',
};
const LEGACY_RATES = [5512, 11025, 22050, 44100] as const;

/** Classifies a video message; `undefined` for an empty payload. */
export function parseVideoTagHeader(payload: Buffer): VideoTagInfo | undefined {
  const b0 = payload[0];
  if (b0 === undefined) return undefined;
  if (b0 & 0x80) {
    // Enhanced RTMP: [IsExHeader:1][FrameType:3][PacketType:4][FourCC:32]
    const frameType = (b0 >> 4) & 7;
    const packetType = b0 & 0x0f;
    const fourcc = payload.length >= 5 ? payload.toString('latin1', 1, 5) : '';
    return { codec: FOURCC_CODECS[fourcc] ?? (fourcc || 'unknown'), keyframe: frameType === 1, sequenceHeader: packetType === 0, bodyOffset: 5 };
  }
  const frameType = b0 >> 4;
  const codecId = b0 & 0x0f;
  const codec = VIDEO_CODECS[codecId] ?? `unknown-${codecId}`;
  if (codecId === 7 || codecId === 12 || codecId === 13) {
    // [AVCPacketType:8][CompositionTime:SI24]
    return { codec, keyframe: frameType === 1, sequenceHeader: payload[1] === 0, bodyOffset: 5 };
  }
  return { codec, keyframe: frameType === 1, sequenceHeader: false, bodyOffset: 1 };
}

/** Classifies an audio message; `undefined` for an empty payload. */
export function parseAudioTagHeader(payload: Buffer): AudioTagInfo | undefined {
  const b0 = payload[0];
  if (b0 === undefined) return undefined;
  const format = b0 >> 4;
  if (format === 9) {
    // Enhanced RTMP audio: [SoundFormat=9:4][PacketType:4][FourCC:32]
    const fourcc = payload.length >= 5 ? payload.toString('latin1', 1, 5) : '';
    return { codec: FOURCC_CODECS[fourcc] ?? (fourcc || 'unknown'), sequenceHeader: (b0 & 0x0f) === 0, bodyOffset: 5 };
  }
  const codec = AUDIO_CODECS[format] ?? `unknown-${format}`;
  const sampleRate = format === 5 ? 8000 : format === 4 ? 16000 : LEGACY_RATES[(b0 >> 2) & 3];
  const channels = (b0 & 1) + 1;
  if (format === 10) return { codec, sequenceHeader: payload[1] === 0, bodyOffset: 2, sampleRate, channels };
  return { codec, sequenceHeader: false, bodyOffset: 1, sampleRate, channels };
}

function positive(v: AmfValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/** onMetaData `videocodecid`/`audiocodecid`: a legacy numeric id, a FourCC as number, or a string. */
function codecFromMetadataId(v: AmfValue | undefined, table: Record<number, string>): string | undefined {
  if (typeof v === 'string') return FOURCC_CODECS[v] ?? (v.toLowerCase() === 'avc1' ? 'h264' : v);
  if (typeof v !== 'number') return undefined;
  if (table[v] !== undefined) return table[v];
  if (v > 0xffffff) {
    const fourcc = Buffer.alloc(4);
    fourcc.writeUInt32BE(v >>> 0, 0);
    return FOURCC_CODECS[fourcc.toString('latin1')];
  }
  return undefined;
}

/** Builds a MediaInfo object without keys whose value is undefined. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Accumulates {@link MediaInfo} for a publish from the messages seen before it is reported:
 * `onMetaData` (via {@link setMetadata}), video and audio sequence headers (via {@link observe}).
 * Parse failures of a sequence header are not fatal: they are recorded in `warnings` and the
 * metadata values are used instead.
 */
export class MediaInfoCollector {
  private metadata: AmfObject | undefined;
  private video: { codec: string; codecString?: string; width?: number; height?: number; known: boolean } | undefined;
  private audio: { codec: string; codecString?: string; sampleRate?: number; channels?: number; known: boolean } | undefined;
  /** Human-readable reasons sequence headers could not be parsed. */
  readonly warnings: string[] = [];

  /** Records the `onMetaData` object (AMF0 object or ECMA array). */
  setMetadata(meta: AmfValue): void {
    if (isAmfObject(meta)) this.metadata = meta;
  }

  /** Looks at one audio (type 8) or video (type 9) message payload. */
  observe(kind: 'audio' | 'video', payload: Buffer): void {
    if (kind === 'video') this.observeVideo(payload);
    else this.observeAudio(payload);
  }

  private observeVideo(payload: Buffer): void {
    const tag = parseVideoTagHeader(payload);
    if (!tag || this.video?.known) return;
    const needsHeader = tag.codec === 'h264' || tag.codec === 'hevc' || tag.codec === 'av1' || tag.codec === 'vp9';
    if (!needsHeader) {
      this.video = { codec: tag.codec, known: true };
      return;
    }
    if (!tag.sequenceHeader) {
      this.video ??= { codec: tag.codec, known: false };
      return;
    }
    this.video = { codec: tag.codec, known: true };
    if (tag.codec !== 'h264') return;
    try {
      const cfg = parseAvcDecoderConfig(payload.subarray(tag.bodyOffset));
      this.video.codecString = avcCodecString(cfg.profileIdc, cfg.profileCompatibility, cfg.levelIdc);
      const sps = cfg.sps[0];
      if (sps) {
        const info = parseH264Sps(sps);
        this.video.codecString = avcCodecString(info.profileIdc, info.constraintFlags, info.levelIdc);
        this.video.width = info.width;
        this.video.height = info.height;
      }
    } catch (err) {
      this.warnings.push(`AVC sequence header: ${(err as Error).message}`);
    }
  }

  private observeAudio(payload: Buffer): void {
    const tag = parseAudioTagHeader(payload);
    if (!tag || this.audio?.known) return;
    if (tag.codec !== 'aac') {
      this.audio = compact({ codec: tag.codec, sampleRate: tag.sampleRate, channels: tag.channels, known: true });
      return;
    }
    if (!tag.sequenceHeader) {
      this.audio ??= { codec: 'aac', known: false };
      return;
    }
    this.audio = { codec: 'aac', known: true };
    try {
      const asc = parseAudioSpecificConfig(payload.subarray(tag.bodyOffset));
      this.audio.codecString = asc.codecString;
      this.audio.sampleRate = asc.sampleRate;
      if (asc.channels !== undefined) this.audio.channels = asc.channels;
    } catch (err) {
      this.warnings.push(`AAC sequence header: ${(err as Error).message}`);
    }
  }

  /**
   * True once every track the publish is expected to carry has been identified. The expected
   * tracks come from onMetaData (`videocodecid`/`width` → video, `audiocodecid` → audio); without
   * onMetaData both are expected.
   */
  get complete(): boolean {
    const m = this.metadata;
    const expectVideo = m ? m.videocodecid !== undefined || m.width !== undefined || this.video !== undefined : true;
    const expectAudio = m ? m.audiocodecid !== undefined || this.audio !== undefined : true;
    return (!expectVideo || this.video?.known === true) && (!expectAudio || this.audio?.known === true);
  }

  /** The MediaInfo known so far, sequence-header values first, onMetaData as fallback. */
  snapshot(): MediaInfo {
    const m = this.metadata ?? {};
    const info: MediaInfo = {};
    const videoCodec = this.video?.codec ?? codecFromMetadataId(m.videocodecid, VIDEO_CODECS);
    if (videoCodec !== undefined) {
      info.video = compact({
        codec: videoCodec,
        codecString: this.video?.codecString,
        width: this.video?.width ?? positive(m.width),
        height: this.video?.height ?? positive(m.height),
        frameRate: positive(m.framerate) ?? positive(m.fps),
        bitrateKbps: positive(m.videodatarate),
      });
    }
    const audioCodec = this.audio?.codec ?? codecFromMetadataId(m.audiocodecid, AUDIO_CODECS);
    if (audioCodec !== undefined) {
      const stereo = typeof m.stereo === 'boolean' ? (m.stereo ? 2 : 1) : undefined;
      info.audio = compact({
        codec: audioCodec,
        codecString: this.audio?.codecString,
        sampleRate: this.audio?.sampleRate ?? positive(m.audiosamplerate),
        channels: this.audio?.channels ?? positive(m.audiochannels) ?? stereo,
        bitrateKbps: positive(m.audiodatarate),
      });
    }
    return info;
  }
}
