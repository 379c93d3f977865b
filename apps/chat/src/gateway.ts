/**
 * The chat gateway: WebSocket rooms on uWebSockets.js, fanned out through NATS so that any
 * number of gateways serve one room together.
 *
 * - A client connects to `/chat/<channelId>` (RFC 6455 upgrade; `?after=<seq>` to resume).
 *   The gateway opens the room if it has no members in it yet: it subscribes (core NATS) to the
 *   channel's `evt.channel.<id>` and `evt.stream.<id>` events, waits until the Postgres read
 *   models include every event stored so far, loads the room (owner, moderators, settings,
 *   bans, terms), then follows `chat.<id>` of the CHAT stream from its first stored message
 *   with an ordered consumer. The room is ready when that history has been read; the joining
 *   client then gets `welcome` and `history` and is subscribed to the room's uWS topic, in one
 *   synchronous step, so no message falls between history and live.
 * - Every message a client sends passes the room's rules, is appended to CHAT, and reaches every
 *   member of every gateway from the CHAT consumer, in stream order (the ack carries its seq).
 * - Moderation is appended to EVENTS; every gateway with the room open hears it on the core
 *   subscription at once and enforces it (a ban is in force on all gateways within milliseconds).
 * - A room with no members is closed after `roomIdleMs`.
 * - Every `PRESENCE_INTERVAL_MS` the gateway publishes its member count per room (presence).
 *
 * Backpressure: each socket may buffer at most `maxBackpressureBytes`; a client that falls
 * further behind is disconnected by uWS (`closeOnBackpressureLimit`) instead of growing memory.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import uWS from 'uWebSockets.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import {
  CHAT_CLOSE, CHAT_MAX_FRAME_BYTES, CHAT_POLICY_SUBJECT, CHAT_STREAM, DEFAULT_RATE_LIMIT, EVENTS_STREAM, PRESENCE_INTERVAL_MS,
  channelSubject, chatPresenceSubject, chatSubject, checkText, decideChatSend, decideRestriction, decodeEvent, domainEvent, needsFollowerCheck,
  restrictionRefusal, streamSubject, subjectToken, systemClock, type RateLimit,
  type ChatClientFrame, type ChatErrorCode, type ChatModerationRequest, type ChatPresenceReport, type ChatServerFrame, type DomainEvent,
  type EventClock, type EventEnvelope, type EventType,
} from '@live/events';
import { compileBannedTerms, type BannedTermMatcher } from '@live/events/terms';
import { isFollowing, loadChatRoom, loadGlobalBannedTerms, waitForProjection, type Db } from '@live/db';
import { appendChatMessage, appendEvent, chatLineOf, decodeChatRecord, deleteChatMessage, followSubject, type Follower, type Messaging } from '@live/messaging';
import { TokenError, verifyAccessToken, accessTokenExpiry, type JwtKey } from '@live/auth';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './limits.js';
import { encodeFrame, errorFrame, parseClientFrame, type FrameProblem } from './protocol.js';
import { Room, type Member } from './room.js';
import { reportIdOf } from './reports.js';
import { clientAddress, ConnectionCounter, nodeStyleAddress, OffenderLog, type ProxyTrust } from '@live/runtime';

/** Settings and dependencies of a gateway. */
export interface GatewayOptions {
  readonly messaging: Messaging;
  readonly db: Db;
  /** Access-token key ring (the API's `JWT_KEYS`): every key verifies. */
  readonly jwtKeys: readonly JwtKey[];
  readonly logger: Logger;
  /** This gateway's id in presence reports and logs; a subject token. */
  readonly gatewayId: string;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** Listen port; 0 = a free one (see {@link ChatGateway.port}). */
  readonly port: number;
  /** Per-user per-room rate limit (default 20 messages / 5 s). */
  readonly rateLimit?: RateLimit;
  /** Bytes a socket may have queued before it is dropped as a slow consumer (default 1 MiB). */
  readonly maxBackpressureBytes?: number;
  /** Seconds without traffic before a socket is closed; uWS pings before that (default 120). */
  readonly idleTimeoutSeconds?: number;
  /** How long a room with no members stays open, ms (default 30 000). */
  readonly roomIdleMs?: number;
  /** Longest wait for the read models when opening a room, ms (default 3000). */
  readonly projectionWaitMs?: number;
  /** Event ids and times (default the system clock). */
  readonly clock?: EventClock;
  /**
   * Serve WSS/HTTPS (uWS `SSLApp`) with these PEM files instead of plain WS. A renewed pair is
   * applied with {@link ChatGateway.reloadTls} (see there for what it reaches).
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /**
   * Reverse proxies whose `X-Forwarded-For` names the client (`TRUST_PROXY`, compiled by
   * `compileProxyTrust` of `@live/runtime`); default: nobody (the TCP peer is the client).
   */
  readonly trustProxy?: ProxyTrust;
  /**
   * WebSockets one client address may have open at once (`CHAT_MAX_CONNECTIONS_PER_ADDRESS`,
   * default {@link DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}); one more is answered 429
   * TOO_MANY_CONNECTIONS at the upgrade, counted and logged once a minute per address.
   */
  readonly maxConnectionsPerAddress?: number;
  /** WebSockets open at once on this gateway, all addresses (`CHAT_MAX_CONNECTIONS`, default {@link DEFAULT_MAX_CONNECTIONS}); then 503 TOO_MANY_CONNECTIONS. */
  readonly maxConnections?: number;
}

/** A running gateway. */
export interface ChatGateway {
  /** The port it listens on. */
  readonly port: number;
  /** Its Prometheus metrics (served at `/metrics`). */
  readonly registry: Registry;
  /** Sockets open now. */
  connections(): number;
  /** Closes every socket with 1001, stops listening and closes the rooms. Never throws. */
  close(): Promise<void>;
  /**
   * Applies renewed certificate files (same paths as `tls`) without a restart. uWS has no way
   * to replace its default TLS context, so the new pair is installed for the host names it
   * covers (`serverNames`, from the certificate's subjectAltName: `DNS:` entries) through SNI,
   * with the gateway's routes registered on each; browsers always send SNI for a host name.
   * Clients connecting by IP address without SNI keep the certificate the gateway started with
   * until it restarts. Established connections are not touched. No-op without `tls`.
   */
  reloadTls(serverNames: readonly string[]): void;
}

/** Per-socket state. */
interface SocketData {
  readonly connectionId: string;
  readonly channelId: string;
  readonly after: number | undefined;
  readonly remoteAddress: string;
  room: Room | undefined;
  user: Member | null;
  /** ms since epoch when the access token expires. */
  tokenExpiresAt: number;
  closed: boolean;
  /** Invalid frames in the current 10 s window, and when that window started. */
  invalid: number;
  invalidSince: number;
}

/** Largest frame uWS accepts at all, bytes; larger ones fail the connection (RFC 6455 §7.1.7). */
const TRANSPORT_MAX_FRAME_BYTES = 64 * 1024;
/** More invalid frames than this within 10 s closes the socket with {@link CHAT_CLOSE.PROTOCOL_ABUSE}. */
const MAX_INVALID_FRAMES = 100;
/** How long a follower/non-follower answer is cached for followers-only mode, ms. */
const FOLLOWER_CACHE_MS = { yes: 60_000, no: 5_000 };
const CHANNEL_ID = /^[A-Za-z0-9_-]{1,128}$/;

type Subscription = ReturnType<Messaging['nc']['subscribe']>;

interface RoomEntry {
  room: Room | undefined;
  opening: Promise<Room | null>;
  subs: Subscription[];
  follower: Follower | undefined;
  /** Upgrades in flight that will become members. */
  pending: number;
  idleTimer: NodeJS.Timeout | undefined;
}

const topicOf = (channelId: string): string => `room/${channelId}`;

/**
 * Starts a gateway and listens.
 * @throws Error when the port cannot be bound, or the global banned terms cannot be loaded.
 */
export async function startGateway(opts: GatewayOptions): Promise<ChatGateway> {
  const { messaging, db, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const rateLimit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
  const roomIdleMs = opts.roomIdleMs ?? 30_000;
  const gatewayId = subjectToken(opts.gatewayId);
  const producer = `chat:${gatewayId}`;
  const decoder = new TextDecoder('utf-8', { fatal: true });

  // ---- metrics -------------------------------------------------------------------------------
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const mConnections = new Gauge({ name: 'chat_connections', help: 'Open WebSocket connections', registers: [registry] });
  const mRooms = new Gauge({ name: 'chat_rooms', help: 'Rooms open on this gateway', registers: [registry] });
  const mAccepted = new Counter({ name: 'chat_messages_accepted_total', help: 'Messages accepted from clients of this gateway', labelNames: ['kind'], registers: [registry] });
  const mDelivered = new Counter({ name: 'chat_deliveries_total', help: 'Frames published to room members (one per member)', registers: [registry] });
  const mRefused = new Counter({ name: 'chat_frames_refused_total', help: 'Client frames answered with an error, by code', labelNames: ['code'], registers: [registry] });
  const mModeration = new Counter({ name: 'chat_moderation_actions_total', help: 'Moderation actions taken through this gateway', labelNames: ['kind'], registers: [registry] });
  const mClosed = new Counter({ name: 'chat_connections_closed_total', help: 'Connections closed, by close code', labelNames: ['code'], registers: [registry] });
  const mConnRefused = new Counter({ name: 'chat_connections_refused_total', help: 'WebSocket upgrades refused by a connection cap, by reason (per_address, total)', labelNames: ['reason'], registers: [registry] });
  for (const reason of ['per_address', 'total']) mConnRefused.inc({ reason }, 0);
  // Counted from the upgrade request (before the room opens) until the socket closes or the upgrade fails.
  const counter = new ConnectionCounter({ maxPerAddress: opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, maxTotal: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS });
  const offenders = new OffenderLog({ windowMs: 60_000 });

  // ---- global banned terms -------------------------------------------------------------------
  let globalTerm: BannedTermMatcher = compileBannedTerms(await loadGlobalBannedTerms(db));
  const policySub = messaging.nc.subscribe(CHAT_POLICY_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const e = decodeOrNull(msg.data);
      if (e?.type === 'ChatBannedTermsSet') globalTerm = compileBannedTerms(e.data.terms);
    },
  });

  const sockets = new Set<uWS.WebSocket<SocketData>>();
  const rooms = new Map<string, RoomEntry>();
  let app: uWS.TemplatedApp;

  function decodeOrNull(data: Uint8Array): DomainEvent | null {
    try {
      return decodeEvent(JSON.parse(new TextDecoder().decode(data)));
    } catch {
      return null;
    }
  }

  /** Publishes a frame to every member of the room on this gateway. */
  function broadcast(channelId: string, frame: ChatServerFrame): void {
    const topic = topicOf(channelId);
    const n = app.numSubscribers(topic);
    if (n === 0) return;
    app.publish(topic, encodeFrame(frame), false);
    mDelivered.inc(n);
  }

  /** Sends to one socket unless it has closed meanwhile (after an await). */
  function send(ws: uWS.WebSocket<SocketData>, frame: ChatServerFrame): void {
    if (ws.getUserData().closed) return;
    ws.send(encodeFrame(frame), false);
  }

  function refuse(ws: uWS.WebSocket<SocketData>, p: FrameProblem, retryAfterMs?: number): void {
    mRefused.inc({ code: p.code });
    send(ws, errorFrame(p, retryAfterMs));
  }

  // ---- rooms ---------------------------------------------------------------------------------
  async function openRoom(channelId: string, entry: RoomEntry): Promise<Room | null> {
    const buffered: DomainEvent[] = [];
    const onEvent = (err: Error | null, data: Uint8Array | undefined): void => {
      if (err || !data) return;
      const e = decodeOrNull(data);
      if (!e) return;
      if (!entry.room) {
        buffered.push(e);
        return;
      }
      const frame = entry.room.apply(e);
      if (frame) broadcast(channelId, frame);
    };
    entry.subs = [
      messaging.nc.subscribe(channelSubject(channelId), { callback: (err, msg) => onEvent(err, msg?.data) }),
      messaging.nc.subscribe(streamSubject(channelId), { callback: (err, msg) => onEvent(err, msg?.data) }),
    ];
    // Subscribed first, then the read models are read once they include everything stored up
    // to now: an event is then either in the snapshot or delivered to the subscription (or both;
    // applying is idempotent).
    const lastSeq = (await messaging.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    if (!(await waitForProjection(db, lastSeq, opts.projectionWaitMs ?? 3000))) {
      logger.warn({ streamId: channelId, lastSeq }, 'chat: read models are behind the event log; opening the room from what they hold');
    }
    const snapshot = await loadChatRoom(db, channelId);
    if (!snapshot) return null;
    const room = new Room(snapshot, rateLimit);
    entry.room = room;
    for (const e of buffered) room.apply(e);

    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    entry.follower = await followSubject(messaging, {
      stream: CHAT_STREAM,
      filter: chatSubject(channelId),
      from: 1,
      logger,
      onCaughtUp: () => caughtUp(),
      onMessage: (msg) => {
        let body: unknown = null;
        try { body = msg.json(); } catch { body = null; }
        const r = decodeChatRecord(msg.seq, body);
        if (!r) return;
        if (r.event.type === 'ChatMessageAccepted') {
          const line = chatLineOf(r.seq, r.event);
          if (room.addLine(line)) broadcast(channelId, { type: line.kind, ...line });
        } else {
          const removed = room.removeLine(r.event.data.messageId);
          if (removed || room.ready) {
            broadcast(channelId, { type: 'moderation', action: 'delete', messageId: r.event.data.messageId, actorUserId: r.event.data.actorUserId, at: r.event.occurredAt });
          }
        }
      },
    });
    await ready;
    room.ready = true;
    return room;
  }

  /** The room, opened if needed; null when the channel does not exist. Counts a pending join. */
  async function acquireRoom(channelId: string): Promise<Room | null> {
    let entry = rooms.get(channelId);
    if (!entry) {
      const e: RoomEntry = { room: undefined, opening: Promise.resolve(null), subs: [], follower: undefined, pending: 0, idleTimer: undefined };
      e.opening = openRoom(channelId, e).then(
        (room) => {
          if (!room) void closeRoom(channelId, e);
          else mRooms.set(rooms.size);
          return room;
        },
        async (err: unknown) => {
          await closeRoom(channelId, e);
          throw err;
        },
      );
      rooms.set(channelId, e);
      entry = e;
    }
    if (entry.idleTimer) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = undefined;
    }
    entry.pending++;
    try {
      return await entry.opening;
    } finally {
      entry.pending--;
      scheduleIdleClose(channelId);
    }
  }

  function scheduleIdleClose(channelId: string): void {
    const entry = rooms.get(channelId);
    if (!entry || entry.idleTimer || entry.pending > 0 || (entry.room?.members ?? 0) > 0) return;
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.pending === 0 && (entry.room?.members ?? 0) === 0) void closeRoom(channelId, entry);
    }, entry.room ? roomIdleMs : 0);
    entry.idleTimer.unref();
  }

  async function closeRoom(channelId: string, entry: RoomEntry): Promise<void> {
    if (rooms.get(channelId) === entry) rooms.delete(channelId);
    mRooms.set(rooms.size);
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    for (const s of entry.subs) s.unsubscribe();
    await entry.follower?.close();
  }

  // ---- commands ------------------------------------------------------------------------------
  const problem = (code: ChatErrorCode, message: string, ref: string | undefined): FrameProblem => (ref === undefined ? { code, message } : { code, message, ref });
  const ack = (ref: string | undefined, id: string, status: 'accepted' | 'held' | 'done', seq?: number): ChatServerFrame => ({
    type: 'ack', id, status, ...(ref !== undefined ? { ref } : {}), ...(seq !== undefined ? { seq } : {}),
  });

  /** The signed-in member, or answers AUTH_REQUIRED / TOKEN_EXPIRED and returns null. */
  function signedIn(ws: uWS.WebSocket<SocketData>, ref: string | undefined): Member | null {
    const d = ws.getUserData();
    if (!d.user) {
      refuse(ws, problem('AUTH_REQUIRED', 'sign in to chat: send an auth frame with an access token first', ref));
      return null;
    }
    if (d.tokenExpiresAt <= Date.now()) {
      refuse(ws, problem('TOKEN_EXPIRED', 'the access token has expired: send a new one in an auth frame', ref));
      return null;
    }
    return d.user;
  }

  /**
   * Refuses (BANNED, or TIMED_OUT with the time left) and returns true when the member is banned
   * or timed out in the room: the one check for sending and for reporting (`restrictionRefusal`).
   */
  function restricted(ws: uWS.WebSocket<SocketData>, room: Room, member: Member, ref: string | undefined, now: number): boolean {
    const restriction = room.restrictionOf(member.userId, now);
    if (!restriction) return false;
    const r = restrictionRefusal(restriction);
    refuse(ws, problem(r.code, r.message, ref), r.retryAfterMs);
    return true;
  }

  async function follows(room: Room, userId: string): Promise<boolean> {
    const now = Date.now();
    const cached = room.followerCache.get(userId);
    if (cached && cached.until > now) return cached.value;
    const value = await isFollowing(db, userId, room.channelId);
    room.followerCache.set(userId, { value, until: now + (value ? FOLLOWER_CACHE_MS.yes : FOLLOWER_CACHE_MS.no) });
    return value;
  }

  async function onAuth(ws: uWS.WebSocket<SocketData>, token: string, ref: string | undefined): Promise<void> {
    const d = ws.getUserData();
    try {
      const user = await verifyAccessToken({ jwtKeys: opts.jwtKeys }, token);
      d.user = { userId: user.userId, username: user.username, admin: user.roles.includes('admin') };
      d.tokenExpiresAt = accessTokenExpiry(token) * 1000;
      // A banned or timed-out member learns it on joining, not on their first send.
      const now = Date.now();
      const r = d.room!.restrictionOf(user.userId, now);
      const restriction = r === null ? {} : { restriction: r.kind === 'ban' ? { kind: 'ban' as const } : { kind: 'timeout' as const, until: new Date(now + r.remainingMs).toISOString() } };
      send(ws, { type: 'authenticated', userId: user.userId, username: user.username, moderator: d.room!.isModerator(d.user), ...restriction, ...(ref !== undefined ? { ref } : {}) });
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      refuse(ws, problem(err.code, err.message, ref));
    }
  }

  /** A message or emote: the checks of `decideChatSend` (@live/events, shared with the API's POST), then the append. */
  async function onChat(ws: uWS.WebSocket<SocketData>, frame: Extract<ChatClientFrame, { type: 'message' | 'emote' }>): Promise<void> {
    const d = ws.getUserData();
    const room = d.room!;
    const ref = frame.ref;
    const member = signedIn(ws, ref);
    if (!member) return;
    const moderator = room.isModerator(member);
    const follower = needsFollowerCheck(room.settings, moderator) && room.restrictionOf(member.userId, Date.now()) === null ? await follows(room, member.userId) : false;
    const now = Date.now();
    const decision = decideChatSend(frame.type === 'emote' ? { kind: 'emote', text: frame.emote } : { kind: 'message', text: frame.text }, {
      userId: member.userId, moderator, restriction: room.restrictionOf(member.userId, now), settings: room.settings, limits: room.limits, rateLimit,
      globalTerm, channelTerm: (text) => room.channelTerm(text), follower, now,
    });
    if (!decision.ok) {
      if (decision.code === 'SLOW_MODE') {
        mRefused.inc({ code: 'SLOW_MODE' });
        return send(ws, { type: 'slow_mode', slowModeSeconds: room.settings.slowModeSeconds, retryAfterMs: decision.retryAfterMs ?? 0, ...(ref !== undefined ? { ref } : {}) });
      }
      return refuse(ws, problem(decision.code, decision.message, ref), decision.retryAfterMs);
    }
    const { kind, text, heldBy } = decision;
    const reservation = room.limits.reserve(member.userId, now);
    try {
      if (heldBy !== null) {
        const e = domainEvent(clock, 'ChatMessageHeld', channelSubject(room.channelId), {
          channelId: room.channelId, userId: member.userId, username: member.username, kind, text, term: heldBy, sessionId: room.liveSessionId,
        }, { producer });
        await appendEvent(messaging.js, e);
        reservation.stored(text, clock.now());
        send(ws, ack(ref, e.id, 'held'));
        return;
      }
      const e = domainEvent(clock, 'ChatMessageAccepted', chatSubject(room.channelId), {
        channelId: room.channelId, userId: member.userId, username: member.username, kind, text, sessionId: room.liveSessionId,
      }, { producer });
      const r = await appendChatMessage(messaging, e);
      reservation.stored(text, clock.now());
      mAccepted.inc({ kind });
      send(ws, ack(ref, e.id, 'accepted', r.seq));
    } catch (err) {
      logger.warn({ err, streamId: room.channelId, userId: member.userId }, 'chat: could not append a message');
      reservation.release(); // "try again" must not then wait out the slow mode or be a duplicate
      refuse(ws, problem('UNAVAILABLE', 'chat is unavailable right now; try again', ref));
    }
  }

  async function onModerate(ws: uWS.WebSocket<SocketData>, action: ChatModerationRequest, ref: string | undefined): Promise<void> {
    const d = ws.getUserData();
    const room = d.room!;
    const member = signedIn(ws, ref);
    if (!member) return;
    if (!room.isModerator(member)) return refuse(ws, problem('FORBIDDEN', 'only the channel owner and its moderators may moderate', ref));
    const channelId = room.channelId;
    const subject = channelSubject(channelId);
    const actorUserId = member.userId;
    const event = <K extends EventType>(type: K, data: Parameters<typeof domainEvent<K>>[3]): EventEnvelope => domainEvent(clock, type, subject, data, { producer });
    let e: EventEnvelope;
    switch (action.kind) {
      case 'delete': {
        const line = room.line(action.messageId);
        if (!line) return refuse(ws, problem('MESSAGE_NOT_FOUND', 'no such message in this room', ref));
        const del = domainEvent(clock, 'ChatMessageDeleted', subject, {
          channelId, messageId: line.id, messageSeq: line.seq, authorUserId: line.userId, actorUserId, reason: action.reason ?? '',
        }, { producer });
        try {
          await deleteChatMessage(messaging, del);
        } catch (err) {
          logger.warn({ err, streamId: channelId }, 'chat: could not delete a message');
          return refuse(ws, problem('UNAVAILABLE', 'chat is unavailable right now; try again', ref));
        }
        mModeration.inc({ kind: 'delete' });
        return send(ws, ack(ref, del.id, 'done'));
      }
      case 'timeout':
      case 'ban':
      case 'unban': {
        // The same rules as the API's restriction routes (@live/events moderation.ts).
        const d = decideRestriction(clock, action, { channelId, ownerUserId: room.ownerUserId, actorUserId, producer });
        if (!d.ok) return refuse(ws, problem(d.code === 'CANNOT_RESTRICT' ? 'CANNOT_RESTRICT' : 'INVALID_FIELD', d.message, ref));
        e = d.event;
        break;
      }
      case 'settings':
        e = event('ChatSettingsChanged', { channelId, actorUserId, settings: { ...room.settings, ...action.settings } });
        break;
    }
    try {
      await appendEvent(messaging.js, e);
    } catch (err) {
      logger.warn({ err, streamId: channelId }, 'chat: could not append a moderation event');
      return refuse(ws, problem('UNAVAILABLE', 'chat is unavailable right now; try again', ref));
    }
    mModeration.inc({ kind: action.kind });
    logger.info({ streamId: channelId, userId: actorUserId, kind: action.kind }, 'chat: moderation');
    send(ws, ack(ref, e.id, 'done'));
  }

  /**
   * A report into the channel's moderation queue. Banned and timed-out users may not report
   * (the same refusal as for sending). One report per message and user: the report's id is
   * `reportIdOf(room, message, reporter)`, so a second report is the same event; it is answered
   * ALREADY_REPORTED when the read model holds the first one already, or when JetStream drops
   * it as a duplicate of one appended moments before (reports racing on two gateways); either
   * way the queue holds one item.
   */
  async function onReport(ws: uWS.WebSocket<SocketData>, frame: Extract<ChatClientFrame, { type: 'report' }>): Promise<void> {
    const room = ws.getUserData().room!;
    const ref = frame.ref;
    const member = signedIn(ws, ref);
    if (!member) return;
    const now = Date.now();
    if (restricted(ws, room, member, ref, now)) return;
    const wait = room.limits.take(member.userId, now);
    if (wait > 0) return refuse(ws, problem('RATE_LIMITED', 'too many messages and reports; wait a moment', ref), wait);
    const reason = checkText(frame.reason, 'reason', { max: 200 });
    if (!reason.ok) return refuse(ws, problem('INVALID_FIELD', reason.message, ref));
    const line = room.line(frame.messageId);
    if (!line) return refuse(ws, problem('MESSAGE_NOT_FOUND', 'no such message in this room', ref));
    const alreadyReported = (): void => refuse(ws, problem('ALREADY_REPORTED', 'you have already reported this message', ref));
    const id = reportIdOf(room.channelId, line.id, member.userId);
    const base = domainEvent(clock, 'ChatMessageReported', channelSubject(room.channelId), {
      channelId: room.channelId, messageId: line.id, messageSeq: line.seq, reporterUserId: member.userId, reason: reason.text,
      authorUserId: line.userId, authorUsername: line.username, text: line.text,
    }, { producer });
    const e = { ...base, id, meta: { ...base.meta, correlationId: id } };
    try {
      if (await db.selectFrom('moderation_queue').select('id').where('id', '=', id).executeTakeFirst()) return alreadyReported();
      if ((await appendEvent(messaging.js, e)).duplicate) return alreadyReported();
    } catch (err) {
      logger.warn({ err, streamId: room.channelId }, 'chat: could not append a report');
      return refuse(ws, problem('UNAVAILABLE', 'chat is unavailable right now; try again', ref));
    }
    send(ws, ack(ref, e.id, 'done'));
  }

  function dispatch(ws: uWS.WebSocket<SocketData>, frame: ChatClientFrame): Promise<void> | void {
    switch (frame.type) {
      case 'auth': return onAuth(ws, frame.token, frame.ref);
      case 'message':
      case 'emote': return onChat(ws, frame);
      case 'moderate': return onModerate(ws, frame.action, frame.ref);
      case 'report': return onReport(ws, frame);
      case 'ping': return send(ws, { type: 'pong', ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
    }
  }

  function invalidFrame(ws: uWS.WebSocket<SocketData>, p: FrameProblem): void {
    const d = ws.getUserData();
    const now = Date.now();
    if (now - d.invalidSince > 10_000) {
      d.invalid = 0;
      d.invalidSince = now;
    }
    d.invalid++;
    refuse(ws, p);
    if (d.invalid > MAX_INVALID_FRAMES) ws.end(CHAT_CLOSE.PROTOCOL_ABUSE, 'too many invalid frames');
  }

  // ---- HTTP and WebSocket routes ---------------------------------------------------------------
  const json = (res: uWS.HttpResponse, status: string, body: unknown): void => {
    res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body)));
  };
  /** Answers an upgrade refused by a connection cap (429 per address, 503 in total), counted and logged once a minute per address. */
  const refuseConnection = (res: uWS.HttpResponse, reason: 'per_address' | 'total', address: string): void => {
    mConnRefused.inc({ reason });
    const due = offenders.record(reason === 'total' ? reason : `${reason}|${address}`);
    if (due.log) logger.warn({ reason, client: address, refusedBefore: due.suppressed }, 'chat: connection refused by a cap (logged once a minute per client)');
    if (reason === 'per_address') json(res, '429 Too Many Requests', { code: 'TOO_MANY_CONNECTIONS', message: 'too many chat connections from this address' });
    else json(res, '503 Service Unavailable', { code: 'TOO_MANY_CONNECTIONS', message: 'this chat server is full; try again' });
  };

  app = opts.tls ? uWS.SSLApp({ cert_file_name: opts.tls.certFile, key_file_name: opts.tls.keyFile }) : uWS.App();
  const trustProxy = opts.trustProxy;
  const registerRoutes = (target: uWS.TemplatedApp): void => void target
    .ws<SocketData>('/chat/:channelId', {
      compression: uWS.DISABLED,
      // Frames up to 64 KiB reach the handler, which closes with 1009 and a reason past
      // CHAT_MAX_FRAME_BYTES; uWS itself fails a connection sending more (no close frame), so
      // a socket can never make the gateway buffer more than this.
      maxPayloadLength: TRANSPORT_MAX_FRAME_BYTES,
      maxBackpressure: opts.maxBackpressureBytes ?? 1024 * 1024,
      closeOnBackpressureLimit: true,
      idleTimeout: opts.idleTimeoutSeconds ?? 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const channelId = req.getParameter(0) ?? '';
        const afterRaw = req.getQuery('after');
        // Node's form (`::ffff:a.b.c.d`, compressed IPv6), as trusted proxies and caps are written
        const peerAddress = nodeStyleAddress(Buffer.from(res.getRemoteAddressAsText()).toString());
        const remoteAddress = trustProxy ? clientAddress(peerAddress, req.getHeader('x-forwarded-for'), trustProxy) : peerAddress;
        let aborted = false;
        res.onAborted(() => { aborted = true; });
        if (!CHANNEL_ID.test(channelId)) return json(res, '404 Not Found', { code: 'ROOM_NOT_FOUND', message: 'no such chat room' });
        let after: number | undefined;
        if (afterRaw !== undefined && afterRaw !== '') {
          after = Number(afterRaw);
          if (!Number.isSafeInteger(after) || after < 0) return json(res, '400 Bad Request', { code: 'INVALID_FIELD', message: 'after must be a message seq (a non-negative integer)' });
        }
        const capped = counter.tryOpen(remoteAddress);
        if (capped) return refuseConnection(res, capped, remoteAddress);
        acquireRoom(channelId).then(
          (room) => {
            if (aborted) return counter.release(remoteAddress);
            if (!room) {
              counter.release(remoteAddress);
              return json(res, '404 Not Found', { code: 'ROOM_NOT_FOUND', message: 'no such chat room' });
            }
            room.members++; // counted now so the room cannot idle-close before `open`
            const data: SocketData = {
              connectionId: randomUUID(), channelId, after, remoteAddress, room, user: null, tokenExpiresAt: 0, closed: false, invalid: 0, invalidSince: Date.now(),
            };
            res.cork(() => res.upgrade(data, key, protocol, extensions, context));
          },
          (err: unknown) => {
            counter.release(remoteAddress);
            logger.error({ err, streamId: channelId }, 'chat: could not open a room');
            if (!aborted) json(res, '503 Service Unavailable', { code: 'UNAVAILABLE', message: 'chat is unavailable right now; try again' });
          },
        );
      },
      open: (ws) => {
        const d = ws.getUserData();
        const room = d.room!;
        sockets.add(ws);
        mConnections.set(sockets.size);
        // welcome + history + subscribe in one synchronous step, so nothing falls between
        // history and live. Deferred out of `open`: sending from `open` after an asynchronous
        // upgrade (`res.cork(() => res.upgrade())`) can make uWS close the fresh socket at once
        // (uNetworking/uWebSockets#1928).
        setImmediate(() => {
          if (d.closed) return;
          ws.cork(() => {
            ws.send(encodeFrame({ type: 'welcome', room: room.channelId, connectionId: d.connectionId, settings: room.settings, viewers: room.viewers }), false);
            const h = room.history(d.after);
            ws.send(encodeFrame({ type: 'history', messages: h.messages, complete: h.complete }), false);
            ws.subscribe(topicOf(room.channelId));
          });
        });
      },
      message: (ws, message, isBinary) => {
        if (message.byteLength > CHAT_MAX_FRAME_BYTES) {
          mRefused.inc({ code: 'FRAME_TOO_LARGE' });
          return ws.end(1009, `frames are limited to ${CHAT_MAX_FRAME_BYTES} bytes`);
        }
        if (isBinary) return invalidFrame(ws, { code: 'BINARY_NOT_SUPPORTED', message: 'frames must be text (JSON)' });
        let text: string;
        try {
          text = decoder.decode(message);
        } catch {
          return invalidFrame(ws, { code: 'BAD_FRAME', message: 'a frame must be valid UTF-8' });
        }
        const parsed = parseClientFrame(text);
        if (!parsed.ok) return invalidFrame(ws, parsed);
        const pending = dispatch(ws, parsed.frame);
        if (pending) {
          pending.catch((err: unknown) => {
            logger.error({ err, streamId: ws.getUserData().channelId }, 'chat: handling a frame failed');
            refuse(ws, problem('UNAVAILABLE', 'chat is unavailable right now; try again', parsed.frame.ref));
          });
        }
      },
      close: (ws, code, message) => {
        const d = ws.getUserData();
        d.closed = true;
        if (code !== 1000 && code !== 1001 && code !== 1005) {
          logger.debug({ streamId: d.channelId, connectionId: d.connectionId, code, reason: Buffer.from(message).toString() }, 'chat: connection closed abnormally');
        }
        sockets.delete(ws);
        counter.release(d.remoteAddress);
        mConnections.set(sockets.size);
        mClosed.inc({ code: String(code) });
        if (d.room) {
          d.room.members = Math.max(0, d.room.members - 1);
          scheduleIdleClose(d.channelId);
        }
      },
    })
    .get('/healthz', (res) => json(res, '200 OK', { status: 'ok', gatewayId, connections: sockets.size, rooms: rooms.size }))
    .get('/metrics', (res) => {
      let aborted = false;
      res.onAborted(() => { aborted = true; });
      registry.metrics().then((text) => {
        if (!aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', registry.contentType).end(text));
      }, () => { if (!aborted) json(res, '500 Internal Server Error', { code: 'INTERNAL', message: 'metrics failed' }); });
    })
    .any('/*', (res) => json(res, '404 Not Found', { code: 'NOT_FOUND', message: 'No such resource.' }));
  registerRoutes(app);
  const sniNames = new Set<string>();

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(opts.host ?? '127.0.0.1', opts.port, (token) => (token ? resolve(token) : reject(new Error(`chat gateway: cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);

  // ---- NATS reconnects -------------------------------------------------------------------------
  // Core-NATS events (bans, settings, moderators, terms) published while the connection was down
  // never arrive; once it is back, every open room re-reads its rules from the read models after
  // they have caught up with the log. (Messages are unaffected: the CHAT followers resume at
  // their cursor.)
  const reloadRules = async (): Promise<void> => {
    const lastSeq = (await messaging.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    await waitForProjection(db, lastSeq, opts.projectionWaitMs ?? 3000);
    globalTerm = compileBannedTerms(await loadGlobalBannedTerms(db));
    for (const [id, entry] of rooms) {
      const snapshot = entry.room ? await loadChatRoom(db, id) : null;
      if (snapshot && entry.room) {
        const before = JSON.stringify(entry.room.settings);
        entry.room.resetRules(snapshot);
        if (JSON.stringify(snapshot.settings) !== before) broadcast(id, { type: 'mode', settings: snapshot.settings, actorUserId: null, at: new Date().toISOString() });
      }
    }
    logger.info({ rooms: rooms.size }, 'chat: NATS reconnected; room rules reloaded');
  };
  void (async () => {
    for await (const s of messaging.nc.status()) {
      if (s.type === 'reconnect') reloadRules().catch((err: unknown) => logger.error({ err }, 'chat: could not reload room rules after a reconnect'));
    }
  })().catch(() => undefined);

  // ---- presence ------------------------------------------------------------------------------
  const presenceTimer = setInterval(() => {
    const report: { gatewayId: string; rooms: Record<string, number>; at: number } = { gatewayId, rooms: {}, at: Date.now() };
    for (const [id, entry] of rooms) if ((entry.room?.members ?? 0) > 0) report.rooms[id] = entry.room!.members;
    try {
      messaging.nc.publish(chatPresenceSubject(gatewayId), JSON.stringify(report satisfies ChatPresenceReport));
    } catch (err) {
      logger.warn({ err }, 'chat: could not publish presence');
    }
    for (const entry of rooms.values()) entry.room?.limits.sweep(Date.now());
  }, PRESENCE_INTERVAL_MS);
  presenceTimer.unref();

  logger.info({ port, gatewayId }, 'chat gateway listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    registry,
    connections: () => sockets.size,
    reloadTls(serverNames) {
      if (!opts.tls) return;
      for (const name of serverNames) {
        if (sniNames.has(name)) app.removeServerName(name);
        app.addServerName(name, { cert_file_name: opts.tls.certFile, key_file_name: opts.tls.keyFile });
        // `domain()` points route registration at that server name's own router.
        registerRoutes(app.domain(name));
        sniNames.add(name);
      }
      logger.info({ serverNames }, 'chat: renewed TLS certificate installed');
    },
    close() {
      closing ??= (async () => {
        clearInterval(presenceTimer);
        uWS.us_listen_socket_close(listenSocket);
        for (const ws of [...sockets]) ws.end(1001, 'gateway shutting down');
        policySub.unsubscribe();
        await Promise.all([...rooms.entries()].map(([id, entry]) => closeRoom(id, entry).catch(() => undefined)));
        app.close();
      })();
      return closing;
    },
  };
}
