/**
 * An incremental FLV demuxer (Adobe Flash Video File Format Specification v10.1, annex E): turns
 * the byte stream ffmpeg writes with `-f flv pipe:1` into the {@link MediaMessage}s an RTMP
 * publish produces, so protocols remuxed by ffmpeg (SRT's MPEG-TS, WHIP's RTP) feed the same
 * relay, health reports and media info as RTMP. Pure: no I/O.
 */
import { decodeAmf0, parseAudioTagHeader, parseVideoTagHeader, type MediaMessage } from '../rtmp/index.js';

/** A byte stream that is not FLV, or a tag over the size bound. */
export class FlvFormatError extends Error {
  override readonly name = 'FlvFormatError';
}

/** FLV TagType values (§E.4.1). */
const AUDIO = 8;
const VIDEO = 9;
const SCRIPT = 18;

/** Default {@link FlvReader} bound on one tag's body, bytes (16 MiB, twice RTMP's message bound). */
export const DEFAULT_MAX_FLV_TAG_BYTES = 16 * 1024 * 1024;

/**
 * Reads an FLV stream chunk by chunk. {@link push} returns the complete tags of the bytes so far as
 * messages (timestamps in ms, 32-bit with TimestampExtended; `data` with the decoded AMF0 values);
 * tags of other types and empty bodies are skipped.
 */
export class FlvReader {
  private buf: Buffer = Buffer.alloc(0);
  private headerDone = false;

  constructor(private readonly maxTagBytes = DEFAULT_MAX_FLV_TAG_BYTES) {}

  /**
   * Appends `chunk` and returns the messages it completes.
   * @throws FlvFormatError on a missing `FLV` signature, a bad DataOffset, a tag whose DataSize
   *   exceeds the bound, or a script tag that is not AMF0.
   */
  push(chunk: Buffer): MediaMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: MediaMessage[] = [];
    let p = 0;
    if (!this.headerDone) {
      if (this.buf.length < 9) return out;
      if (this.buf.toString('latin1', 0, 3) !== 'FLV') throw new FlvFormatError('not an FLV stream (no "FLV" signature)');
      const dataOffset = this.buf.readUInt32BE(5);
      if (dataOffset < 9 || dataOffset > 1024) throw new FlvFormatError(`bad FLV DataOffset ${dataOffset}`);
      if (this.buf.length < dataOffset + 4) return out;
      p = dataOffset + 4; // PreviousTagSize0
      this.headerDone = true;
    }
    while (p + 11 <= this.buf.length) {
      const type = this.buf[p]! & 0x1f;
      const size = this.buf.readUIntBE(p + 1, 3);
      if (size > this.maxTagBytes) throw new FlvFormatError(`FLV tag of ${size} bytes exceeds ${this.maxTagBytes}`);
      if (p + 11 + size + 4 > this.buf.length) break;
      const timestamp = (this.buf.readUIntBE(p + 4, 3) | (this.buf[p + 7]! << 24)) >>> 0;
      const body = this.buf.subarray(p + 11, p + 11 + size);
      p += 11 + size + 4;
      const msg = toMessage(type, timestamp, Buffer.from(body));
      if (msg) out.push(msg);
    }
    this.buf = p === 0 ? this.buf : this.buf.subarray(p);
    return out;
  }

  /** Bytes held waiting for the rest of a tag. */
  get pendingBytes(): number {
    return this.buf.length;
  }
}

function toMessage(type: number, timestamp: number, payload: Buffer): MediaMessage | undefined {
  if (payload.length === 0) return undefined;
  if (type === VIDEO) {
    const tag = parseVideoTagHeader(payload);
    return tag && { kind: 'video', timestamp, payload, keyframe: tag.keyframe, sequenceHeader: tag.sequenceHeader };
  }
  if (type === AUDIO) {
    const tag = parseAudioTagHeader(payload);
    return tag && { kind: 'audio', timestamp, payload, keyframe: false, sequenceHeader: tag.sequenceHeader };
  }
  if (type === SCRIPT) {
    let values;
    try {
      values = decodeAmf0(payload);
    } catch (err) {
      throw new FlvFormatError(`bad FLV script tag: ${(err as Error).message}`);
    }
    return { kind: 'data', timestamp, payload, keyframe: false, sequenceHeader: false, values };
  }
  return undefined;
}
