/**
 * Parsing of client frames and encoding of server frames of the chat protocol
 * (`@live/events` `ChatClientFrame` / `ChatServerFrame`). Pure: no sockets here.
 */
import {
  isEmote, MAX_SLOW_MODE_SECONDS, MAX_TIMEOUT_SECONDS, type ChatClientFrame, type ChatErrorCode, type ChatModerationRequest,
  type ChatRoomSettings, type ChatServerFrame,
} from '@live/events';

/** A frame that could not be accepted: the error to answer with (`ref` echoed when the frame had one). */
export interface FrameProblem {
  readonly code: ChatErrorCode;
  readonly message: string;
  readonly ref?: string;
}

/** Result of {@link parseClientFrame}. */
export type ParsedFrame = { readonly ok: true; readonly frame: ChatClientFrame } | ({ readonly ok: false } & FrameProblem);

const REF = /^[\x21-\x7e]{1,64}$/;
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_TOKEN_LENGTH = 4096;
const MAX_REASON_LENGTH = 200;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(code: ChatErrorCode, message: string, ref?: string): ParsedFrame {
  return ref === undefined ? { ok: false, code, message } : { ok: false, code, message, ref };
}

/** Only the listed keys (plus `type` and `ref`) may appear: unknown fields are refused, as in the HTTP API. */
function unknownKey(o: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  return Object.keys(o).find((k) => k !== 'type' && k !== 'ref' && !allowed.includes(k));
}

function parseSettings(v: unknown): Partial<ChatRoomSettings> | string {
  if (!isObject(v)) return 'settings must be an object';
  const out: { -readonly [K in keyof ChatRoomSettings]?: ChatRoomSettings[K] } = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === 'slowModeSeconds') {
      if (!Number.isInteger(val) || (val as number) < 0 || (val as number) > MAX_SLOW_MODE_SECONDS) return `settings.slowModeSeconds must be an integer 0..${MAX_SLOW_MODE_SECONDS}`;
      out.slowModeSeconds = val as number;
    } else if (k === 'followersOnly' || k === 'emoteOnly' || k === 'linksAllowed' || k === 'duplicateFilter') {
      if (typeof val !== 'boolean') return `settings.${k} must be a boolean`;
      out[k] = val;
    } else {
      return `settings.${k} is not a room setting`;
    }
  }
  if (Object.keys(out).length === 0) return 'settings must change at least one setting';
  return out;
}

function parseModeration(v: unknown): ChatModerationRequest | string {
  if (!isObject(v)) return 'action must be an object';
  const reason = v.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) return `action.reason must be a string of at most ${MAX_REASON_LENGTH} characters`;
  const withReason = <T extends object>(o: T): T => (typeof reason === 'string' && reason.length > 0 ? { ...o, reason } : o);
  switch (v.kind) {
    case 'delete':
      if (typeof v.messageId !== 'string' || !ID.test(v.messageId)) return 'action.messageId must be a message id';
      return withReason({ kind: 'delete' as const, messageId: v.messageId });
    case 'timeout':
      if (typeof v.userId !== 'string' || !ID.test(v.userId)) return 'action.userId must be a user id';
      if (!Number.isInteger(v.durationSeconds) || (v.durationSeconds as number) < 1 || (v.durationSeconds as number) > MAX_TIMEOUT_SECONDS) {
        return `action.durationSeconds must be an integer 1..${MAX_TIMEOUT_SECONDS}`;
      }
      return withReason({ kind: 'timeout' as const, userId: v.userId, durationSeconds: v.durationSeconds as number });
    case 'ban':
      if (typeof v.userId !== 'string' || !ID.test(v.userId)) return 'action.userId must be a user id';
      return withReason({ kind: 'ban' as const, userId: v.userId });
    case 'unban':
      if (typeof v.userId !== 'string' || !ID.test(v.userId)) return 'action.userId must be a user id';
      return { kind: 'unban' as const, userId: v.userId };
    case 'settings': {
      const s = parseSettings(v.settings);
      return typeof s === 'string' ? s : { kind: 'settings' as const, settings: s };
    }
    default:
      return 'action.kind must be one of delete, timeout, ban, unban, settings';
  }
}

/**
 * Parses one text frame from a client into a {@link ChatClientFrame}. Checks shapes only (the
 * room's rules — length, rate, modes — are the gateway's); never throws.
 * Answers: BAD_FRAME (not a JSON object), UNKNOWN_TYPE, INVALID_FIELD (a field missing, of the
 * wrong type or out of range, or a field the type does not have).
 */
export function parseClientFrame(text: string): ParsedFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail('BAD_FRAME', 'a frame must be one JSON object');
  }
  if (!isObject(v)) return fail('BAD_FRAME', 'a frame must be one JSON object');
  let ref: string | undefined;
  if (v.ref !== undefined) {
    if (typeof v.ref !== 'string' || !REF.test(v.ref)) return fail('INVALID_FIELD', 'ref must be 1..64 printable ASCII characters');
    ref = v.ref;
  }
  const withRef = <T extends object>(o: T): T => (ref === undefined ? o : { ...o, ref });
  const extra = (allowed: readonly string[]): ParsedFrame | undefined => {
    const k = unknownKey(v as Record<string, unknown>, allowed);
    return k === undefined ? undefined : fail('INVALID_FIELD', `${k} is not a field of a ${String((v as Record<string, unknown>).type)} frame`, ref);
  };
  switch (v.type) {
    case 'auth':
      if (typeof v.token !== 'string' || v.token.length === 0 || v.token.length > MAX_TOKEN_LENGTH) return fail('INVALID_FIELD', 'token must be an access token', ref);
      return extra(['token']) ?? { ok: true, frame: withRef({ type: 'auth', token: v.token }) };
    case 'message':
      // The length and character rules are checked by the gateway (they give their own codes).
      if (typeof v.text !== 'string') return fail('INVALID_FIELD', 'text must be a string', ref);
      return extra(['text']) ?? { ok: true, frame: withRef({ type: 'message', text: v.text }) };
    case 'emote':
      if (!isEmote(v.emote)) return fail('INVALID_FIELD', 'emote must be one of the platform emotes', ref);
      return extra(['emote']) ?? { ok: true, frame: withRef({ type: 'emote', emote: v.emote }) };
    case 'report':
      if (typeof v.messageId !== 'string' || !ID.test(v.messageId)) return fail('INVALID_FIELD', 'messageId must be a message id', ref);
      if (typeof v.reason !== 'string' || v.reason.length > MAX_REASON_LENGTH) return fail('INVALID_FIELD', `reason must be a string of at most ${MAX_REASON_LENGTH} characters`, ref);
      return extra(['messageId', 'reason']) ?? { ok: true, frame: withRef({ type: 'report', messageId: v.messageId, reason: v.reason }) };
    case 'moderate': {
      const action = parseModeration(v.action);
      if (typeof action === 'string') return fail('INVALID_FIELD', action, ref);
      return extra(['action']) ?? { ok: true, frame: withRef({ type: 'moderate', action }) };
    }
    case 'ping':
      return extra([]) ?? { ok: true, frame: withRef({ type: 'ping' }) };
    default:
      return fail('UNKNOWN_TYPE', typeof v.type === 'string' ? `unknown frame type ${JSON.stringify(v.type.slice(0, 40))}` : 'type must be a string', ref);
  }
}

/** Serialises a server frame (one JSON object per WebSocket text frame). */
export function encodeFrame(frame: ChatServerFrame): string {
  return JSON.stringify(frame);
}

/** An `error` frame for a problem, with an optional wait in ms (rate limit, timeout). */
export function errorFrame(p: FrameProblem, retryAfterMs?: number): ChatServerFrame {
  return {
    type: 'error', code: p.code, message: p.message,
    ...(p.ref !== undefined ? { ref: p.ref } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs: Math.ceil(retryAfterMs) } : {}),
  };
}
