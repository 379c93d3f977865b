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
