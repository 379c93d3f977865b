/**
 * Loaders of the playback read models (ChannelPlaybackPolicyChanged, projections.ts): the
 * channel's policy for the API's token route and the edge, the session → channel mapping of
 * VOD paths, and allow-list membership.
 */
import type { Kysely } from 'kysely';
import type { PlaybackEncryption, PlaybackVisibility } from '@live/events';
import type { Database } from './schema.js';

/** A channel's playback policy as projected. */
export interface ChannelPlaybackPolicy {
  readonly channelId: string;
  readonly visibility: PlaybackVisibility;
  readonly encryption: PlaybackEncryption;
  /** The allow-list (user ids, sorted); only loaded with `{ withAllowList: true }`, else empty. */
  readonly allowList: readonly string[];
  /** Every token issued for the channel is bound to the requester's address. */
  readonly bindAddress: boolean;
  /**
   * Count of the channel's ChannelPlaybackPolicyChanged events (0 = never set). Tokens carry the
   * version they were issued under; the edge refuses older ones.
   */
  readonly version: number;
}

/**
 * The playback policy of `channelId`, or null when there is no such channel. A channel that
 * never changed its policy reads `public`, unencrypted, unbound, version 0 (the column defaults).
 * @param opts.withAllowList also load the allow-list (up to 1000 ids; the edge does not need it).
 */
export async function channelPlaybackPolicy(db: Kysely<Database>, channelId: string, opts: { withAllowList?: boolean } = {}): Promise<ChannelPlaybackPolicy | null> {
  const c = await db.selectFrom('channels').select(['id', 'playback_visibility', 'playback_encrypted', 'playback_key_rotation_segments', 'playback_bind_address', 'playback_policy_version'])
    .where('id', '=', channelId).executeTakeFirst();
  if (!c) return null;
  const allowList = opts.withAllowList
    ? (await db.selectFrom('channel_playback_allowlist').select('user_id').where('channel_id', '=', channelId).orderBy('user_id').execute()).map((r) => r.user_id)
    : [];
  return {
    channelId: c.id, visibility: c.playback_visibility,
    encryption: { enabled: c.playback_encrypted, rotateEverySegments: c.playback_key_rotation_segments },
    allowList, bindAddress: c.playback_bind_address, version: c.playback_policy_version,
  };
}

/**
 * Whether playing `policy`'s channel needs a playback token: a `followers` or `allowlist`
 * channel, or an encrypted one (its keys are served to token holders only). The rule of every
 * playback path: the edge's HLS, DASH and keys, and the ingest's WHEP.
 */
export function playbackTokenRequired(policy: Pick<ChannelPlaybackPolicy, 'visibility' | 'encryption'>): boolean {
  return policy.visibility !== 'public' || policy.encryption.enabled;
}

/** The id of the channel whose id or slug is `idOrSlug`, or null when there is none. */
export async function channelIdByIdOrSlug(db: Kysely<Database>, idOrSlug: string): Promise<string | null> {
  const r = await db.selectFrom('channels').select('id').where((eb) => eb.or([eb('id', '=', idOrSlug), eb('slug', '=', idOrSlug)])).executeTakeFirst();
  return r?.id ?? null;
}

/** True when `userId` is on the playback allow-list of `channelId`. */
export async function isPlaybackAllowListed(db: Kysely<Database>, channelId: string, userId: string): Promise<boolean> {
  return !!(await db.selectFrom('channel_playback_allowlist').select('user_id').where('channel_id', '=', channelId).where('user_id', '=', userId).executeTakeFirst());
}

/** The channel a stream session belongs to (from `stream_sessions`), or null for an unknown session. */
export async function sessionChannelId(db: Kysely<Database>, sessionId: string): Promise<string | null> {
  const r = await db.selectFrom('stream_sessions').select('channel_id').where('session_id', '=', sessionId).executeTakeFirst();
  return r?.channel_id ?? null;
}
