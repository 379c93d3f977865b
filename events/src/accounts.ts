/**
 * Event data of the platform's accounts, channels, stream keys and follows (issue 3). Each
 * type is registered in `EventDataByType` (catalogue.ts); subjects are built in subjects.ts.
 *
 * Aggregates and their subjects:
 * - user `evt.user.<userId>`: UserRegistered, UserProfileUpdated, UserPasswordChanged,
 *   UserRoleGranted, UserRoleRevoked, ChannelFollowed, ChannelUnfollowed, NotificationsRead;
 * - channel `evt.channel.<channelId>`: ChannelCreated, ChannelMetadataUpdated,
 *   ChannelModeratorAdded, ChannelModeratorRemoved, StreamKeyIssued, StreamKeyRotated,
 *   StreamKeyRevoked, ChannelPlaybackPolicyChanged;
 * - unique value `evt.claim.<kind>.<hash>`: UniqueValueClaimed, UniqueValueReleased (the
 *   set-validation guard that keeps usernames and emails unique: the first claim is appended
 *   with expected last subject sequence 0, so of two concurrent claims exactly one wins).
 */

/** Global roles (per-channel moderation is a separate relation, see ChannelModeratorAdded). */
export type GlobalRole = 'admin';

/** Roles a request can be authorised by. `moderator` is per channel; `streamer` = owns a channel. */
export type Role = 'viewer' | 'streamer' | 'moderator' | 'admin';

/** An account was created. `passwordHash` is an argon2id PHC string (never the password). */
export interface UserRegisteredV1 {
  readonly userId: string;
  /** As typed (case kept); unique case-insensitively. `[A-Za-z0-9_]{3,32}`. */
  readonly username: string;
  /** Lower-cased address; unique. */
  readonly email: string;
  /** NFC-normalised display name. */
  readonly displayName: string;
  readonly passwordHash: string;
  /** Global roles granted at registration (e.g. `admin` for a configured bootstrap admin). */
  readonly roles: readonly GlobalRole[];
}

/** The user's public profile now reads as given (the whole profile, not a diff). */
export interface UserProfileUpdatedV1 {
  readonly userId: string;
  readonly displayName: string;
  readonly bio: string;
}

/** The user's password changed; `passwordHash` is the new argon2id PHC string. */
export interface UserPasswordChangedV1 {
  readonly userId: string;
  readonly passwordHash: string;
}

/** An admin granted or revoked a global role. */
export interface UserRoleChangedV1 {
  readonly userId: string;
  readonly role: GlobalRole;
  /** The admin who acted. */
  readonly actorUserId: string;
}

/** Kinds of value kept unique across accounts. */
export type UniqueValueKind = 'username' | 'email';

/**
 * A unique value (normalised username or email) was claimed for a user. Appended on
 * `evt.claim.<kind>.<hash>` with an expected last subject sequence, so only one claim wins.
 */
export interface UniqueValueClaimedV1 {
  readonly kind: UniqueValueKind;
  /** Normalised value (lower-cased). */
  readonly value: string;
  readonly userId: string;
}

/** A claim was given up (the registration that made it did not complete). */
export interface UniqueValueReleasedV1 {
  readonly kind: UniqueValueKind;
  readonly value: string;
  readonly userId: string;
}

/** A channel was created. `ownerUserId` is null only for channels seeded by an operator (the demo). */
export interface ChannelCreatedV1 {
  readonly channelId: string;
  readonly ownerUserId: string | null;
  readonly displayName: string;
}

/** The channel's metadata now reads as given (the whole set, not a diff). */
export interface ChannelMetadataUpdatedV1 {
  readonly channelId: string;
  readonly title: string;
  /** A category id from {@link CATEGORIES}, or '' for none. */
  readonly category: string;
  /** Lower-case tags, at most 10 of at most 25 characters. */
  readonly tags: readonly string[];
  /** BCP 47 primary language subtag, e.g. `en`, or '' when unset. */
  readonly language: string;
  readonly mature: boolean;
  /**
   * The channel's "about" text shown on its page (plain text, at most 300 characters). Absent in
   * events written before it existed: the description is then unchanged.
   */
  readonly description?: string;
}

/** The channel owner appointed or removed a moderator. */
export interface ChannelModeratorChangedV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly actorUserId: string | null;
}

/**
 * A stream key was issued for a channel. Only the SHA-256 of the key is recorded; the key
 * itself is shown to the streamer once and never stored.
 */
export interface StreamKeyIssuedV1 {
  readonly channelId: string;
  readonly keyId: string;
  /** Hex SHA-256 of the key. */
  readonly keyHash: string;
  /** Last 4 characters, for masked listings. */
  readonly keyLast4: string;
  readonly label: string;
  /** ISO-8601 expiry, or null for a key that never expires (operator-seeded keys only). */
  readonly expiresAt: string | null;
  /** CIDR blocks a publisher's address must be in; empty = any address. */
  readonly allowedCidrs: readonly string[];
  readonly actorUserId: string | null;
}

/**
 * A key was replaced: `oldKeyId` stops working at once (a live publisher using it is
 * disconnected) and the new key, with the same label and allow-list, takes its place.
 */
export interface StreamKeyRotatedV1 extends StreamKeyIssuedV1 {
  /** The key this one replaces. */
  readonly oldKeyId: string;
}

/** A key was revoked: refused from now on; a live publisher using it is disconnected. */
export interface StreamKeyRevokedV1 {
  readonly channelId: string;
  readonly keyId: string;
  readonly actorUserId: string | null;
}

/**
 * Who may watch a channel (its live sessions and their VODs):
 * - `public`: anyone, anonymous included;
 * - `followers`: signed-in followers;
 * - `allowlist`: the users of {@link ChannelPlaybackPolicyChangedV1.allowList}.
 * The owner, the channel's moderators and admins may always watch.
 */
export type PlaybackVisibility = 'public' | 'followers' | 'allowlist';

/** Every {@link PlaybackVisibility}, in order of openness. */
export const PLAYBACK_VISIBILITIES: readonly PlaybackVisibility[] = ['public', 'followers', 'allowlist'];

/** Most user ids a playback allow-list may hold. */
export const MAX_PLAYBACK_ALLOWLIST = 1000;
/** Bounds of `encryption.rotateEverySegments` (segments per AES-128 key period). */
export const PLAYBACK_KEY_ROTATION_BOUNDS = { min: 0, max: 100_000 } as const;

/** AES-128 encryption of a channel's HLS segments (RFC 8216bis §4.4.4.4). */
export interface PlaybackEncryption {
  readonly enabled: boolean;
  /** A new content key every this many segments (1 = one key per segment); 0 = one key for the whole session. */
  readonly rotateEverySegments: number;
}

/**
 * The channel's playback policy now reads as given (the whole policy, not a diff). A channel
 * without this event is `public`, unencrypted ({@link DEFAULT_PLAYBACK_POLICY}).
 */
export interface ChannelPlaybackPolicyChangedV1 {
  readonly channelId: string;
  readonly visibility: PlaybackVisibility;
  /** User ids allowed to watch when `visibility` is `allowlist` (kept, unused, otherwise). Unique; at most {@link MAX_PLAYBACK_ALLOWLIST}. */
  readonly allowList: readonly string[];
  readonly encryption: PlaybackEncryption;
  readonly actorUserId: string | null;
}

/**
 * Version 2 of ChannelPlaybackPolicyChanged: adds `bindAddress`. A v1 event is read with
 * `bindAddress: false` (its upcaster in catalogue.ts).
 */
export interface ChannelPlaybackPolicyChangedV2 extends ChannelPlaybackPolicyChangedV1 {
  /** Every playback token issued for the channel is bound to the requester's IP address. */
  readonly bindAddress: boolean;
}

/** The policy of a channel that never changed it. */
export const DEFAULT_PLAYBACK_POLICY: { readonly visibility: PlaybackVisibility; readonly allowList: readonly string[]; readonly encryption: PlaybackEncryption; readonly bindAddress: boolean } = {
  visibility: 'public', allowList: [], encryption: { enabled: false, rotateEverySegments: 0 }, bindAddress: false,
};

/** The user has read every notification created up to `readUpTo` (ISO-8601). */
export interface NotificationsReadV1 {
  readonly userId: string;
  readonly readUpTo: string;
}

/** A user followed or unfollowed a channel. Stored on the follower's subject. */
export interface ChannelFollowChangedV1 {
  readonly userId: string;
  readonly channelId: string;
}

/**
 * Someone with the right (owner, moderator, admin) asked for a live session to stop; ingest
 * nodes holding the publisher disconnect it (its StreamPublishEnded then says `kicked`).
 */
export interface StreamStopRequestedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly actorUserId: string | null;
}

/** One discovery category. */
export interface Category {
  /** URL-safe id, e.g. `just-chatting`. */
  readonly id: string;
  readonly name: string;
}

/** The platform's categories (discovery filters and the category list). */
export const CATEGORIES: readonly Category[] = [
  { id: 'just-chatting', name: 'Just Chatting' },
  { id: 'gaming', name: 'Gaming' },
  { id: 'music', name: 'Music' },
  { id: 'art', name: 'Art' },
  { id: 'software-development', name: 'Software and Game Development' },
  { id: 'science-technology', name: 'Science and Technology' },
  { id: 'sports', name: 'Sports' },
  { id: 'food-drink', name: 'Food and Drink' },
  { id: 'travel-outdoors', name: 'Travel and Outdoors' },
  { id: 'talk-shows', name: 'Talk Shows and Podcasts' },
  { id: 'education', name: 'Education' },
  { id: 'events', name: 'Special Events' },
];

/** True when `id` names one of {@link CATEGORIES}. */
export function isCategory(id: string): boolean {
  return CATEGORIES.some((c) => c.id === id);
}
