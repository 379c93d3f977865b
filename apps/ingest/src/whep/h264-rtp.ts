/**
 * H.264 over RTP for WHEP viewers (RFC 6184), pure: the NAL units of an FLV/RTMP AVC video tag
 * (ISO/IEC 14496-15 length-prefixed, "AVCC") and the RTP payloads that carry one access unit in
 * non-interleaved mode (`packetization-mode=1`): a NAL unit that fits goes in a Single NAL Unit
 * packet (§5.6), a larger one is split into FU-A fragments (§5.8). The RTP header (sequence
 * number, timestamp, marker on the access unit's last packet, §5.1) is the caller's.
 */

/** An AVC tag body that does not hold whole length-prefixed NAL units. */
export class H264FormatError extends Error {
  override readonly name = 'H264FormatError';
}

/** NAL unit types used here (ITU-T H.264 Table 7-1). */
export const NalType = { IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9 } as const;

/** The nal_unit_type of a NAL unit (its first byte's low 5 bits); -1 for an empty unit. */
export function nalType(nal: Buffer): number {
  return nal.length === 0 ? -1 : nal[0]! & 0x1f;
}

/**
 * Splits `data` (the NAL units of one access unit, each prefixed by its length in
 * `nalLengthSize` bytes, 1–4, big-endian, from the AVCDecoderConfigurationRecord) into NAL units
 * (views of `data`, no copy). Zero-length units are skipped.
 * @throws H264FormatError when a length runs past the end of `data` or `nalLengthSize` is not 1–4.
 */
export function avccNalUnits(data: Buffer, nalLengthSize: number): Buffer[] {
  if (!Number.isInteger(nalLengthSize) || nalLengthSize < 1 || nalLengthSize > 4) throw new H264FormatError(`NAL length size ${nalLengthSize} is not 1 to 4`);
  const out: Buffer[] = [];
  let p = 0;
  while (p < data.length) {
    if (p + nalLengthSize > data.length) throw new H264FormatError(`truncated NAL length at byte ${p}`);
    const len = data.readUIntBE(p, nalLengthSize);
    p += nalLengthSize;
    if (p + len > data.length) throw new H264FormatError(`NAL unit of ${len} bytes at byte ${p} runs past the ${data.length}-byte tag`);
    if (len > 0) out.push(data.subarray(p, p + len));
    p += len;
  }
  return out;
}

/**
 * The NAL units to send for one access unit: access unit delimiters dropped (WebRTC receivers
 * need none), and the stream's SPS and PPS put in front of an IDR picture that does not carry
 * them in band (an FLV stream keeps them in its sequence header only, and a viewer that joins at
 * this IDR must receive them; RFC 6184 §8.4 sends parameter sets in band).
 */
export function accessUnitNalUnits(nalus: readonly Buffer[], sps: readonly Buffer[], pps: readonly Buffer[]): Buffer[] {
  const kept = nalus.filter((n) => nalType(n) !== NalType.AUD);
  if (!kept.some((n) => nalType(n) === NalType.IDR) || kept.some((n) => nalType(n) === NalType.SPS)) return kept;
  return [...sps, ...pps, ...kept];
}

/**
 * RTP payloads carrying `nalus`, one access unit, in order (RFC 6184 non-interleaved mode): a
 * unit of at most `maxPayloadBytes` as a Single NAL Unit packet (§5.6, the unit itself); a larger
 * one as FU-A fragments (§5.8: FU indicator = the unit's F and NRI bits with type 28, FU header
 * = S/E bits and the unit's type, then up to `maxPayloadBytes - 2` bytes of the unit after its
 * header byte). The last payload is the one to send with the RTP marker bit set.
 * @throws RangeError when `maxPayloadBytes` is below 3.
 */
export function packetizeH264(nalus: readonly Buffer[], maxPayloadBytes: number): Buffer[] {
  if (!(maxPayloadBytes >= 3)) throw new RangeError(`maxPayloadBytes ${maxPayloadBytes} is below 3`);
  const out: Buffer[] = [];
  for (const nal of nalus) {
    if (nal.length === 0) continue;
    if (nal.length <= maxPayloadBytes) {
      out.push(nal);
      continue;
    }
    const indicator = (nal[0]! & 0xe0) | 28;
    const type = nal[0]! & 0x1f;
    const chunk = maxPayloadBytes - 2;
    for (let p = 1; p < nal.length; p += chunk) {
      const end = Math.min(p + chunk, nal.length);
      const fu = Buffer.allocUnsafe(2 + end - p);
      fu[0] = indicator;
      fu[1] = (p === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
      nal.copy(fu, 2, p, end);
      out.push(fu);
    }
  }
  return out;
}

/** Reads the signed 24-bit CompositionTime of an FLV AVC video tag body (FLV v10.1 §E.4.3.1), ms; 0 for a body under 5 bytes. */
export function avcCompositionTime(tagBody: Buffer): number {
  return tagBody.length < 5 ? 0 : tagBody.readIntBE(2, 3);
}

/**
 * The `profile-level-id` (RFC 6184 §8.1: profile_idc, constraint flags, level_idc as 6 hex
 * digits, lower case) of a stream from its SPS's first three bytes after the NAL header; null
 * when the SPS is shorter.
 */
export function profileLevelId(sps: Buffer | undefined): string | null {
  if (!sps || sps.length < 4) return null;
  return sps.subarray(1, 4).toString('hex');
}
