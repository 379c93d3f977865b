/**
 * Fragmented MP4 stream cutting for the low-latency packager: split a growing fMP4 byte stream
 * into its init segment (`ftyp` + `moov`) and its fragments (`moof` + `mdat`). Their timing is
 * read by `formats/fmp4.ts` (re-exported here).
 */
import { Mp4ParseError } from './formats/fmp4.js';

export { parseFragment, parseInitTracks, type Fmp4FragmentInfo, type Fmp4Track, type Fmp4TrackRun } from './formats/fmp4.js';

/** A unit cut from an fMP4 byte stream by {@link Fmp4Splitter}: the init segment, or one fragment (its `moof` + `mdat`, plus any `styp`/`prft`/`emsg` before them). */
export type Fmp4Chunk = { kind: 'init'; bytes: Buffer } | { kind: 'fragment'; bytes: Buffer };

/**
 * Incremental splitter of a fragmented MP4 byte stream (ffmpeg `-f mp4 -movflags
 * +empty_moov+frag_keyframe+default_base_moof`, written to a growing file or a pipe).
 * Push bytes as they arrive; complete units come out, a partially written box stays buffered
 * until its remaining bytes arrive (box sizes are known from their headers, §4.2).
 *
 * The init segment is everything before the first `moof` (`ftyp`, `moov`, possibly `free`);
 * a fragment ends with the `mdat` following its `moof`. A trailing `mfra` (unless the muxer
 * was told `skip_trailer`) is dropped.
 */
export class Fmp4Splitter {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Buffer[] = [];
  private sawInit = false;

  /**
   * Appends `chunk` and returns the units it completed, in stream order.
   *
   * @throws {Mp4ParseError} on a box with an impossible size (smaller than its header).
   */
  push(chunk: Uint8Array): Fmp4Chunk[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Fmp4Chunk[] = [];
    let at = 0;
    for (;;) {
      if (this.buf.length - at < 8) break;
      let size = this.buf.readUInt32BE(at);
      const type = this.buf.toString('latin1', at + 4, at + 8);
      if (size === 1) {
        if (this.buf.length - at < 16) break;
        size = Number(this.buf.readBigUInt64BE(at + 8));
      } else if (size === 0) {
        break; // extends to end of stream: wait for end()
      }
      if (size < 8) throw new Mp4ParseError(`box ${JSON.stringify(type)} has bad size ${size}`);
      if (this.buf.length - at < size) break;
      const box = this.buf.subarray(at, at + size);
      at += size;
      if (type === 'moof' && !this.sawInit) {
        out.push({ kind: 'init', bytes: Buffer.concat(this.pending) });
        this.pending = [];
        this.sawInit = true;
      }
      if (type === 'mfra') continue;
      this.pending.push(Buffer.from(box));
      if (type === 'mdat' && this.sawInit) {
        out.push({ kind: 'fragment', bytes: Buffer.concat(this.pending) });
        this.pending = [];
      }
    }
    this.buf = Buffer.from(this.buf.subarray(at));
    return out;
  }

  /** Bytes received but not yet part of a complete unit (for diagnostics at end of stream). */
  get buffered(): number {
    return this.buf.length + this.pending.reduce((n, b) => n + b.length, 0);
  }
}
