/**
 * Finds the elementary stream types of an MPEG-TS publish (ISO/IEC 13818-1 §2.4.4: the PAT on
 * PID 0 names the first program's PMT PID; the PMT lists each stream's `stream_type`) so the SRT
 * listener knows, before it starts the remux, whether the video is H.264 (0x1b, copied) or HEVC
 * (0x24, transcoded: Debian's ffmpeg 5.1 cannot put HEVC in FLV), and can close a connection
 * whose bytes are not MPEG-TS at all. Pure and incremental: feed the bytes as they arrive.
 * Sections are read from the packet that starts them (PAT and PMT fit one 188-byte packet in
 * practice; a longer one is reported as not found).
 */

/** MPEG-TS packet size, bytes. */
export const TS_PACKET_SIZE = 188;
/** `stream_type` values (ISO/IEC 13818-1 Table 2-34 and its amendments). */
export const STREAM_TYPE = { H264: 0x1b, HEVC: 0x24, AAC_ADTS: 0x0f, AAC_LATM: 0x11 } as const;

/** The PMT's streams, in order. */
export interface TsProgram {
  /** PID of the PMT. */
  readonly pmtPid: number;
  readonly streams: ReadonlyArray<{ readonly streamType: number; readonly pid: number }>;
}

/** What {@link TsProgramProbe.push} found so far. */
export type TsProbeResult =
  | { readonly state: 'more' }
  | { readonly state: 'found'; readonly program: TsProgram }
  | { readonly state: 'not-ts'; readonly reason: string };

/** The video codec named by a program (first video stream), for the remux's codec choice. */
export function videoCodecOf(program: TsProgram): 'h264' | 'hevc' | 'other' | 'none' {
  for (const s of program.streams) {
    if (s.streamType === STREAM_TYPE.H264) return 'h264';
    if (s.streamType === STREAM_TYPE.HEVC) return 'hevc';
    if ([0x01, 0x02, 0x10, 0x20, 0x42, 0xd1, 0xea].includes(s.streamType)) return 'other';
  }
  return 'none';
}

/** Incremental PAT/PMT reader (see the module comment). */
export class TsProgramProbe {
  private carry: Buffer = Buffer.alloc(0);
  private seen = 0;
  private pmtPid: number | undefined;
  private done: TsProbeResult | undefined;

  /** @param maxBytes bytes read without finding the PMT before the input is deemed not MPEG-TS (default 1 MiB). */
  constructor(private readonly maxBytes = 1024 * 1024) {}

  /** Feeds the next bytes; once `found` or `not-ts`, later calls return the same result. */
  push(chunk: Buffer): TsProbeResult {
    if (this.done) return this.done;
    this.seen += chunk.length;
    let buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let i = 0;
    while (buf.length - i >= TS_PACKET_SIZE) {
      if (buf[i] !== 0x47 || (buf.length - i >= 2 * TS_PACKET_SIZE && buf[i + TS_PACKET_SIZE] !== 0x47)) {
        i++; // resynchronise on the sync byte
        continue;
      }
      const found = this.packet(buf.subarray(i, i + TS_PACKET_SIZE));
      if (found) return (this.done = { state: 'found', program: found });
      i += TS_PACKET_SIZE;
    }
    buf = buf.subarray(i);
    this.carry = Buffer.from(buf.subarray(Math.max(0, buf.length - 2 * TS_PACKET_SIZE)));
    if (this.seen > this.maxBytes) {
      return (this.done = { state: 'not-ts', reason: `no MPEG-TS program table in the first ${this.maxBytes} bytes` });
    }
    return { state: 'more' };
  }

  private packet(p: Buffer): TsProgram | undefined {
    const pusi = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    if (!pusi || (pid !== 0 && pid !== this.pmtPid)) return undefined;
    const afc = (p[3]! >> 4) & 0x3;
    if ((afc & 0x1) === 0) return undefined; // no payload
    let off = 4;
    if (afc & 0x2) off += 1 + p[4]!;
    if (off >= p.length) return undefined;
    off += 1 + p[off]!; // pointer_field
    if (off + 3 > p.length) return undefined;
    const sectionLength = ((p[off + 1]! & 0x0f) << 8) | p[off + 2]!;
    const end = off + 3 + sectionLength - 4; // without CRC_32
    if (end > p.length || sectionLength < 9) return undefined;
    if (pid === 0 && p[off] === 0x00) {
      for (let j = off + 8; j + 4 <= end; j += 4) {
        const program = p.readUInt16BE(j);
        if (program !== 0) {
          this.pmtPid = p.readUInt16BE(j + 2) & 0x1fff;
          break;
        }
      }
      return undefined;
    }
    if (p[off] !== 0x02) return undefined;
    const programInfoLength = p.readUInt16BE(off + 10) & 0x0fff;
    const streams: Array<{ streamType: number; pid: number }> = [];
    for (let j = off + 12 + programInfoLength; j + 5 <= end;) {
      streams.push({ streamType: p[j]!, pid: p.readUInt16BE(j + 1) & 0x1fff });
      j += 5 + (p.readUInt16BE(j + 3) & 0x0fff);
    }
    return { pmtPid: pid, streams };
  }
}
