/**
 * The PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and 2,
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt): what a TCP load balancer
 * (HAProxy `send-proxy` / `send-proxy-v2`, AWS NLB, …) writes at the start of each connection
 * it opens to a backend, naming the client's address and port. Pure parsing; the reading of a
 * socket is `read.ts`.
 *
 * - v1 (§2.1): one text line `PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>\r\n`, or
 *   `PROXY UNKNOWN…\r\n`; at most 107 bytes with the CRLF.
 * - v2 (§2.2): the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`, a version/command byte (`0x2_`;
 *   command LOCAL `0x0` or PROXY `0x1`), a family/transport byte, a 16-bit big-endian length,
 *   then the addresses (INET 12 bytes, INET6 36, UNIX 216) and optional TLVs (skipped).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The v2 signature (§2.2). */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Longest v1 line, CRLF included (§2.1). */
export const PROXY_V1_MAX_BYTES = 107;
/** Longest v2 header we accept: 16 bytes and a length of at most this (addresses and TLVs). */
export const PROXY_V2_MAX_PAYLOAD = 1024;

/** A client endpoint named by the header. */
export interface ProxyEndpoint {
  /** IPv4 dotted quad or IPv6 text (as the header carries it). */
  readonly address: string;
  /** TCP port, 0-65535. */
  readonly port: number;
}

/** Outcome of {@link parseProxyHeader}. */
export type ProxyHeaderParse =
  /** More bytes are needed (nothing invalid so far). */
  | { readonly kind: 'incomplete' }
  /**
   * A complete header of `length` bytes (the connection's own data follows it). `source` is the
   * client for a proxied TCP connection; undefined for v1 `UNKNOWN`, v2 `LOCAL` (the proxy's
   * own connection, e.g. a health check) and families other than INET/INET6: the connection's
   * own peer address then stands.
   */
  | { readonly kind: 'header'; readonly version: 1 | 2; readonly length: number; readonly source?: ProxyEndpoint; readonly destination?: ProxyEndpoint }
  /** Not a PROXY header, or a malformed one; `reason` says what (for the log). */
  | { readonly kind: 'invalid'; readonly reason: string };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

/**
 * Parses the PROXY header at the start of `buf` (the first bytes a connection sent).
 * Never throws; see {@link ProxyHeaderParse}.
 */
export function parseProxyHeader(buf: Buffer): ProxyHeaderParse {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (buf[0] === PROXY_V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

function prefixMatches(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text) || (text.length > 1 && text.startsWith('0'))) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ProxyHeaderParse {
  if (!prefixMatches(buf, V1_PREFIX)) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  const end = buf.subarray(0, PROXY_V1_MAX_BYTES).indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= PROXY_V1_MAX_BYTES ? { kind: 'invalid', reason: 'PROXY v1 line longer than 107 bytes' } : { kind: 'incomplete' };
  const length = end + 2;
  const fields = buf.subarray(V1_PREFIX.length, end).toString('latin1').split(' ');
  if (fields[0] === 'UNKNOWN') return { kind: 'header', version: 1, length };
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return { kind: 'invalid', reason: 'malformed PROXY v1 line' };
  const [proto, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : isIPv6;
  const sp = port(sport);
  const dp = port(dport);
  if (!valid(src) || !valid(dst) || sp === undefined || dp === undefined) return { kind: 'invalid', reason: `malformed PROXY v1 ${proto} addresses` };
  return { kind: 'header', version: 1, length, source: { address: src, port: sp }, destination: { address: dst, port: dp } };
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // the canonical form (RFC 5952): the longest run of zero groups (two or more) becomes `::`
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function parseV2(buf: Buffer): ProxyHeaderParse {
  if (!prefixMatches(buf, PROXY_V2_SIGNATURE)) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `PROXY v2 version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `PROXY v2 command ${command}` };
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  const payload = buf.readUInt16BE(14);
  if (payload > PROXY_V2_MAX_PAYLOAD) return { kind: 'invalid', reason: `PROXY v2 header of ${payload} bytes` };
  const length = 16 + payload;
  if (buf.length < length) return { kind: 'incomplete' };
  if (command === 0) return { kind: 'header', version: 2, length }; // LOCAL
  const body = buf.subarray(16, length);
  if (transport !== 1 || (family !== 1 && family !== 2)) return { kind: 'header', version: 2, length }; // not TCP over IP: keep the peer address
  const need = family === 1 ? 12 : 36;
  if (body.length < need) return { kind: 'invalid', reason: `PROXY v2 address block of ${body.length} bytes` };
  if (family === 1) {
    return {
      kind: 'header', version: 2, length,
      source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) },
      destination: { address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10) },
    };
  }
  return {
    kind: 'header', version: 2, length,
    source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
    destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
  };
}
