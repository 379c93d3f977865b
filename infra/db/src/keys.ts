import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Prefix of every stream key, so that a leaked key is recognisable by secret scanners. */
export const STREAM_KEY_PREFIX = 'live_';

/** Generates a new stream key: `live_` + 32 base64url chars (192 random bits). */
export function generateStreamKey(): string {
  return STREAM_KEY_PREFIX + randomBytes(24).toString('base64url');
}

/** Hex SHA-256 of a stream key: the only form in which keys are stored. */
export function hashStreamKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Why {@link checkStreamKey} refused a key:
 * - `UNKNOWN_STREAM_KEY`: no key with that hash (or an empty / over-long key);
 * - `STREAM_KEY_DISABLED`: the key's status is `disabled` or `revoked` (the description says which);
 * - `STREAM_KEY_EXPIRED`: `expires_at` is at or before the check time;
 * - `ADDRESS_NOT_ALLOWED`: the key has an address allow-list and the publisher is outside it.
 */
export type StreamKeyRefusalCode = 'UNKNOWN_STREAM_KEY' | 'STREAM_KEY_DISABLED' | 'STREAM_KEY_EXPIRED' | 'ADDRESS_NOT_ALLOWED';

/** Outcome of looking a stream key up for a publish. `keyId` is `stream_keys.id`. */
export type StreamKeyCheck =
  | { ok: true; channelId: string; keyId: string }
  | { ok: false; code: StreamKeyRefusalCode; description: string };

/** Options of {@link checkStreamKey}. */
export interface CheckStreamKeyOptions {
  /**
   * The publisher's IP address as the socket reports it (`socket.remoteAddress`): IPv4, IPv6,
   * IPv4-mapped IPv6 (`::ffff:1.2.3.4`, treated as the IPv4 address) or IPv6 with a zone
   * (`fe80::1%eth0`, zone ignored). Required to pass a key that has an address allow-list:
   * when it is missing, such a key is refused with ADDRESS_NOT_ALLOWED (fail closed).
   */
  remoteAddress?: string;
  /** The time to check expiry against; default now. */
  now?: Date;
}

/** An IP address in the form {@link BlockList} checks: IPv4 dotted quad or IPv6, with its family. */
export interface NormalizedIpAddress {
  readonly address: string;
  readonly family: 'ipv4' | 'ipv6';
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * Normalises a socket address for CIDR matching: trims it, drops an IPv6 zone id (`%eth0`) and
 * turns an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) into plain IPv4.
 * @returns null when `address` is not an IP address (e.g. `unknown`). Never throws.
 */
export function normalizeIpAddress(address: string): NormalizedIpAddress | null {
  let a = address.trim();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = IPV4_MAPPED.exec(a);
  if (mapped && isIP(mapped[1]!) === 4) return { address: mapped[1]!, family: 'ipv4' };
  const v = isIP(a);
  if (v === 4) return { address: a, family: 'ipv4' };
  if (v === 6) return { address: a, family: 'ipv6' };
  return null;
}

/** One parsed CIDR block (RFC 4632 §3.1 prefix notation; RFC 4291 §2.3 for IPv6). */
export interface CidrBlock {
  /** The address part as written (host bits are not required to be zero; they are ignored). */
  readonly network: string;
  /** Prefix length in bits: 0..32 for IPv4, 0..128 for IPv6. */
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/**
 * Parses `a.b.c.d/n` or `x:y::z/n`. A bare address without `/n` is a single host (/32 or
 * /128). An IPv4-mapped IPv6 block (`::ffff:a.b.c.d/n`, n ≥ 96) is read as the IPv4 block
 * `a.b.c.d/(n - 96)`, so it matches the same publishers as the IPv4 form.
 * @returns null when `cidr` is malformed (bad address, prefix out of range or not a decimal
 * integer). Never throws.
 */
export function parseCidr(cidr: string): CidrBlock | null {
  const s = cidr.trim();
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const prefixText = slash >= 0 ? s.slice(slash + 1) : undefined;
  if (addr.includes('%')) return null;
  const mapped = IPV4_MAPPED.exec(addr);
  const family = isIP(addr) === 4 ? 'ipv4' : isIP(addr) === 6 ? 'ipv6' : null;
  if (!family) return null;
  const max = family === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefix = Number(prefixText);
    if (prefix > max) return null;
  }
  if (mapped && prefix >= 96 && isIP(mapped[1]!) === 4) return { network: mapped[1]!, prefix: prefix - 96, family: 'ipv4' };
  return { network: addr, prefix, family };
}

/**
 * True when `address` lies in at least one of `cidrs` (RFC 4632 prefix match, IPv4 and IPv6,
 * via `node:net` BlockList `addSubnet`). The address is normalised with
 * {@link normalizeIpAddress}, so `::ffff:10.1.2.3` matches `10.0.0.0/8`; an IPv4 address is
 * only matched against IPv4 blocks and an IPv6 address against IPv6 blocks. Malformed entries are
 * skipped; an empty list, a list of only malformed entries, or an address that is not an IP
 * address matches nothing (callers decide what an empty list means). Never throws.
 */
export function addressInCidrs(address: string, cidrs: readonly string[]): boolean {
  const ip = normalizeIpAddress(address);
  if (!ip) return false;
  // Only blocks of the address's own family are consulted (a BlockList may also match IPv4
  // against IPv6 rules through the ::ffff:0:0/96 space, which would make `::/0` admit every
  // IPv4 publisher); IPv4-mapped blocks were already turned into IPv4 ones by parseCidr.
  const list = new BlockList();
  let rules = 0;
  for (const c of cidrs) {
    const block = typeof c === 'string' ? parseCidr(c) : null;
    if (!block || block.family !== ip.family) continue;
    try {
      list.addSubnet(block.network, block.prefix, block.family);
      rules++;
    } catch {
      // parseCidr validated it; a block BlockList still refuses is skipped like a malformed entry.
    }
  }
  if (rules === 0) return false;
  try {
    return list.check(ip.address, ip.family);
  } catch {
    return false;
  }
}

/**
 * Checks a stream key presented by a publisher against the `stream_keys` read model.
 * Looks up by hash (an index lookup; the plaintext never reaches the database), then, in order:
 * status (`disabled` / `revoked` → STREAM_KEY_DISABLED), expiry (STREAM_KEY_EXPIRED), and the
 * key's `allowed_cidrs` (non-empty and the publisher's address in none of them, or no address
 * given → ADDRESS_NOT_ALLOWED; see {@link addressInCidrs}). Descriptions are safe to show to
 * the publisher (never the key, never the allow-list).
 * @param opts `{ remoteAddress, now }`; a `Date` is still accepted in its place (the older
 *   positional `now` form).
 * @throws the database driver's error when the query fails.
 */
export async function checkStreamKey(db: Kysely<Database>, key: string, opts: CheckStreamKeyOptions | Date = {}): Promise<StreamKeyCheck> {
  const { remoteAddress, now = new Date() } = opts instanceof Date ? { now: opts } : opts;
  if (key.length === 0 || key.length > 256) return { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'unknown stream key' };
  const row = await db.selectFrom('stream_keys').select(['id', 'channel_id', 'status', 'expires_at', 'allowed_cidrs'])
    .where('key_hash', '=', hashStreamKey(key)).executeTakeFirst();
  if (!row) return { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'unknown stream key' };
  if (row.status === 'revoked') return { ok: false, code: 'STREAM_KEY_DISABLED', description: 'stream key was revoked' };
  if (row.status !== 'active') return { ok: false, code: 'STREAM_KEY_DISABLED', description: `stream key is ${row.status}` };
  if (row.expires_at && row.expires_at.getTime() <= now.getTime()) {
    return { ok: false, code: 'STREAM_KEY_EXPIRED', description: `stream key expired at ${row.expires_at.toISOString()}` };
  }
  const cidrs = row.allowed_cidrs ?? [];
  if (cidrs.length > 0 && (remoteAddress === undefined || !addressInCidrs(remoteAddress, cidrs))) {
    const shown = remoteAddress === undefined ? 'an unknown address' : (normalizeIpAddress(remoteAddress)?.address ?? 'an unknown address');
    return { ok: false, code: 'ADDRESS_NOT_ALLOWED', description: `publishing from ${shown} is not allowed for this stream key` };
  }
  return { ok: true, channelId: row.channel_id, keyId: row.id };
}

/**
 * Ensures a channel exists (by slug) and, when `streamKey` is given and its hash is not stored
 * yet, stores it as an active key of that channel. Used by the embedded stack's bootstrap to
 * create the demo channel. Idempotent.
 * @returns the channel id.
 */
export async function ensureChannelWithKey(
  db: Kysely<Database>,
  channel: { slug: string; displayName: string; title: string },
  streamKey?: string,
): Promise<string> {
  await db.insertInto('channels')
    .values({ id: channel.slug, slug: channel.slug, display_name: channel.displayName, title: channel.title })
    .onConflict((oc) => oc.column('slug').doNothing()).execute();
  const ch = await db.selectFrom('channels').select('id').where('slug', '=', channel.slug).executeTakeFirstOrThrow();
  if (streamKey) {
    await db.insertInto('stream_keys')
      .values({ id: randomUUID(), channel_id: ch.id, key_hash: hashStreamKey(streamKey), key_last4: streamKey.slice(-4), status: 'active', expires_at: null })
      .onConflict((oc) => oc.column('key_hash').doNothing()).execute();
  }
  return ch.id;
}
