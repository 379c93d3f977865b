/**
 * H.264 decoder configuration parsing: the AVCDecoderConfigurationRecord carried by an FLV/RTMP
 * AVC sequence header (ISO/IEC 14496-15 §5.2.4.1) and the sequence parameter set inside it
 * (ITU-T H.264 §7.3.2.1.1), down to the coded picture size after cropping.
 */
import { unescapeRbsp } from '@live/media/formats';
import { BitReader } from './bitreader.js';
import { RtmpProtocolError } from './errors.js';

/** What an SPS says about the coded video (ITU-T H.264 §7.4.2.1.1). */
export interface H264SpsInfo {
  /** profile_idc, e.g. 66 baseline, 77 main, 100 high. */
  readonly profileIdc: number;
  /** The constraint_set0..5 flags and reserved bits as one byte. */
  readonly constraintFlags: number;
  /** level_idc, e.g. 31 for level 3.1. */
  readonly levelIdc: number;
  /** chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  readonly chromaFormatIdc: number;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  /** False for interlaced-capable streams (frame_mbs_only_flag = 0). */
  readonly frameMbsOnly: boolean;
  /** Displayed width in pixels, after frame cropping. */
  readonly width: number;
  /** Displayed height in pixels, after frame cropping. */
  readonly height: number;
}

/** What an AVCDecoderConfigurationRecord carries (ISO/IEC 14496-15 §5.2.4.1.1). */
export interface AvcDecoderConfig {
  readonly profileIdc: number;
  readonly profileCompatibility: number;
  readonly levelIdc: number;
  /** NAL unit length field size in bytes (lengthSizeMinusOne + 1). */
  readonly nalLengthSize: number;
  /** SPS NAL units (with their 1-byte NAL header, still escaped). */
  readonly sps: readonly Buffer[];
  /** PPS NAL units. */
  readonly pps: readonly Buffer[];
}

/** Profiles whose SPS carries chroma_format_idc and friends (H.264 §7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: BitReader, size: number): void {
  // H.264 §7.3.2.1.1.1
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/**
 * Parses an H.264 sequence parameter set NAL unit (starting with its NAL header byte, type 7)
 * per ITU-T H.264 §7.3.2.1.1, including high-profile chroma format / bit depth / scaling
 * matrices, picture order count type 1, interlace and frame cropping (§7.4.2.1.1 CropUnitX/Y).
 * VUI is not read.
 *
 * @throws RtmpProtocolError `BITSTREAM_MALFORMED` if the NAL is not an SPS or is truncated.
 */
export function parseH264Sps(nal: Buffer): H264SpsInfo {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) throw new RtmpProtocolError('BITSTREAM_MALFORMED', 'not an SPS NAL unit');
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.bits(8);
  const constraintFlags = r.bits(8);
  const levelIdc = r.bits(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) throw new RtmpProtocolError('BITSTREAM_MALFORMED', `chroma_format_idc ${chromaFormatIdc}`);
    if (chromaFormatIdc === 3) separateColourPlane = r.bit();
    bitDepthLuma = r.ue() + 8;
    bitDepthChroma = r.ue() + 8;
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit()) {
      // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) throw new RtmpProtocolError('BITSTREAM_MALFORMED', `num_ref_frames_in_pic_order_cnt_cycle ${cycle}`);
    for (let i = 0; i < cycle; i++) r.se();
  } else if (pocType !== 2) {
    throw new RtmpProtocolError('BITSTREAM_MALFORMED', `pic_order_cnt_type ${pocType}`);
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.bit()) {
    cropLeft = r.ue();
    cropRight = r.ue();
    cropTop = r.ue();
    cropBottom = r.ue();
  }
  // §7.4.2.1.1: ChromaArrayType and the crop units it implies.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  let cropUnitX = 1;
  let cropUnitY = 2 - frameMbsOnly;
  if (chromaArrayType !== 0) {
    const subWidthC = chromaFormatIdc === 3 ? 1 : 2;
    const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
    cropUnitX = subWidthC;
    cropUnitY = subHeightC * (2 - frameMbsOnly);
  }
  const width = widthInMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0) throw new RtmpProtocolError('BITSTREAM_MALFORMED', `cropping leaves ${width}x${height}`);
  return { profileIdc, constraintFlags, levelIdc, chromaFormatIdc, bitDepthLuma, bitDepthChroma, frameMbsOnly: frameMbsOnly === 1, width, height };
}

/**
 * Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1.1), the body of an
 * FLV/RTMP AVC sequence header after its 5-byte video tag header.
 *
 * @throws RtmpProtocolError `BITSTREAM_MALFORMED` on a wrong version or truncated record.
 */
export function parseAvcDecoderConfig(rec: Buffer): AvcDecoderConfig {
  const fail = (why: string): never => {
    throw new RtmpProtocolError('BITSTREAM_MALFORMED', `AVCDecoderConfigurationRecord: ${why}`);
  };
  if (rec.length < 7) fail('shorter than 7 bytes');
  if (rec[0] !== 1) fail(`configurationVersion ${rec[0]}`);
  let p = 5;
  const readSets = (count: number): Buffer[] => {
    const sets: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (p + 2 > rec.length) fail('truncated parameter set length');
      const len = rec.readUInt16BE(p);
      p += 2;
      if (p + len > rec.length) fail('truncated parameter set');
      sets.push(rec.subarray(p, p + len));
      p += len;
    }
    return sets;
  };
  const sps = readSets(rec[p++]! & 0x1f);
  if (p >= rec.length) fail('missing PPS count');
  const pps = readSets(rec[p++]!);
  return { profileIdc: rec[1]!, profileCompatibility: rec[2]!, levelIdc: rec[3]!, nalLengthSize: (rec[4]! & 3) + 1, sps, pps };
}

/**
 * RFC 6381 §3.3 codec string for H.264: `avc1.PPCCLL` with profile_idc, the constraint flag byte
 * and level_idc as two upper-case hex digits each, e.g. `avc1.64001F`.
 */
export function avcCodecString(profileIdc: number, constraintFlags: number, levelIdc: number): string {
  const hex = (v: number): string => v.toString(16).toUpperCase().padStart(2, '0');
  return `avc1.${hex(profileIdc)}${hex(constraintFlags)}${hex(levelIdc)}`;
}
