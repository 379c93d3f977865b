/** A minimal FLV reader (FLV spec v10.1 annex E) for asserting what the relay writes. */
export interface FlvTagRead {
  type: number;
  timestamp: number;
  body: Buffer;
}

export interface FlvRead {
  flags: number;
  tags: FlvTagRead[];
  /** Bytes after the last complete tag. */
  trailing: number;
}

export function readFlv(buf: Buffer): FlvRead {
  if (buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('no FLV signature');
  const flags = buf[4]!;
  const dataOffset = buf.readUInt32BE(5);
  let p = dataOffset;
  if (buf.readUInt32BE(p) !== 0) throw new Error('PreviousTagSize0 must be 0');
  p += 4;
  const tags: FlvTagRead[] = [];
  while (p + 11 <= buf.length) {
    const type = buf[p]!;
    const size = buf.readUIntBE(p + 1, 3);
    const timestamp = (buf.readUIntBE(p + 4, 3) | (buf[p + 7]! << 24)) >>> 0;
    if (p + 11 + size + 4 > buf.length) break;
    const body = buf.subarray(p + 11, p + 11 + size);
    const prev = buf.readUInt32BE(p + 11 + size);
    if (prev !== 11 + size) throw new Error(`PreviousTagSize ${prev} != ${11 + size}`);
    tags.push({ type, timestamp, body });
    p += 11 + size + 4;
  }
  return { flags, tags, trailing: buf.length - p };
}
