/**
 * In-band closed captions of an H.264 rendition, pure: whether its samples carry CEA-608 caption
 * data, as encoders embed it (OBS's captions, broadcast sources; x264 passes it on by default,
 * `-a53cc`): SEI messages of type 4, `user_data_registered_itu_t_t35` (H.264 §D.1.6), with the
 * ATSC A/53 Part 4 `GA94` payload whose `cc_data` (CEA-708 §4.4) holds 608 pairs (`cc_type` 0 for
 * field 1, CC1/CC2; 1 for field 2, CC3/CC4). A master playlist declares what it finds
 * (`CLOSED-CAPTIONS`, RFC 8216bis §4.4.6.2), so players need not fetch a segment to look.
 */
import { avcNalLengthSize, parseInitTracks, trackSampleRanges } from './fmp4.js';
import type { MasterClosedCaptions } from './playlist.js';
import { unescapeRbsp } from './h264.js';

/**
 * What a rendition's segment says about in-band captions: `cea-608` with the 608 fields seen
 * (`1`: CC1/CC2, `2`: CC3/CC4), `none`, or `unknown` (not H.264, no video track, or bytes it
 * cannot read, such as an encrypted segment).
 */
export type InbandCaptions = { readonly kind: 'cea-608'; readonly fields: ReadonlySet<1 | 2> } | { readonly kind: 'none' } | { readonly kind: 'unknown' };

/** ITU-T T.35 country code of the United States, and the ATSC provider code (A/53 Part 4 §6.2.3). */
const T35_USA = 0xb5;
const T35_ATSC = 0x0031;
/** `GA94` (A/53 Part 4 user_identifier) and its `cc_data` type code. */
const GA94 = 0x47413934;
const CC_DATA_TYPE = 0x03;

/**
 * The 608 fields of the `cc_data` in one SEI NAL unit's payload (after its header byte), added
 * to `into`. Reads SEI messages until `rbsp_trailing_bits` or the end (H.264 §7.3.2.3).
 */
function cea608FieldsOfSei(sei: Uint8Array, into: Set<1 | 2>): void {
  const rbsp = unescapeRbsp(sei);
  let p = 0;
  while (p < rbsp.length && rbsp[p] !== 0x80) {
    let type = 0;
    while (rbsp[p] === 0xff) {
      type += 255;
      p++;
    }
    type += rbsp[p++] ?? 0;
    let size = 0;
    while (rbsp[p] === 0xff) {
      size += 255;
      p++;
    }
    size += rbsp[p++] ?? 0;
    const body = rbsp.subarray(p, p + size);
    p += size;
    // country(1) provider(2) user_identifier(4) user_data_type_code(1) cc header(1) em_data(1) cc_count x 3
    if (type !== 4 || body.length < 10 || body[0] !== T35_USA || ((body[1]! << 8) | body[2]!) !== T35_ATSC) continue;
    if (((body[3]! << 24) | (body[4]! << 16) | (body[5]! << 8) | body[6]!) >>> 0 !== GA94 || body[7] !== CC_DATA_TYPE) continue;
    const count = body[8]! & 0x1f;
    for (let i = 0; i < count && 10 + i * 3 + 2 < body.length; i++) {
      const marker = body[10 + i * 3]!;
      const valid = (marker & 0x04) !== 0;
      const ccType = marker & 0x03;
      if (valid && ccType === 0) into.add(1);
      if (valid && ccType === 1) into.add(2);
    }
  }
}

/**
 * Looks for CEA-608 caption data in the video samples of `media` (one or more fragments of the
 * stream `init` starts): every SEI NAL unit of every sample of the first video track. Never
 * throws: bytes it cannot read give `unknown`.
 */
export function detectInbandCaptions(init: Uint8Array, media: Uint8Array): InbandCaptions {
  try {
    const tracks = parseInitTracks(init);
    const video = tracks.find((t) => t.handler === 'vide');
    if (!video) return { kind: 'unknown' };
    const lengthSize = avcNalLengthSize(init, video.id);
    if (lengthSize === null) return { kind: 'unknown' };
    const ranges = trackSampleRanges(media, video.id, tracks);
    if (ranges.length === 0) return { kind: 'unknown' };
    const fields = new Set<1 | 2>();
    for (const { start, end } of ranges) {
      for (let p = start; p + lengthSize <= end;) {
        let length = 0;
        for (let i = 0; i < lengthSize; i++) length = length * 256 + media[p + i]!;
        p += lengthSize;
        if (length === 0 || p + length > end) return { kind: 'unknown' }; // not length-prefixed NAL units (encrypted, or not H.264)
        if ((media[p]! & 0x1f) === 6) cea608FieldsOfSei(media.subarray(p + 1, p + length), fields);
        p += length;
      }
    }
    return fields.size > 0 ? { kind: 'cea-608', fields } : { kind: 'none' };
  } catch {
    return { kind: 'unknown' };
  }
}

/**
 * What a master playlist declares for what {@link detectInbandCaptions} found: `none`; the
 * first channel of each 608 field seen (`CC1` for field 1, `CC3` for field 2: the channels
 * captioners use; which of a field's two channels carries text would need the 608 control
 * codes); undefined when unknown (the playlist then says nothing, as before).
 */
export function masterClosedCaptionsOf(found: InbandCaptions): MasterClosedCaptions | undefined {
  if (found.kind === 'unknown') return undefined;
  if (found.kind === 'none') return 'none';
  const channels: ('CC1' | 'CC3')[] = [];
  if (found.fields.has(1)) channels.push('CC1');
  if (found.fields.has(2)) channels.push('CC3');
  return { channels };
}
