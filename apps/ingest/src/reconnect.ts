/**
 * The reconnect window's rules, without I/O (the protocol-neutral publish lifecycle in
 * `publish-lifecycle.ts` applies them): what a dropped connection means for its session, what
 * the publish lease of a channel carries, the handover request/reply between ingest nodes and
 * what a node does with a lease another node holds.
 *
 * Handover protocol (core NATS request/reply on `ingest.handover.<nodeId>`, JSON bodies): a node
 * whose claim of `lease.publish.<channelId>` is refused reads the lease message (holder
 * `<nodeId>/<sessionId>`) and asks that node, waiting at most {@link DEFAULT_HANDOVER_TIMEOUT_MS}:
 * - `{ status: 'live' }`: the holder's publisher is connected (or a claim of it is in flight):
 *   the new publisher is refused (one publisher per channel);
 * - `{ status: 'handed-over', seq, session }`: the holder had the session in its reconnect window;
 *   it stopped its window timer and stopped renewing the lease WITHOUT releasing it, and the
 *   asker takes the lease over from sequence `seq` and continues `session`;
 * - `{ status: 'not-held' }`, no responder, no answer in time, or an unreadable answer: the
 *   holder is gone (dead, restarted, or partitioned away): the asker takes the lease over from the
 *   sequence it read, and continues the session when the lease says it is still resumable
 *   ({@link orphanedSession}); otherwise it starts a new session and ends the orphaned one.
 * A holder that was only slow and comes back finds its lease renewed by another holder, stops
 * renewing and disconnects its publisher (LeaseStore `onLost`).
 */
import type { LeaseInfo, LeaseSnapshot } from '@live/messaging';

/** Default reconnect window (`INGEST_RECONNECT_WINDOW_SECONDS` of the process), seconds: Mux's default. */
export const DEFAULT_RECONNECT_WINDOW_SECONDS = 60;
/** How long a node waits for the lease holder's handover answer before it deems it dead, ms. */
export const DEFAULT_HANDOVER_TIMEOUT_MS = 1000;

/** Why a publish ended (as the RTMP server and later protocols report it). */
export type PublishEnd = 'unpublished' | 'disconnected' | 'error' | 'kicked';

/**
 * What the end of a started publish means for its session: `interrupt` (keep the session and
 * the channel's lease, wait `windowMs` for the publisher) for a dropped connection —
 * `disconnected`: TCP close or reset, idle timeout, without a clean stop — when a window is
 * configured; `end` for everything else: a clean stop (`FCUnpublish`/`deleteStream`), a kick
 * (key revoked or rotated, stop requested, node shutdown) or a protocol error.
 */
export function endDecision(reason: PublishEnd, windowMs: number): 'interrupt' | 'end' {
  return reason === 'disconnected' && windowMs > 0 ? 'interrupt' : 'end';
}

/** The holder name of a publish lease: `<nodeId>/<sessionId>`. */
export function publishLeaseHolder(nodeId: string, sessionId: string): string {
  return `${nodeId}/${sessionId}`;
}

/** Splits a {@link publishLeaseHolder} name; null for anything else. */
export function parseLeaseHolder(holder: string): { nodeId: string; sessionId: string } | null {
  const m = /^([A-Za-z0-9_-]{1,100})\/([A-Za-z0-9_-]{1,128})$/.exec(holder);
  return m ? { nodeId: m[1]!, sessionId: m[2]! } : null;
}

/**
 * What a session carries from one node to the next (in a handover answer, or read from a dead
 * holder's lease): enough to append its StreamPublishResumed, and later its StreamPublishEnded.
 */
export interface SessionCarry {
  readonly sessionId: string;
  /** When the session's first publish was accepted (ms since the epoch): durationMs counts from it. */
  readonly startedAt: number;
  /** Id of its StreamPublishStarted (causation of its later events); empty when unknown. */
  readonly startEventId: string;
  /** Bytes received over its earlier connections. */
  readonly bytesReceived: number;
  /** Until when (ms since the epoch) a reconnect continues it. */
  readonly resumeBy: number;
  /** The node that held it. */
  readonly previousNodeId: string;
}

/**
 * The `info` of a publish lease message: when the session started, its first event, and while
 * it waits in a reconnect window, until when (`resumeBy`, ms) and the bytes received so far.
 */
export type PublishLeaseInfo = {
  readonly startedAt: number;
  readonly startEventId: string;
  readonly windowMs: number;
  /** How often the holder renews the lease, ms: it died at most this long after the last renewal. */
  readonly renewEveryMs?: number;
  readonly resumeBy?: number;
  readonly bytesReceived?: number;
};

/** Reads a {@link PublishLeaseInfo}; missing or malformed fields are left out or zero. */
export function readPublishLeaseInfo(info: LeaseInfo): PublishLeaseInfo {
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  const resumeBy = num(info.resumeBy);
  const bytesReceived = num(info.bytesReceived);
  const renewEveryMs = num(info.renewEveryMs);
  return {
    startedAt: num(info.startedAt) ?? 0,
    startEventId: typeof info.startEventId === 'string' ? info.startEventId.slice(0, 64) : '',
    windowMs: num(info.windowMs) ?? 0,
    ...(renewEveryMs !== undefined ? { renewEveryMs } : {}),
    ...(resumeBy !== undefined ? { resumeBy } : {}),
    ...(bytesReceived !== undefined ? { bytesReceived } : {}),
  };
}

/**
 * The session a lease names, if a reconnect now may still continue it although its holder is
 * gone: its holder wrote `resumeBy` (it was in its window) and `now` is before it; or it was
 * held while live (no `resumeBy`), with a window, and `now` is within the window of the latest
 * moment the holder can have died: its last renewal plus a renewal period (`renewEveryMs`; its
 * publisher's connection died with it). Null otherwise (released, unknown holder, never
 * started — no `startEventId` —, no window, too late).
 * @param now ms since the epoch.
 */
export function orphanedSession(lease: Pick<LeaseSnapshot, 'state' | 'holder' | 'at' | 'info'>, now: number): SessionCarry | null {
  if (lease.state !== 'held') return null;
  const owner = parseLeaseHolder(lease.holder);
  if (!owner) return null;
  const info = readPublishLeaseInfo(lease.info);
  if (!info.startEventId) return null;
  const resumeBy = info.resumeBy ?? (info.windowMs > 0 ? lease.at + (info.renewEveryMs ?? 0) + info.windowMs : 0);
  if (!(now < resumeBy)) return null;
  return {
    sessionId: owner.sessionId, startedAt: info.startedAt || lease.at, startEventId: info.startEventId,
    bytesReceived: info.bytesReceived ?? 0, resumeBy, previousNodeId: owner.nodeId,
  };
}

/** The question a node asks the holder of a channel's lease. */
export interface HandoverRequest {
  readonly channelId: string;
  /** The session the lease names. */
  readonly sessionId: string;
  /** Node id of the asker. */
  readonly requester: string;
}

/** The holder's answer; see the module comment. */
export type HandoverReply =
  | { readonly status: 'live' }
  | { readonly status: 'not-held' }
  | { readonly status: 'handed-over'; readonly seq: number; readonly session: SessionCarry };

/** A handover message that is not what the protocol says. */
export class HandoverWireError extends Error {
  override readonly name = 'HandoverWireError';
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new HandoverWireError('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HandoverWireError('not a JSON object');
  return v as Record<string, unknown>;
}

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** JSON bytes of a request or reply. */
export function encodeHandover(m: HandoverRequest | HandoverReply): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

/**
 * Reads a {@link HandoverRequest}.
 * @throws HandoverWireError when it is not one (ids must be subject tokens).
 */
export function decodeHandoverRequest(bytes: Uint8Array): HandoverRequest {
  const o = parseJson(bytes);
  for (const f of ['channelId', 'sessionId', 'requester'] as const) {
    if (typeof o[f] !== 'string' || !TOKEN.test(o[f])) throw new HandoverWireError(`${f} must be a token`);
  }
  return { channelId: o.channelId as string, sessionId: o.sessionId as string, requester: o.requester as string };
}

/**
 * Reads a {@link HandoverReply}.
 * @throws HandoverWireError when it is not one.
 */
export function decodeHandoverReply(bytes: Uint8Array): HandoverReply {
  const o = parseJson(bytes);
  if (o.status === 'live' || o.status === 'not-held') return { status: o.status };
  if (o.status !== 'handed-over') throw new HandoverWireError('unknown status');
  const s = o.session as Record<string, unknown> | null;
  const n = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 1) throw new HandoverWireError('seq must be a positive integer');
  if (typeof s !== 'object' || s === null) throw new HandoverWireError('session missing');
  if (typeof s.sessionId !== 'string' || !TOKEN.test(s.sessionId)) throw new HandoverWireError('session.sessionId must be a token');
  if (typeof s.previousNodeId !== 'string' || !TOKEN.test(s.previousNodeId)) throw new HandoverWireError('session.previousNodeId must be a token');
  if (!n(s.startedAt) || !n(s.bytesReceived) || !n(s.resumeBy)) throw new HandoverWireError('session times and bytes must be numbers');
  return {
    status: 'handed-over',
    seq: o.seq as number,
    session: {
      sessionId: s.sessionId, previousNodeId: s.previousNodeId, startedAt: s.startedAt as number, bytesReceived: s.bytesReceived as number,
      resumeBy: s.resumeBy as number, startEventId: typeof s.startEventId === 'string' ? s.startEventId.slice(0, 64) : '',
    },
  };
}

/** What a node does about a channel whose lease another holder has. */
export type ClaimPlan =
  | { readonly action: 'refuse' }
  /** Take the lease over from `expectedSeq`; continue `resume` (null: a new session); end `orphan` (a dead holder's session nobody can continue). */
  | { readonly action: 'take-over'; readonly expectedSeq: number; readonly resume: SessionCarry | null; readonly orphan: { readonly sessionId: string; readonly startedAt: number; readonly startEventId: string; readonly nodeId: string } | null };

/**
 * Decides from the lease message a node read and the holder's answer (`no-answer`: no
 * responder, timeout, unreadable) — see the module comment.
 * @param now ms since the epoch.
 */
export function planClaim(lease: LeaseSnapshot, answer: HandoverReply | 'no-answer', now: number): ClaimPlan {
  if (answer !== 'no-answer' && answer.status === 'live') return { action: 'refuse' };
  if (answer !== 'no-answer' && answer.status === 'handed-over') {
    return { action: 'take-over', expectedSeq: answer.seq, resume: answer.session, orphan: null };
  }
  const owner = parseLeaseHolder(lease.holder);
  if (lease.state !== 'held' || !owner) return { action: 'refuse' };
  const resume = orphanedSession(lease, now);
  if (resume) return { action: 'take-over', expectedSeq: lease.seq, resume, orphan: null };
  const info = readPublishLeaseInfo(lease.info);
  // A session that never started (no StreamPublishStarted) has nothing to end.
  if (!info.startEventId) return { action: 'take-over', expectedSeq: lease.seq, resume: null, orphan: null };
  return {
    action: 'take-over', expectedSeq: lease.seq, resume: null,
    orphan: { sessionId: owner.sessionId, startedAt: info.startedAt || lease.at, startEventId: info.startEventId, nodeId: owner.nodeId },
  };
}
