/**
 * One chat room as a gateway holds it: the room's rules (owner, moderators, settings,
 * restrictions, banned terms), its recent history (a copy of what CHAT stores for the room, less
 * the messages a ban or timeout hid: `isHiddenChatLine` of @live/events), and the per-user limits. Fed by the gateway from Postgres at open time and then by events; pure
 * state transitions, no I/O.
 */
import {
  CHAT_HISTORY_PER_ROOM, CHAT_JOIN_BACKLOG, UserLimits, hideAuthorMessages, isHiddenChatLine, restrictionAt,
  type BannedTerm, type ChatLine, type ChatRoomSettings, type ChatServerFrame, type DomainEvent, type RateLimit, type Restriction,
} from '@live/events';
import { compileBannedTerms, type BannedTermMatcher } from '@live/events/terms';
import type { ChatRoomSnapshot } from '@live/db';

/** The caller as far as a room's rules are concerned. */
export interface Member {
  readonly userId: string;
  readonly username: string;
  /** Global admin role from the access token. */
  readonly admin: boolean;
}

/** A room's state on one gateway. */
export class Room {
  readonly channelId: string;
  ownerUserId: string | null;
  liveSessionId: string | null;
  settings: ChatRoomSettings;
  /** Viewers across all gateways, from the last ChannelViewersCounted. */
  viewers: number;
  /** Sockets of this gateway in the room. */
  members = 0;
  /** True once the history has been read up to the live end. */
  ready = false;
  readonly limits: UserLimits;
  private readonly moderators: Set<string>;
  /** userId → end of timeout (ms since epoch), or null for a ban. */
  private readonly restrictions = new Map<string, number | null>();
  /** Authors whose messages up to their latest ban or timeout are hidden (`isHiddenChatLine`). */
  private readonly hidden = new Map<string, number>();
  private matchTerm: BannedTermMatcher;
  /** Messages oldest first, at most {@link CHAT_HISTORY_PER_ROOM}. */
  private readonly lines: ChatLine[] = [];
  /** Earliest seq ever dropped from `lines` by the cap (history before it is incomplete). */
  private droppedUpTo = 0;
  /** userId → cached follower answer and its expiry (ms). */
  readonly followerCache = new Map<string, { readonly value: boolean; readonly until: number }>();

  constructor(snapshot: ChatRoomSnapshot, rateLimit: RateLimit) {
    this.channelId = snapshot.channelId;
    this.ownerUserId = snapshot.ownerUserId;
    this.liveSessionId = snapshot.liveSessionId;
    this.settings = snapshot.settings;
    this.viewers = snapshot.viewerCount;
    this.moderators = new Set(snapshot.moderatorIds);
    for (const r of snapshot.restrictions) this.restrictions.set(r.userId, r.until ? r.until.getTime() : null);
    for (const h of snapshot.hiddenAuthors) this.hidden.set(h.userId, h.through.getTime());
    this.matchTerm = compileBannedTerms(snapshot.terms);
    this.limits = new UserLimits(rateLimit);
  }

  /**
   * Replaces the room's rules (owner, moderators, settings, restrictions, terms, live session)
   * with a fresh snapshot of the read models, keeping history and per-user limits. Used after
   * the gateway's NATS connection came back: core-NATS events published while it was away were
   * not delivered, but the read models have them.
   */
  resetRules(snapshot: ChatRoomSnapshot): void {
    this.ownerUserId = snapshot.ownerUserId;
    this.liveSessionId = snapshot.liveSessionId;
    this.settings = snapshot.settings;
    this.moderators.clear();
    for (const id of snapshot.moderatorIds) this.moderators.add(id);
    this.restrictions.clear();
    for (const r of snapshot.restrictions) this.restrictions.set(r.userId, r.until ? r.until.getTime() : null);
    for (const h of snapshot.hiddenAuthors) this.hideMessagesOf(h.userId, h.through.toISOString());
    this.matchTerm = compileBannedTerms(snapshot.terms);
    this.followerCache.clear();
  }

  /** Owner, channel moderator or platform admin. */
  isModerator(m: Member): boolean {
    return m.admin || m.userId === this.ownerUserId || this.moderators.has(m.userId);
  }

  /** The ban or timeout in force for `userId` at `now`, or null. */
  restrictionOf(userId: string, now: number): Restriction | null {
    const r = restrictionAt(this.restrictions.get(userId), now);
    if (!r) this.restrictions.delete(userId);
    return r;
  }

  /** Hides `userId`'s held messages accepted up to `at` (ISO 8601), and any that arrive later with such a time. */
  private hideMessagesOf(userId: string, at: string): void {
    hideAuthorMessages(this.hidden, userId, at);
    for (let i = this.lines.length - 1; i >= 0; i--) if (isHiddenChatLine(this.lines[i]!, this.hidden)) this.lines.splice(i, 1);
  }

  /** The room's banned term that `text` contains, or null. */
  channelTerm(text: string): BannedTerm | null {
    return this.matchTerm(text);
  }

  /**
   * Appends an accepted message (stream order). Returns false when already held (a redelivery)
   * or hidden (its author was banned or timed out after sending it): it is then neither kept nor
   * broadcast.
   */
  addLine(line: ChatLine): boolean {
    const last = this.lines[this.lines.length - 1];
    if (last && line.seq <= last.seq) return false;
    if (isHiddenChatLine(line, this.hidden)) return false;
    this.lines.push(line);
    if (this.lines.length > CHAT_HISTORY_PER_ROOM) this.droppedUpTo = this.lines.shift()!.seq;
    return true;
  }

  /** Removes a message (a tombstone). Returns the removed line, or undefined when not held. */
  removeLine(messageId: string): ChatLine | undefined {
    const i = this.lines.findIndex((l) => l.id === messageId);
    return i < 0 ? undefined : this.lines.splice(i, 1)[0];
  }

  /** The held message with this id, or undefined. */
  line(messageId: string): ChatLine | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) if (this.lines[i]!.id === messageId) return this.lines[i];
    return undefined;
  }

  /**
   * The backlog for a joining client: the last {@link CHAT_JOIN_BACKLOG} messages, or, with
   * `after` (the seq of the last message the client saw), every held message after it.
   * `complete` is false when messages after `after` may have left the history already.
   */
  history(after: number | undefined): { messages: ChatLine[]; complete: boolean } {
    if (after === undefined) return { messages: this.lines.slice(-CHAT_JOIN_BACKLOG), complete: true };
    let i = this.lines.length;
    while (i > 0 && this.lines[i - 1]!.seq > after) i--;
    return { messages: this.lines.slice(i), complete: after >= this.droppedUpTo };
  }

  /** Held messages. */
  get size(): number {
    return this.lines.length;
  }

  /**
   * Applies a domain event of the room's channel (from `evt.channel.<id>` / `evt.stream.<id>`)
   * and returns the frame to broadcast to the room's members, if any. Idempotent: applying an
   * event twice, or one already reflected in the snapshot, changes nothing more.
   */
  apply(e: DomainEvent): ChatServerFrame | null {
    const at = e.occurredAt;
    switch (e.type) {
      case 'ChatUserBanned':
        this.restrictions.set(e.data.userId, null);
        this.hideMessagesOf(e.data.userId, at);
        return { type: 'moderation', action: 'ban', userId: e.data.userId, actorUserId: e.data.actorUserId, at };
      case 'ChatUserTimedOut':
        this.restrictions.set(e.data.userId, Date.parse(e.data.until));
        this.hideMessagesOf(e.data.userId, at);
        return { type: 'moderation', action: 'timeout', userId: e.data.userId, durationSeconds: e.data.durationSeconds, actorUserId: e.data.actorUserId, at };
      case 'ChatUserUnbanned':
        this.restrictions.delete(e.data.userId);
        return { type: 'moderation', action: 'unban', userId: e.data.userId, actorUserId: e.data.actorUserId, at };
      case 'ChatSettingsChanged':
        this.settings = e.data.settings;
        return { type: 'mode', settings: e.data.settings, actorUserId: e.data.actorUserId, at };
      case 'ChatBannedTermsSet':
        this.matchTerm = compileBannedTerms(e.data.terms);
        return null;
      case 'ChannelModeratorAdded':
        this.moderators.add(e.data.userId);
        return null;
      case 'ChannelModeratorRemoved':
        this.moderators.delete(e.data.userId);
        return null;
      case 'ChannelFollowed':
      case 'ChannelUnfollowed':
        this.followerCache.delete(e.data.userId);
        return null;
      case 'ChannelViewersCounted':
        if (e.data.viewers === this.viewers) return null;
        this.viewers = e.data.viewers;
        return { type: 'viewers', count: e.data.viewers };
      case 'StreamPublishStarted':
        this.liveSessionId = e.data.sessionId;
        return null;
      case 'StreamPublishEnded':
      case 'StreamFailed':
        if (this.liveSessionId === e.data.sessionId) this.liveSessionId = null;
        return null;
      default:
        return null;
    }
  }
}
