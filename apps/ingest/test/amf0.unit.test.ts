import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AMF0_MAX_DEPTH, decodeAmf0, decodeAmf0Value, ecmaArray, encodeAmf0, isEcmaArray, RtmpProtocolError, type AmfValue } from '../src/rtmp/index.js';

const hex = (b: Buffer): string => b.toString('hex');
const roundTrip = (v: AmfValue): AmfValue => {
  const { value, offset } = decodeAmf0Value(encodeAmf0(v));
  expect(offset).toBe(encodeAmf0(v).length);
  return value;
};

function expectProtocolError(fn: () => unknown, code?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(RtmpProtocolError);
  if (code) expect((caught as RtmpProtocolError).code).toBe(code);
}

describe('AMF0 encoding (AMF0 spec §2)', () => {
  it('writes the byte layout of each marker', () => {
    expect(hex(encodeAmf0(1))).toBe('003ff0000000000000'); // §2.2 number: IEEE-754 double, big-endian
    expect(hex(encodeAmf0(true, false))).toBe('01010100'); // §2.3
    expect(hex(encodeAmf0('connect'))).toBe('020007636f6e6e656374'); // §2.4 UTF-8, u16 length
    expect(hex(encodeAmf0(null, undefined))).toBe('0506'); // §2.7, §2.8
    expect(hex(encodeAmf0({ a: 1 }))).toBe('0300016100' + '3ff0000000000000' + '000009'); // §2.5 + object end §2.11
    expect(hex(encodeAmf0(ecmaArray({ a: true })))).toBe('080000000100016101' + '01' + '000009'); // §2.10
    expect(hex(encodeAmf0([1, 'x']))).toBe('0a00000002' + '003ff0000000000000' + '02000178'); // §2.12
    expect(hex(encodeAmf0(new Date(0)))).toBe('0b' + '0000000000000000' + '0000'); // §2.13
  });

  it('switches to a long string above 65535 bytes (§2.14)', () => {
    const long = 'é'.repeat(40_000); // 80 000 UTF-8 bytes
    const enc = encodeAmf0(long);
    expect(enc[0]).toBe(0x0c);
    expect(enc.readUInt32BE(1)).toBe(80_000);
    expect(roundTrip(long)).toBe(long);
    expect(encodeAmf0('x'.repeat(65535))[0]).toBe(0x02);
  });
});

describe('AMF0 round trips', () => {
  it.each<[string, AmfValue]>([
    ['number', 29.97],
    ['negative number', -1e300],
    ['integer', 4_294_967_296],
    ['infinity', Number.POSITIVE_INFINITY],
    ['boolean true', true],
    ['boolean false', false],
    ['empty string', ''],
    ['unicode string', 'ストリーム 🎥'],
    ['null', null],
    ['undefined', undefined],
    ['empty object', {}],
    ['strict array', [1, 'two', null, [true]]],
    ['empty strict array', []],
  ])('%s', (_name, v) => {
    expect(roundTrip(v)).toEqual(v);
  });

  it('NaN', () => {
    expect(roundTrip(Number.NaN)).toBeNaN();
  });

  it('date (time zone ignored)', () => {
    const d = new Date('2024-05-01T12:34:56.789Z');
    const out = roundTrip(d);
    expect(out).toBeInstanceOf(Date);
    expect((out as Date).getTime()).toBe(d.getTime());
  });

  it('nested objects, arrays and ECMA arrays', () => {
    const v: AmfValue = {
      app: 'live',
      tcUrl: 'rtmp://localhost/live',
      capabilities: 239,
      nested: { deeper: { list: [1, { x: 'y' }, ecmaArray({ k: false })], when: new Date(1000) } },
      meta: ecmaArray({ width: 1280, height: 720, encoder: 'Lavf', stereo: true, inner: ecmaArray({ a: null }) }),
    };
    const out = roundTrip(v) as Record<string, AmfValue>;
    expect(out).toEqual(v);
    expect(isEcmaArray(out.meta)).toBe(true);
    expect(isEcmaArray((out.meta as Record<string, AmfValue>).inner)).toBe(true);
    expect(isEcmaArray(out.nested)).toBe(false);
    // Re-encoding the decoded value yields identical bytes: markers survive.
    expect(hex(encodeAmf0(out))).toBe(hex(encodeAmf0(v)));
  });

  it('decodes a command message body of several values', () => {
    const body = encodeAmf0('connect', 1, { app: 'live', objectEncoding: 0 }, null);
    expect(decodeAmf0(body)).toEqual(['connect', 1, { app: 'live', objectEncoding: 0 }, null]);
  });

  it('ignores the ECMA array count hint and reads to the object end', () => {
    // count says 0 but two entries follow (some encoders do this)
    const buf = Buffer.from('08' + '00000000' + '000161' + '0101' + '000162' + '0100' + '000009', 'hex');
    const v = decodeAmf0Value(buf).value;
    expect(v).toEqual({ a: true, b: false });
    expect(isEcmaArray(v)).toBe(true);
  });

  it('decodes unsupported (0x0D) as undefined, XML document as a string, typed object as an object', () => {
    expect(decodeAmf0(Buffer.from('0d', 'hex'))).toEqual([undefined]);
    expect(decodeAmf0(Buffer.from('0f00000003' + '3c612f', 'hex'))).toEqual(['<a/']);
    expect(decodeAmf0(Buffer.from('10' + '000143' + '000178' + '0101' + '000009', 'hex'))).toEqual([{ x: true }]);
  });

  it('keeps a "__proto__" key as data without touching the prototype', () => {
    const buf = Buffer.from('03' + '00095f5f70726f746f5f5f' + '0101' + '000009', 'hex');
    const v = decodeAmf0Value(buf).value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('AMF0 malformed input', () => {
  const sample = encodeAmf0('onMetaData', ecmaArray({ width: 1280, title: 'x', list: [1, 'a', { b: null }] }), { d: new Date(5) }, 'long'.repeat(10));

  it('throws RtmpProtocolError for every truncation of a valid buffer', () => {
    // sample has 4 values; any cut inside a value must throw, never read past the end
    const boundaries = new Set<number>([0]);
    let off = 0;
    while (off < sample.length) {
      off = decodeAmf0Value(sample, off).offset;
      boundaries.add(off);
    }
    for (let cut = 1; cut < sample.length; cut++) {
      if (boundaries.has(cut)) continue;
      expectProtocolError(() => decodeAmf0(sample.subarray(0, cut)), 'AMF0_TRUNCATED');
    }
  });

  it('rejects unsupported markers (movie clip, reference, record set, AMF3 switch, unknown)', () => {
    for (const m of ['04', '0700', '0e', '11', '12', 'ff']) {
      expectProtocolError(() => decodeAmf0(Buffer.from(m, 'hex')), 'AMF0_MALFORMED');
    }
  });

  it('rejects a stray object-end marker', () => {
    expectProtocolError(() => decodeAmf0(Buffer.from('09', 'hex')), 'AMF0_MALFORMED');
  });

  it('rejects an object that never ends', () => {
    expectProtocolError(() => decodeAmf0(Buffer.from('03000161' + '0101', 'hex')), 'AMF0_TRUNCATED');
  });

  it('bounds the nesting depth', () => {
    // build [[[[...]]]] as strict arrays of one element
    const parts: Buffer[] = [];
    for (let i = 0; i < AMF0_MAX_DEPTH + 5; i++) parts.push(Buffer.from('0a00000001', 'hex'));
    parts.push(Buffer.from('05', 'hex'));
    expectProtocolError(() => decodeAmf0(Buffer.concat(parts)), 'AMF0_MALFORMED');
    const objs: Buffer[] = [];
    for (let i = 0; i < 1000; i++) objs.push(Buffer.from('03000161', 'hex'));
    expectProtocolError(() => decodeAmf0(Buffer.concat(objs)), 'AMF0_MALFORMED');
  });

  it('rejects a strict array count larger than the remaining bytes without allocating it', () => {
    expectProtocolError(() => decodeAmf0(Buffer.from('0affffffff05', 'hex')), 'AMF0_TRUNCATED');
  });

  it('rejects long string lengths beyond the buffer', () => {
    expectProtocolError(() => decodeAmf0(Buffer.from('0cffffffff41', 'hex')), 'AMF0_TRUNCATED');
    expectProtocolError(() => decodeAmf0(Buffer.from('02ffff41', 'hex')), 'AMF0_TRUNCATED');
  });

  it('never throws anything but RtmpProtocolError on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const buf = randomBytes(1 + (i % 64));
      buf[0] = buf[0]! % 0x13; // mostly valid markers, to get deeper into the decoder
      try {
        decodeAmf0(buf);
      } catch (err) {
        expect(err).toBeInstanceOf(RtmpProtocolError);
      }
    }
  });
});
