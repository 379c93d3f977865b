/**
 * NATS subject builders. Subjects go broad to narrow (`evt.<aggregate>.<id>`) and are only
 * ever built here, so that a consumer's filter and a publisher's subject cannot drift apart.
 * Tokens are validated: NATS subjects may not contain whitespace, `.`, `*` or `>` inside a
 * token (NATS subject-naming rules, docs.nats.io "Subject-Based Messaging").
 */

/** The JetStream stream that holds every domain event. */
export const EVENTS_STREAM = 'EVENTS';
/** Subject prefix of every domain event; the EVENTS stream captures `evt.>`. */
export const EVENTS_SUBJECT_PREFIX = 'evt';

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Validates one subject token.
 * @throws TypeError when the token is empty, too long (> 128) or has characters outside [A-Za-z0-9_-].
 */
export function subjectToken(value: string): string {
  if (!TOKEN.test(value)) throw new TypeError(`invalid subject token: ${JSON.stringify(value)}`);
  return value;
}

/** `evt.stream.<channelId>`: every lifecycle event of every broadcast session of one channel. */
export function streamSubject(channelId: string): string {
  return `${EVENTS_SUBJECT_PREFIX}.stream.${subjectToken(channelId)}`;
}

/** Filter matching the lifecycle events of all channels: `evt.stream.*`. */
export const ALL_STREAM_SUBJECTS = `${EVENTS_SUBJECT_PREFIX}.stream.*`;

/** `evt.channel.<channelId>`: the channel aggregate (keys, metadata); published with optimistic concurrency. */
export function channelSubject(channelId: string): string {
  return `${EVENTS_SUBJECT_PREFIX}.channel.${subjectToken(channelId)}`;
}

/** `evt.user.<userId>`: the user aggregate (account, profile, roles, follows). */
export function userSubject(userId: string): string {
  return `${EVENTS_SUBJECT_PREFIX}.user.${subjectToken(userId)}`;
}

/** Filter matching every channel aggregate's events: `evt.channel.*`. */
export const ALL_CHANNEL_SUBJECTS = `${EVENTS_SUBJECT_PREFIX}.channel.*`;

/**
 * `evt.claim.<kind>.<digest>`: the guard that keeps one normalised value (a username, an
 * email) unique. `digest` is a hex hash of the normalised value (subjects cannot hold arbitrary
 * text); the caller hashes, this module stays free of crypto.
 * @throws TypeError when `digest` is not 16..64 lower-case hex characters.
 */
export function uniqueClaimSubject(kind: 'username' | 'email', digest: string): string {
  if (!/^[0-9a-f]{16,64}$/.test(digest)) throw new TypeError('claim digest must be 16..64 lower-case hex characters');
  return `${EVENTS_SUBJECT_PREFIX}.claim.${kind}.${digest}`;
}

/**
 * `notify.user.<userId>`: core NATS (not JetStream) subject on which a user's live
 * notifications are pushed to whichever API instance holds their Server-Sent Events stream.
 * The kept copy is the `notifications` read model.
 */
export function userNotificationSubject(userId: string): string {
  return `notify.user.${subjectToken(userId)}`;
}

/** The JetStream stream that holds leases (coordination state, not facts: it expires). */
export const LEASES_STREAM = 'LEASES';

/** `lease.publish.<channelId>`: which ingest session holds a channel's one live publish. */
export function publishLeaseSubject(channelId: string): string {
  return `lease.publish.${subjectToken(channelId)}`;
}

/**
 * `ingest.handover.<nodeId>` (core NATS request/reply, not stored): an ingest node asks the node
 * holding a channel's publish lease whether it still holds the publish, and to hand a session in
 * its reconnect window over (apps/ingest `reconnect.ts`).
 * @throws TypeError when `nodeId` is not a valid subject token.
 */
export function ingestHandoverSubject(nodeId: string): string {
  return `ingest.handover.${subjectToken(nodeId)}`;
}

/** Every node's handover subject (`ingest.handover.*`), for permissions. */
export const ALL_INGEST_HANDOVER_SUBJECTS = 'ingest.handover.*';
