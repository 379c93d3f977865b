import { open } from 'node:fs/promises';
import { Mp4ParseError } from './formats/fmp4.js';

export { Mp4ParseError };

/** An ISO BMFF box (ISO/IEC 14496-12 §4.2): four-character `type`, byte `offset` in the file, total `size` in bytes (header included). */
export interface Mp4Box {
  type: string;
  offset: number;
  size: number;
}

function readHeader(buf: Uint8Array, at: number, end: number): { type: string; size: number; headerSize: number } {
  if (at + 8 > end) throw new Mp4ParseError(`truncated box header at ${at}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let size = view.getUint32(at);
  const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
  let headerSize = 8;
  if (size === 1) {
    if (at + 16 > end) throw new Mp4ParseError(`truncated largesize at ${at}`);
    size = Number(view.getBigUint64(at + 8));
    headerSize = 16;
  } else if (size === 0) {
    size = end - at; // box extends to the end of the enclosing space
  }
  if (size < headerSize || at + size > end) throw new Mp4ParseError(`box ${JSON.stringify(type)} at ${at} has bad size ${size}`);
  return { type, size, headerSize };
}

/**
 * Lists the top-level boxes of an MP4 file (ISO/IEC 14496-12 §4.2), in file order, e.g.
 * `ftyp, moov, mdat` for a `+faststart` file. For a path, only the box headers are read (a
 * few bytes per box), so it is cheap on multi-gigabyte recordings.
 *
 * Use it to check that `moov` precedes `mdat` (progressive playback can start before the
 * whole file is downloaded).
 *
 * @param input the file's bytes, or a local file path.
 * @throws {Mp4ParseError} on a malformed box size; file system errors for a path.
 */
export async function topLevelBoxes(input: Uint8Array | string): Promise<Mp4Box[]> {
  const boxes: Mp4Box[] = [];
  if (typeof input !== 'string') {
    for (let at = 0; at < input.byteLength; ) {
      const h = readHeader(input, at, input.byteLength);
      boxes.push({ type: h.type, offset: at, size: h.size });
      at += h.size;
    }
    return boxes;
  }
  const handle = await open(input, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const header = new Uint8Array(16);
    const view = new DataView(header.buffer);
    for (let at = 0; at < fileSize; ) {
      const { bytesRead } = await handle.read(header, 0, Math.min(16, fileSize - at), at);
      if (bytesRead < 8) throw new Mp4ParseError(`truncated box header at ${at}`);
      const type = String.fromCharCode(header[4]!, header[5]!, header[6]!, header[7]!);
      let size = view.getUint32(0);
      let headerSize = 8;
      if (size === 1) {
        if (bytesRead < 16) throw new Mp4ParseError(`truncated largesize at ${at}`);
        size = Number(view.getBigUint64(8));
        headerSize = 16;
      } else if (size === 0) {
        size = fileSize - at;
      }
      if (size < headerSize || at + size > fileSize) throw new Mp4ParseError(`box ${JSON.stringify(type)} at ${at} has bad size ${size}`);
      boxes.push({ type, offset: at, size });
      at += size;
    }
  } finally {
    await handle.close();
  }
  return boxes;
}

function* children(buf: Uint8Array, start: number, end: number): Generator<{ type: string; start: number; body: number; end: number }> {
  for (let at = start; at + 8 <= end; ) {
    const h = readHeader(buf, at, end);
    yield { type: h.type, start: at, body: at + h.headerSize, end: at + h.size };
    at += h.size;
  }
}

function findPath(buf: Uint8Array, start: number, end: number, path: readonly string[]): Array<{ body: number; end: number }> {
  if (path.length === 0) return [{ body: start, end }];
  const [head, ...rest] = path;
  const out: Array<{ body: number; end: number }> = [];
  for (const c of children(buf, start, end)) if (c.type === head) out.push(...findPath(buf, c.body, c.end, rest));
  return out;
}

/** Thrown inside {@link mp4aCodec} when a descriptor runs past its `esds` box. */
class Truncated extends Error {}

/** Reads an MPEG-4 descriptor header (ISO/IEC 14496-1 §8.3.3: tag + 7-bit-per-byte length). */
function descriptor(byte: (at: number) => number, at: number): { tag: number; body: number; length: number } {
  const tag = byte(at);
  let length = 0;
  let i = at + 1;
  for (let n = 0; n < 4; n++) {
    const b = byte(i++);
    length = (length << 7) | (b & 0x7f);
    if ((b & 0x80) === 0) break;
  }
  return { tag, body: i, length };
}

/** `mp4a.<oti>.<aot>` from an `esds` body; `undefined` when it is not an ES descriptor or ends early. */
function mp4aCodec(buf: Uint8Array, esdsBody: number, esdsEnd: number): string | undefined {
  const byte = (i: number): number => {
    if (i >= esdsEnd) throw new Truncated();
    return buf[i]!;
  };
  try {
    let at = esdsBody + 4; // FullBox version + flags
    const es = descriptor(byte, at);
    if (es.tag !== 0x03) return undefined;
    at = es.body + 2; // ES_ID
    const flags = byte(at++);
    if (flags & 0x80) at += 2; // dependsOn_ES_ID
    if (flags & 0x40) at += 1 + byte(at); // URL
    if (flags & 0x20) at += 2; // OCR_ES_Id
    const dc = descriptor(byte, at);
    if (dc.tag !== 0x04) return undefined;
    const oti = byte(dc.body);
    if (dc.body + 13 >= esdsEnd) return `mp4a.${oti.toString(16)}`;
    const dsi = descriptor(byte, dc.body + 13);
    if (dsi.tag !== 0x05 || dsi.length < 1) return `mp4a.${oti.toString(16)}`;
    let aot = byte(dsi.body) >> 3;
    if (aot === 31) aot = 32 + (((byte(dsi.body) & 0x07) << 3) | (byte(dsi.body + 1) >> 5));
    return `mp4a.${oti.toString(16)}.${aot}`;
  } catch (err) {
    if (err instanceof Truncated) return undefined;
    throw err;
  }
}

/**
 * The RFC 6381 codec strings of the tracks in an fMP4 init segment (or any MP4 with a
 * `moov`), in track order: `avc1.PPCCLL` from the `avcC` record (ISO/IEC 14496-15
 * §5.3.3.1) and `mp4a.40.<audioObjectType>` from `esds` (ISO/IEC 14496-1/-3). Other sample
 * entries are reported by their four-character code. This is what the master playlist's
 * CODECS attribute must say (RFC 8216bis §4.4.6.2).
 *
 * @throws {Mp4ParseError} on malformed boxes.
 */
export function codecsFromInitSegment(init: Uint8Array): string[] {
  const out: string[] = [];
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  for (const stsd of findPath(init, 0, init.byteLength, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])) {
    // FullBox header (4) + entry_count (4), then sample entries
    for (const entry of children(init, stsd.body + 8, stsd.end)) {
      if (entry.type === 'avc1' || entry.type === 'avc3') {
        // VisualSampleEntry fields take 78 bytes before its child boxes
        const avcC = [...children(init, entry.body + 78, entry.end)].find((c) => c.type === 'avcC');
        if (avcC && avcC.end - avcC.body < 4) throw new Mp4ParseError(`avcC at ${avcC.start} is too short (${avcC.end - avcC.body} bytes)`);
        if (avcC) out.push(`${entry.type}.${hex(init[avcC.body + 1]!)}${hex(init[avcC.body + 2]!)}${hex(init[avcC.body + 3]!)}`);
        else out.push(entry.type);
      } else if (entry.type === 'mp4a') {
        // AudioSampleEntry fields take 28 bytes before its child boxes
        const esds = [...children(init, entry.body + 28, entry.end)].find((c) => c.type === 'esds');
        out.push((esds && mp4aCodec(init, esds.body, esds.end)) ?? 'mp4a.40.2');
      } else {
        out.push(entry.type);
      }
    }
  }
  return out;
}
