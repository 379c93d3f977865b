/**
 * The JetStream and NATS failures the adapter names: a permissions violation (the server refused
 * a publish or subscribe for this user) and a stream this user may not create. Kept apart from
 * the connection so that every module of the adapter can use them without importing each other.
 */
import { PermissionViolationError } from '@nats-io/nats-core';

/** The {@link PermissionViolationError} behind `err` (itself, or its `cause`), if any. */
export function permissionViolationOf(err: unknown): PermissionViolationError | undefined {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PermissionViolationError) return e;
  }
  return undefined;
}

/**
 * JetStream API error 10071, "wrong last sequence" (nats-server `JSStreamWrongLastSequenceErrF`):
 * a publish with an expected last (subject) sequence found another one, i.e. another writer
 * changed the aggregate or the key.
 */
export const JS_WRONG_LAST_SEQUENCE = 10071;

/**
 * True when `err` is the JetStream API error `errCode` (nats-server `server/errors.json`): nats.js
 * `JetStreamApiError` carries it as `apiError().err_code` and as `code`; an error relayed as text
 * only is recognised by `message`.
 */
export function isJetStreamApiError(err: unknown, errCode: number, message: RegExp): boolean {
  const e = err as { code?: unknown; apiError?: () => { err_code?: number }; message?: string } | null | undefined;
  return e?.apiError?.()?.err_code === errCode || e?.code === errCode || message.test(e?.message ?? '');
}

/** The stream does not exist (10059). */
export function isStreamNotFound(err: unknown): boolean {
  return isJetStreamApiError(err, 10059, /stream not found/i);
}

/** The consumer does not exist (10014). */
export function isConsumerNotFound(err: unknown): boolean {
  return isJetStreamApiError(err, 10014, /consumer not found/i);
}

/** The expected last (subject) sequence did not match ({@link JS_WRONG_LAST_SEQUENCE}). */
export function isWrongLastSequence(err: unknown): boolean {
  return isJetStreamApiError(err, JS_WRONG_LAST_SEQUENCE, /wrong last sequence/i);
}

/** True when `err` is (or wraps) a NATS permissions violation: the server refused a publish or subscribe. */
export function isPermissionViolation(err: unknown): boolean {
  return permissionViolationOf(err) !== undefined || /permissions violation/i.test((err as Error)?.message ?? '');
}

/**
 * Thrown by `ensureStream` when a stream does not exist and this connection may not create
 * it (an app's NATS user has no `$JS.API.STREAM.CREATE`): the streams are created by the admin
 * identity — the embedded stack's bootstrap, or `pnpm cli nats-streams` in production.
 */
export class StreamMissingError extends Error {
  override readonly name = 'StreamMissingError';
  constructor(readonly stream: string, cause?: unknown) {
    super(`JetStream stream ${stream} does not exist and this NATS user may not create it: create the streams with the admin/CLI identity (\`pnpm cli nats-streams\`; the embedded stack's bootstrap does it)`, { cause });
  }
}

/** What `ensureStream` did. `differs`: the stream's configuration differs and this user may not update it. */
export type EnsureStreamOutcome = 'created' | 'updated' | 'unchanged' | 'differs';
