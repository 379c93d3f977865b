import { RtmpProtocolError } from './errors.js';

/**
 * MSB-first bit reader with Exp-Golomb support (ITU-T H.264 §7.2 read_bits, §9.1 ue(v)/se(v)),
 * used for SPS and AudioSpecificConfig parsing. Bounded: never reads past the buffer.
 *
 * @throws RtmpProtocolError `BITSTREAM_MALFORMED` when a read runs past the end or an Exp-Golomb
 *   code has more than 31 leading zero bits.
 */
export class BitReader {
  private bitPos = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** Bits not yet read. */
  get bitsLeft(): number {
    return this.buf.length * 8 - this.bitPos;
  }

  /** Reads one bit (u(1)). */
  bit(): number {
    if (this.bitPos >= this.buf.length * 8) throw new RtmpProtocolError('BITSTREAM_MALFORMED', 'bitstream ended early');
    const v = (this.buf[this.bitPos >> 3]! >> (7 - (this.bitPos & 7))) & 1;
    this.bitPos++;
    return v;
  }

  /** Reads `n` bits, 0 ≤ n ≤ 32, as an unsigned integer (u(n)). */
  bits(n: number): number {
    if (n > this.bitsLeft) throw new RtmpProtocolError('BITSTREAM_MALFORMED', 'bitstream ended early');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** Skips `n` bits. */
  skip(n: number): void {
    if (n > this.bitsLeft) throw new RtmpProtocolError('BITSTREAM_MALFORMED', 'bitstream ended early');
    this.bitPos += n;
  }

  /** Unsigned Exp-Golomb ue(v) (H.264 §9.1). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RtmpProtocolError('BITSTREAM_MALFORMED', 'Exp-Golomb code longer than 32 bits');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** Signed Exp-Golomb se(v) (H.264 §9.1.1). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
