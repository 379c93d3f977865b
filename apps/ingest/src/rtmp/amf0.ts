/**
 * AMF0 encoding and decoding (Adobe "Action Message Format -- AMF 0", December 2007).
 *
 * Value mapping:
 *
 * | AMF0 marker (§2.x)            | JavaScript                                              |
 * | ----------------------------- | ------------------------------------------------------- |
 * | number 0x00 (§2.2)            | `number`                                                |
 * | boolean 0x01 (§2.3)           | `boolean`                                               |
 * | string 0x02 / long string 0x0C| `string` (encoder picks long string above 65535 bytes)  |
 * | object 0x03 (§2.5)            | plain object (`AmfObject`)                              |
 * | null 0x05 / undefined 0x06    | `null` / `undefined`                                    |
 * | ECMA array 0x08 (§2.10)       | plain object marked with {@link AMF0_ECMA_ARRAY}        |
 * | strict array 0x0A (§2.12)     | `AmfValue[]`                                            |
 * | date 0x0B (§2.13)             | `Date` (time zone is written as 0 and ignored on read)  |
 * | object end 0x09 (§2.11)       | terminates objects / ECMA arrays; never a value itself  |
 * | unsupported 0x0D, XML 0x0F,   | decoded as `undefined`, `string`, and a plain object    |
 * | typed object 0x10             | (class name dropped); never produced by the encoder     |
 *
 * Movie clip, reference, record set and the AMF3 switch are rejected.
 */
import { RtmpProtocolError } from './errors.js';

/** Any value the AMF0 codec can represent (see the module comment for the mapping). */
export type AmfValue = number | boolean | string | null | undefined | Date | AmfValue[] | AmfObject;

/** An AMF0 anonymous object or ECMA array: string keys to AMF0 values. */
export interface AmfObject {
  [key: string]: AmfValue;
}

/**
 * Non-enumerable marker property set on objects decoded from an ECMA array (AMF0 §2.10), and
 * read by the encoder to write an ECMA array instead of an anonymous object. Use
 * {@link ecmaArray} to create one.
 */
export const AMF0_ECMA_ARRAY: unique symbol = Symbol.for('live.ingest.amf0.ecmaArray');

/** Deepest object/array nesting the decoder accepts before throwing `AMF0_MALFORMED`. */
export const AMF0_MAX_DEPTH = 32;

const enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  MovieClip = 0x04,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  RecordSet = 0x0e,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
  AvmPlus = 0x11,
}

/**
 * Returns a copy of `entries` marked so that {@link encodeAmf0} writes it as an AMF0 ECMA array
 * (AMF0 §2.10), the shape `onMetaData` uses.
 */
export function ecmaArray(entries: AmfObject): AmfObject {
  const out: AmfObject = {};
  for (const [k, v] of Object.entries(entries)) setOwn(out, k, v);
  Object.defineProperty(out, AMF0_ECMA_ARRAY, { value: true, enumerable: false });
  return out;
}

/** True when `value` was decoded from, or marked as, an AMF0 ECMA array. */
export function isEcmaArray(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { [AMF0_ECMA_ARRAY]?: boolean })[AMF0_ECMA_ARRAY] === true;
}

/** True for a decoded AMF0 object or ECMA array (not an array, Date or null). */
export function isAmfObject(value: unknown): value is AmfObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Own-property assignment that is safe for the key `__proto__`. */
function setOwn(obj: AmfObject, key: string, value: AmfValue): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Amf0Reader {
  pos: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new RtmpProtocolError('AMF0_TRUNCATED', `AMF0 ${what}: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  private u8(what: string): number {
    this.need(1, what);
    return this.buf.readUInt8(this.pos++);
  }

  private utf8(length: number, what: string): string {
    this.need(length, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  private shortString(what: string): string {
    this.need(2, what);
    const len = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return this.utf8(len, what);
  }

  value(depth: number): AmfValue {
    if (depth > AMF0_MAX_DEPTH) throw new RtmpProtocolError('AMF0_MALFORMED', `AMF0 nesting deeper than ${AMF0_MAX_DEPTH}`);
    const marker = this.u8('marker');
    switch (marker) {
      case Marker.Number: {
        this.need(8, 'number');
        const v = this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case Marker.Boolean:
        return this.u8('boolean') !== 0;
      case Marker.String:
        return this.shortString('string');
      case Marker.LongString:
      case Marker.XmlDocument: {
        this.need(4, 'long string length');
        const len = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        return this.utf8(len, 'long string');
      }
      case Marker.Object:
        return this.objectBody(depth + 1, {});
      case Marker.TypedObject:
        this.shortString('typed object class name');
        return this.objectBody(depth + 1, {});
      case Marker.EcmaArray: {
        // The associative-count is a hint only; entries run until the object-end marker (§2.10).
        this.need(4, 'ECMA array count');
        this.pos += 4;
        const obj: AmfObject = {};
        Object.defineProperty(obj, AMF0_ECMA_ARRAY, { value: true, enumerable: false });
        return this.objectBody(depth + 1, obj);
      }
      case Marker.StrictArray: {
        this.need(4, 'strict array count');
        const count = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
        if (count > this.buf.length - this.pos) {
          throw new RtmpProtocolError('AMF0_TRUNCATED', `AMF0 strict array announces ${count} elements, only ${this.buf.length - this.pos} bytes left`);
        }
        const arr: AmfValue[] = [];
        for (let i = 0; i < count; i++) arr.push(this.value(depth + 1));
        return arr;
      }
      case Marker.Date: {
        this.need(10, 'date');
        const ms = this.buf.readDoubleBE(this.pos);
        this.pos += 10; // 8-byte double + 2-byte time zone (reserved, "should be 0x0000", §2.13)
        return new Date(ms);
      }
      case Marker.Null:
        return null;
      case Marker.Undefined:
      case Marker.Unsupported:
        return undefined;
      case Marker.ObjectEnd:
        throw new RtmpProtocolError('AMF0_MALFORMED', `AMF0 object-end marker outside an object at offset ${this.pos - 1}`);
      case Marker.MovieClip:
      case Marker.Reference:
      case Marker.RecordSet:
      case Marker.AvmPlus:
      default:
        throw new RtmpProtocolError('AMF0_MALFORMED', `AMF0 marker 0x${marker.toString(16).padStart(2, '0')} is not supported`);
    }
  }

  /**
   * Reads `key value` pairs until the empty key followed by the object-end marker (§2.5).
   * `depth` is the depth of the properties' values: `value` bounds it, so an empty object is
   * accepted at the same depth as an empty strict array (and as the encoder writes it).
   */
  private objectBody(depth: number, obj: AmfObject): AmfObject {
    for (;;) {
      const key = this.shortString('property name');
      if (key === '') {
        this.need(1, 'object end');
        if (this.buf[this.pos] === Marker.ObjectEnd) {
          this.pos++;
          return obj;
        }
      }
      setOwn(obj, key, this.value(depth));
    }
  }
}

/**
 * Decodes one AMF0 value starting at `offset` (AMF0 §2).
 *
 * @returns the value and the offset just past it.
 * @throws RtmpProtocolError `AMF0_TRUNCATED` if the buffer ends inside the value,
 *   `AMF0_MALFORMED` for unsupported markers, a stray object-end or nesting deeper than
 *   {@link AMF0_MAX_DEPTH}. Never reads outside `buf`.
 */
export function decodeAmf0Value(buf: Buffer, offset = 0): { value: AmfValue; offset: number } {
  const r = new Amf0Reader(buf, offset);
  const value = r.value(0);
  return { value, offset: r.pos };
}

/**
 * Decodes every AMF0 value in `buf` back to back, e.g. the body of an RTMP command message
 * (RTMP 1.0 §7.1.1: name, transaction id, command object, arguments...).
 *
 * @throws RtmpProtocolError as {@link decodeAmf0Value}.
 */
export function decodeAmf0(buf: Buffer): AmfValue[] {
  const r = new Amf0Reader(buf, 0);
  const out: AmfValue[] = [];
  while (r.pos < buf.length) out.push(r.value(0));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Amf0Writer {
  private readonly parts: Buffer[] = [];

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  private u8(v: number): void {
    this.parts.push(Buffer.from([v]));
  }

  private u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0, 0);
    this.parts.push(b);
  }

  private double(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(v, 0);
    this.parts.push(b);
  }

  private key(k: string): void {
    const s = Buffer.from(k, 'utf8');
    if (s.length > 0xffff) throw new RangeError(`AMF0 property name longer than 65535 bytes`);
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(s.length, 0);
    this.parts.push(b, s);
  }

  value(v: AmfValue, depth: number): void {
    if (depth > AMF0_MAX_DEPTH) throw new RangeError(`AMF0 value nests deeper than ${AMF0_MAX_DEPTH} (cycle?)`);
    if (v === null) return this.u8(Marker.Null);
    if (v === undefined) return this.u8(Marker.Undefined);
    switch (typeof v) {
      case 'number':
        this.u8(Marker.Number);
        return this.double(v);
      case 'boolean':
        this.u8(Marker.Boolean);
        return this.u8(v ? 1 : 0);
      case 'string': {
        const s = Buffer.from(v, 'utf8');
        if (s.length <= 0xffff) {
          this.u8(Marker.String);
          const b = Buffer.allocUnsafe(2);
          b.writeUInt16BE(s.length, 0);
          this.parts.push(b, s);
        } else {
          this.u8(Marker.LongString);
          this.u32(s.length);
          this.parts.push(s);
        }
        return;
      }
      default:
        break;
    }
    if (v instanceof Date) {
      this.u8(Marker.Date);
      this.double(v.getTime());
      this.parts.push(Buffer.from([0, 0]));
      return;
    }
    if (Array.isArray(v)) {
      this.u8(Marker.StrictArray);
      this.u32(v.length);
      for (const item of v) this.value(item, depth + 1);
      return;
    }
    const entries = Object.entries(v);
    if (isEcmaArray(v)) {
      this.u8(Marker.EcmaArray);
      this.u32(entries.length);
    } else {
      this.u8(Marker.Object);
    }
    for (const [k, item] of entries) {
      this.key(k);
      this.value(item, depth + 1);
    }
    this.parts.push(Buffer.from([0, 0, Marker.ObjectEnd]));
  }
}

/**
 * Encodes values back to back as AMF0 (AMF0 §2), e.g. `encodeAmf0('_result', 1, props, info)`
 * for an RTMP command message body (RTMP 1.0 §7.1.1).
 *
 * @throws RangeError for a property name over 65535 bytes or nesting deeper than
 *   {@link AMF0_MAX_DEPTH} (which also catches cycles).
 */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  const w = new Amf0Writer();
  for (const v of values) w.value(v, 0);
  return w.bytes();
}
