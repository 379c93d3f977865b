/**
 * The client's address behind trusted reverse proxies (`TRUST_PROXY`), for servers that are not
 * Fastify (Fastify apps pass the same list as its `trustProxy` option, which uses the same
 * library): walk `X-Forwarded-For` from the nearest hop back while each hop is trusted, and
 * take the first untrusted address (RFC 7239 §5.2 semantics of the de-facto header; the
 * `proxy-addr` algorithm Express and Fastify use).
 */
import proxyaddr from '@fastify/proxy-addr';

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
