/**
 * The chat socket of one channel's room (RFC 6455 WebSocket to `/chat/<channelId>`, the
 * protocol of events/src/chat.ts), folded into {@link ChatState} by the pure reducer in
 * ./chat.ts.
 *
 * - Reconnects after any close but 4004 (no such room), after a growing, jittered delay
 *   ({@link chatReconnectDelayMs}; at once when the browser comes back online), resuming with
 *   `?after=<last seq>`; the reducer drops lines it already holds (by id).
 * - Signed in: sends `auth` with the session's access token after every (re)connection, and
 *   again before sending whenever the session's token has changed since (a refresh). A frame
 *   answered TOKEN_EXPIRED/TOKEN_INVALID refreshes the token, authenticates again and is re-sent
 *   once. Signing out reconnects anonymously (a socket cannot be un-authenticated).
 * - Sends `ping` every {@link PING_INTERVAL_MS} so idle connections are not timed out by proxies.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react';
import type { ChatClientFrame, ChatModerationRequest, Emote } from '@live/events';
import {
  canSendText, chatReconnectDelayMs, chatReducer, chatSocketUrl, closeDecision, INITIAL_CHAT_STATE, parseServerFrame,
  type ChatAction, type ChatState, type PendingSend,
} from './chat';
import { appSession } from './useSession';

/** How often an open socket sends `ping`, ms. */
export const PING_INTERVAL_MS = 30_000;
/** How long to wait for the answer to `auth`, ms. */
export const AUTH_TIMEOUT_MS = 10_000;

type OutFrame = ChatClientFrame extends infer F ? (F extends { ref?: string } ? Omit<F, 'ref'> : never) : never;

/** What {@link useChat} returns. The send functions do nothing useful until connected (they say so in `feedback`). */
export interface ChatHandle {
  readonly state: ChatState;
  /** Sends a text message; false (nothing sent) when `text` is blank or too long. */
  readonly sendMessage: (text: string) => boolean;
  readonly sendEmote: (emote: Emote) => void;
  /** Reports a message to the channel's moderation queue. */
  readonly report: (messageId: string, reason: string) => void;
  /** A moderator's action: delete, timeout, ban, unban, or room settings. */
  readonly moderate: (action: ChatModerationRequest) => void;
  readonly dismissFeedback: () => void;
}

interface Controller {
  send(frame: OutFrame, pending: PendingSend): void;
  userChanged(userId: string | null): void;
  stop(): void;
}

/**
 * The socket and state of `channelId`'s chat room, as `userId` (null: anonymous, read only).
 * Mount it under a `key` of the channel: the state is not reset when `channelId` changes.
 */
export function useChat(channelId: string, userId: string | null): ChatHandle {
  const [state, dispatch] = useReducer(chatReducer, INITIAL_CHAT_STATE);
  const lastSeqRef = useRef<number | null>(null);
  lastSeqRef.current = state.lastSeq;
  const userRef = useRef(userId);
  userRef.current = userId;
  const controller = useRef<Controller | null>(null);

  useEffect(() => {
    const c = startController(channelId, dispatch, () => lastSeqRef.current, () => userRef.current);
    controller.current = c;
    return () => {
      c.stop();
      if (controller.current === c) controller.current = null;
    };
  }, [channelId]);

  useEffect(() => {
    controller.current?.userChanged(userId);
  }, [userId]);

  const sendMessage = useCallback((text: string) => {
    if (!canSendText(text)) return false;
    const t = text.trim();
    controller.current?.send({ type: 'message', text: t }, { kind: 'message', text: t });
    return true;
  }, []);
  const sendEmote = useCallback((emote: Emote) => controller.current?.send({ type: 'emote', emote }, { kind: 'emote', text: emote }), []);
  const report = useCallback(
    (messageId: string, reason: string) => controller.current?.send({ type: 'report', messageId, reason }, { kind: 'report', text: '' }),
    [],
  );
  const moderate = useCallback(
    (action: ChatModerationRequest) => controller.current?.send({ type: 'moderate', action }, { kind: 'moderate', text: '' }),
    [],
  );
  const dismissFeedback = useCallback(() => dispatch({ type: 'dismiss_feedback' }), []);

  return { state, sendMessage, sendEmote, report, moderate, dismissFeedback };
}

type AuthResult = 'ok' | 'expired' | 'failed';

function startController(
  channelId: string,
  dispatch: (a: ChatAction) => void,
  lastSeq: () => number | null,
  currentUser: () => string | null,
): Controller {
  const session = appSession();
  let stopped = false;
  let ws: WebSocket | null = null;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let attempt = 0;
  let refCounter = 0;
  /** The token and user the current socket is authenticated with. */
  let authed: { token: string; userId: string | null } | null = null;
  let authInFlight: Promise<AuthResult> | null = null;
  let authWaiter: { ref: string; resolve: (r: AuthResult) => void } | null = null;
  /** Frames awaiting an answer, for one re-send after a token refresh. */
  const sent = new Map<string, { frame: OutFrame; pending: PendingSend; retried: boolean }>();

  const nextRef = () => `c${++refCounter}`;
  const isOpen = (s: WebSocket | null): s is WebSocket => s !== null && s.readyState === WebSocket.OPEN;

  const settleAuth = (r: AuthResult) => {
    const w = authWaiter;
    authWaiter = null;
    w?.resolve(r);
  };

  /** Sends `auth` on the current socket, unless it is already authenticated with the session's current token. */
  const authenticate = (): Promise<AuthResult> => {
    authInFlight ??= (async (): Promise<AuthResult> => {
      for (let tries = 0; tries < 2; tries += 1) {
        let token: string | null;
        try {
          token = tries === 0 ? await session.accessToken() : await session.refresh();
        } catch {
          return 'failed';
        }
        const socket = ws;
        if (stopped || token === null || !isOpen(socket)) return 'failed';
        if (authed?.token === token) return 'ok';
        const ref = nextRef();
        const answer = new Promise<AuthResult>((resolve) => {
          settleAuth('failed');
          authWaiter = { ref, resolve };
          setTimeout(() => {
            if (authWaiter?.ref === ref) settleAuth('failed');
          }, AUTH_TIMEOUT_MS);
        });
        dispatch({ type: 'sent', ref, pending: { kind: 'auth', text: '' } });
        socket.send(JSON.stringify({ type: 'auth', token, ref } satisfies ChatClientFrame));
        const r = await answer;
        if (ws !== socket) return 'failed';
        if (r === 'ok') {
          authed = { token, userId: session.getState().user?.userId ?? null };
          return 'ok';
        }
        if (r !== 'expired') return r;
      }
      return 'expired';
    })().finally(() => {
      authInFlight = null;
    });
    return authInFlight;
  };

  const transmit = async (frame: OutFrame, pending: PendingSend, retried: boolean) => {
    const now = Date.now();
    if (!isOpen(ws)) {
      dispatch({ type: 'local_error', code: 'NOT_CONNECTED', text: 'Not connected to chat yet.', now });
      return;
    }
    if (currentUser() === null) {
      dispatch({ type: 'local_error', code: 'AUTH_REQUIRED', text: 'Sign in to chat.', now });
      return;
    }
    const a = await authenticate();
    if (a !== 'ok') {
      dispatch({ type: 'local_error', code: a === 'expired' ? 'TOKEN_EXPIRED' : 'NOT_CONNECTED', text: 'Could not sign in to chat.', now: Date.now() });
      return;
    }
    const socket = ws;
    if (!isOpen(socket)) {
      dispatch({ type: 'local_error', code: 'NOT_CONNECTED', text: 'Not connected to chat yet.', now: Date.now() });
      return;
    }
    const ref = nextRef();
    sent.set(ref, { frame, pending, retried });
    dispatch({ type: 'sent', ref, pending });
    socket.send(JSON.stringify({ ...frame, ref }));
  };

  const onFrameSideEffects = (raw: string) => {
    const frame = parseServerFrame(raw);
    if (!frame) return;
    dispatch({ type: 'frame', frame, now: Date.now() });
    switch (frame.type) {
      case 'welcome':
        attempt = 0;
        if (currentUser() !== null) void authenticate();
        break;
      case 'authenticated':
        if (authWaiter && (frame.ref === undefined || frame.ref === authWaiter.ref)) settleAuth('ok');
        break;
      case 'ack':
      case 'slow_mode':
        if (frame.ref !== undefined) sent.delete(frame.ref);
        break;
      case 'error': {
        const expired = frame.code === 'TOKEN_EXPIRED' || frame.code === 'TOKEN_INVALID';
        if (authWaiter && frame.ref === authWaiter.ref) {
          settleAuth(expired ? 'expired' : 'failed');
          break;
        }
        const ref = frame.ref;
        const s = ref !== undefined ? sent.get(ref) : undefined;
        if (ref !== undefined) sent.delete(ref);
        if (expired && s) {
          authed = null;
          if (s.retried) {
            dispatch({ type: 'local_error', code: 'TOKEN_EXPIRED', text: 'Your sign-in expired.', now: Date.now() });
          } else {
            void session.refresh().catch(() => null).then(() => transmit(s.frame, s.pending, true));
          }
        }
        break;
      }
      default:
        break;
    }
  };

  const connect = () => {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    dispatch({ type: 'connecting' });
    authed = null;
    const socket = new WebSocket(chatSocketUrl(window.location, channelId, lastSeq()));
    ws = socket;
    socket.onmessage = (ev: MessageEvent) => {
      if (ws === socket && typeof ev.data === 'string') onFrameSideEffects(ev.data);
    };
    socket.onopen = () => {
      if (ws !== socket) return;
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        if (isOpen(socket)) socket.send(JSON.stringify({ type: 'ping' } satisfies ChatClientFrame));
      }, PING_INTERVAL_MS);
    };
    socket.onclose = (ev: CloseEvent) => {
      if (ws !== socket) return;
      ws = null;
      authed = null;
      clearInterval(pingTimer);
      settleAuth('failed');
      sent.clear();
      if (stopped) return;
      const d = closeDecision(ev.code);
      if (!d.reconnect) {
        dispatch({ type: 'closed', code: ev.code, now: Date.now(), retryInMs: null });
        return;
      }
      attempt += 1;
      const delay = chatReconnectDelayMs(attempt);
      dispatch({ type: 'closed', code: ev.code, now: Date.now(), retryInMs: delay });
      reconnectTimer = setTimeout(connect, delay);
    };
  };

  /** Closes the current socket (ours: no reconnect from its close handler) and opens a new one at once. */
  const reconnectNow = () => {
    const old = ws;
    ws = null;
    old?.close(1000);
    clearInterval(pingTimer);
    settleAuth('failed');
    sent.clear();
    connect();
  };

  const onOnline = () => {
    if (!stopped && ws === null) connect();
  };
  window.addEventListener('online', onOnline);

  connect();

  return {
    send(frame, pending) {
      void transmit(frame, pending, false);
    },
    userChanged(userId) {
      if (stopped) return;
      if (userId === null) {
        if (authed !== null || authInFlight !== null) {
          dispatch({ type: 'signed_out' });
          reconnectNow();
        }
        return;
      }
      if (authed !== null && authed.userId !== userId) {
        dispatch({ type: 'signed_out' });
        reconnectNow();
        return;
      }
      if (isOpen(ws)) void authenticate();
    },
    stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      window.removeEventListener('online', onOnline);
      settleAuth('failed');
      const old = ws;
      ws = null;
      old?.close(1000);
    },
  };
}
