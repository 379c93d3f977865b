/**
 * H.264 (ITU-T H.264) bitstream helpers, pure: shared by the ingest's SPS parser and the
 * packager's caption detection.
 */

/**
 * The RBSP of a NAL unit's payload: emulation prevention bytes removed, `00 00 03` → `00 00`
 * (H.264 §7.4.1). Returns a view of a new buffer as long as what remains.
 */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}
