/**
 * The client's address behind trusted reverse proxies (`TRUST_PROXY`), for servers that are not
 * Fastify (Fastify apps pass the same list as its `trustProxy` option, which uses the same
 * library): walk `X-Forwarded-For` from the nearest hop back while each hop is trusted, and
 * take the first untrusted address (RFC 7239 §5.2 semantics of the de-facto header; the
 * `proxy-addr` algorithm Express and Fastify use).
 */
import proxyaddr from '@fastify/proxy-addr';
import { mappedIPv4 } from './bounds.js';

/** A compiled trust list: `(address, hopIndex) => trusted`. */
export type ProxyTrust = (addr: string, i: number) => boolean;

/**
 * Compiles `TRUST_PROXY` entries (IP addresses, CIDRs, `loopback`, `linklocal`,
 * `uniquelocal`); an empty or absent list trusts nobody (the TCP peer is the client).
 * @throws TypeError on an entry that is not an address or CIDR (the config loader's pattern
 *   keeps those out).
 */
export function compileProxyTrust(entries: readonly string[] | undefined): ProxyTrust {
  if (!entries || entries.length === 0) return () => false;
  return proxyaddr.compile([...entries]);
}

/**
 * The client's address for a request whose TCP peer is `peerAddress` and whose
 * `X-Forwarded-For` header is `forwardedFor` (undefined or '' when absent).
 */
export function clientAddress(peerAddress: string, forwardedFor: string | undefined, trust: ProxyTrust): string {
  const req = { socket: { remoteAddress: peerAddress }, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} };
  return proxyaddr(req as unknown as Parameters<typeof proxyaddr>[0], trust);
}

/**
 * The trust list of a server that is reached only through a front of its own on loopback (the
 * edge's uWS front, which appends each viewer's TCP address to `X-Forwarded-For`): the front,
 * hop 0, is trusted, and `entries` (`TRUST_PROXY`) apply from the next hop on, so the server's
 * client address is the one the front would compute with `entries` itself. Only for a server
 * bound to loopback: any local process could claim to be the front.
 */
export function trustBehindLocalFront(entries: readonly string[] | undefined): ProxyTrust {
  const trust = compileProxyTrust(entries);
  return (addr, i) => i === 0 || trust(addr, i - 1);
}

const FULL_IPV6 = /^[0-9a-f]{4}(?::[0-9a-f]{4}){7}$/i;

/**
 * A socket address as Node's `socket.remoteAddress` writes it, from the uncompressed form
 * uWebSockets.js gives for IPv6 sockets (`getRemoteAddressAsText`): an IPv4-mapped address as
 * `::ffff:a.b.c.d`, another IPv6 address compressed (RFC 5952), anything else unchanged.
 * E.g. `0000:0000:0000:0000:0000:ffff:7f00:0001` → `::ffff:127.0.0.1`, `…:0001` → `::1`. Pure.
 */
export function nodeStyleAddress(text: string): string {
  if (!FULL_IPV6.test(text)) return text;
  const v4 = mappedIPv4(text.split(':').map((x) => parseInt(x, 16)));
  if (v4 !== null) return `::ffff:${v4}`;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}
