import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mp4ParseError, codecsFromInitSegment, topLevelBoxes } from '../src/index.js';

function box(type: string, ...payload: Uint8Array[]): Buffer {
  const body = Buffer.concat(payload);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
}
const bytes = (...b: number[]) => Buffer.from(b);
const zeros = (n: number) => Buffer.alloc(n);

/** A minimal init segment: H.264 Main 3.1 video track + AAC-LC audio track. */
function initSegment(): Buffer {
  const avcC = box('avcC', bytes(1, 0x4d, 0x40, 0x1f, 0xff, 0xe0, 0x00));
  const avc1 = box('avc1', zeros(78), avcC);
  const esdsBody = Buffer.concat([
    zeros(4), // FullBox
    bytes(0x03, 0x19, 0x00, 0x01, 0x00), // ES_Descriptor, ES_ID 1, no flags
    bytes(0x04, 0x11, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), // DecoderConfig: OTI 0x40 (MPEG-4 audio)
    bytes(0x05, 0x02, 0x11, 0x90), // AudioSpecificConfig: AOT 2 (LC), 48 kHz, 2 ch
    bytes(0x06, 0x01, 0x02), // SLConfig
  ]);
  const mp4a = box('mp4a', zeros(28), box('esds', esdsBody));
  const trak = (entry: Buffer) =>
    box('trak', box('tkhd', zeros(84)), box('mdia', box('minf', box('stbl', box('stsd', zeros(4), bytes(0, 0, 0, 1), entry)))));
  return Buffer.concat([box('ftyp', Buffer.from('iso6'), zeros(4)), box('moov', box('mvhd', zeros(100)), trak(avc1), trak(mp4a))]);
}

describe('codecsFromInitSegment', () => {
  it('reads avc1 and mp4a codec strings (RFC 6381) from the sample entries', () => {
    expect(codecsFromInitSegment(initSegment())).toEqual(['avc1.4d401f', 'mp4a.40.2']);
  });

  it('refuses a corrupt box size', () => {
    const broken = initSegment();
    broken.writeUInt32BE(0xffff, 0);
    expect(() => codecsFromInitSegment(broken)).toThrow(Mp4ParseError);
  });
});

describe('topLevelBoxes', () => {
  const faststart = Buffer.concat([box('ftyp', zeros(8)), box('moov', zeros(20)), box('mdat', zeros(50))]);

  it('lists boxes with offsets and sizes, from bytes and from a file', async () => {
    const expected = [
      { type: 'ftyp', offset: 0, size: 16 },
      { type: 'moov', offset: 16, size: 28 },
      { type: 'mdat', offset: 44, size: 58 },
    ];
    expect(await topLevelBoxes(faststart)).toEqual(expected);
    const dir = await mkdtemp(path.join(tmpdir(), 'live-mp4-'));
    try {
      const file = path.join(dir, 'a.mp4');
      await writeFile(file, faststart);
      expect(await topLevelBoxes(file)).toEqual(expected);
      // 64-bit largesize and size 0 ("to the end of the file")
      const large = Buffer.concat([bytes(0, 0, 0, 1), Buffer.from('mdat'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 24]), zeros(8)]);
      const toEnd = Buffer.concat([bytes(0, 0, 0, 0), Buffer.from('mdat'), zeros(30)]);
      await writeFile(file, Buffer.concat([box('ftyp', zeros(8)), large, toEnd]));
      expect(await topLevelBoxes(file)).toEqual([
        { type: 'ftyp', offset: 0, size: 16 },
        { type: 'mdat', offset: 16, size: 24 },
        { type: 'mdat', offset: 40, size: 38 },
      ]);
      await writeFile(file, faststart.subarray(0, 60));
      await expect(topLevelBoxes(file)).rejects.toBeInstanceOf(Mp4ParseError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses truncated input', async () => {
    await expect(topLevelBoxes(faststart.subarray(0, 50))).rejects.toBeInstanceOf(Mp4ParseError);
  });
});
