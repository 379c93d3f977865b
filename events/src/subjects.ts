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

/** The JetStream stream that holds leases (coordination state, not facts: it expires). */
export const LEASES_STREAM = 'LEASES';

/** `lease.publish.<channelId>`: which ingest session holds a channel's one live publish. */
export function publishLeaseSubject(channelId: string): string {
  return `lease.publish.${subjectToken(channelId)}`;
}
