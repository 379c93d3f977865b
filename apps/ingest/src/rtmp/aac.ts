/**
 * AAC AudioSpecificConfig parsing (ISO/IEC 14496-3 §1.6.2.1), the body of an FLV/RTMP AAC
 * sequence header after its 2-byte audio tag header.
 */
import { BitReader } from './bitreader.js';
import { RtmpProtocolError } from './errors.js';

/** Sampling frequencies by samplingFrequencyIndex (ISO/IEC 14496-3 §1.6.3.3, table 1.18). */
export const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350] as const;

/** Decoded AudioSpecificConfig. */
export interface AudioSpecificConfig {
  /** audioObjectType, e.g. 2 AAC-LC, 5 SBR (HE-AAC), 29 PS (HE-AACv2). */
  readonly audioObjectType: number;
  /** Output sampling rate in Hz (the SBR extension rate for explicit HE-AAC). */
  readonly sampleRate: number;
  /** Channel count from channelConfiguration (0 → undefined: defined in-band by a PCE). */
  readonly channels?: number;
  /** RFC 6381 codec string, `mp4a.40.<audioObjectType>`. */
  readonly codecString: string;
}

function objectType(r: BitReader): number {
  const aot = r.bits(5);
  return aot === 31 ? 32 + r.bits(6) : aot;
}

function frequency(r: BitReader): number {
  const idx = r.bits(4);
  if (idx === 0xf) return r.bits(24);
  const rate = AAC_SAMPLE_RATES[idx];
  if (rate === undefined) throw new RtmpProtocolError('BITSTREAM_MALFORMED', `samplingFrequencyIndex ${idx}`);
  return rate;
}

/**
 * Parses an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type, sampling frequency,
 * channel configuration (table 1.19: 1–6 → that many channels, 7 → 8), explicit SBR/PS
 * signalling. The codec string uses the first object type, as RFC 6381 §3.3 asks.
 *
 * @throws RtmpProtocolError `BITSTREAM_MALFORMED` when truncated or using a reserved index.
 */
export function parseAudioSpecificConfig(asc: Buffer): AudioSpecificConfig {
  const r = new BitReader(asc);
  const aot = objectType(r);
  let sampleRate = frequency(r);
  const channelConfig = r.bits(4);
  if (aot === 5 || aot === 29) sampleRate = frequency(r); // extensionSamplingFrequency
  const channels = channelConfig === 0 ? undefined : channelConfig === 7 ? 8 : channelConfig <= 6 ? channelConfig : undefined;
  return channels === undefined
    ? { audioObjectType: aot, sampleRate, codecString: `mp4a.40.${aot}` }
    : { audioObjectType: aot, sampleRate, channels, codecString: `mp4a.40.${aot}` };
}
