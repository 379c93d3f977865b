/**
 * Abuse controls of a chat room, per user: a token bucket (rate limit), slow mode and the
 * duplicate filter; plus link detection. Pure, in-memory, time passed in by the caller (ms).
 * Every process that accepts chat messages (each chat gateway, and the API's
 * `POST /api/streams/{id}/chat`) keeps its own {@link UserLimits} per room; the checks
 * themselves are {@link decideChatSend} (chat-send.ts).
 */

/** Rate-limit settings: `capacity` messages, refilled evenly over `windowMs`. */
export interface RateLimit {
  /** Burst size and messages per window (default 20). */
  readonly capacity: number;
  /** Window over which `capacity` tokens refill, ms (default 5000). */
  readonly windowMs: number;
}

/** The default: 20 messages per 5 s per user per room. */
export const DEFAULT_RATE_LIMIT: RateLimit = { capacity: 20, windowMs: 5000 };

/** How long the duplicate filter remembers a user's last text, ms. */
export const DUPLICATE_WINDOW_MS = 30_000;

/** A message accepted for sending whose append is in flight ({@link UserLimits.reserve}). */
export interface MessageReservation {
  /** The append succeeded at `at` (ms): the message counts for slow mode and the duplicate filter. */
  stored(text: string, at: number): void;
  /** The append failed: forget the reservation. */
  release(): void;
}

/** Per-user state of one room on one gateway. */
interface UserState {
  tokens: number;
  refilledAt: number;
  /** When the last stored message was accepted for sending (slow mode), ms. */
  lastAcceptedAt: number;
  /** Reservation times of messages whose append is in flight, ms. */
  pending: number[];
  /** The last stored message's normalised text and when it was stored (duplicate filter), ms. */
  lastText: string;
  lastStoredAt: number;
  touchedAt: number;
}

/**
 * Per-user counters of one room. A token bucket (RFC 2697-style single rate: `capacity` tokens,
 * refilled at capacity/windowMs per ms) takes one token for every frame a user sends that could
 * write (message, emote, report); slow mode looks at the last message accepted for sending
 * or in flight ({@link UserLimits.reserve}, before the append), the duplicate filter at the last
 * one stored (after it): a message whose append failed never makes its retry a "duplicate",
 * whatever else the user sent meanwhile. State is per gateway: a user connected to two gateways
 * at once gets two buckets.
 */
export class UserLimits {
  private readonly users = new Map<string, UserState>();

  constructor(private readonly limit: RateLimit = DEFAULT_RATE_LIMIT) {}

  private state(userId: string, now: number): UserState {
    let s = this.users.get(userId);
    if (!s) {
      s = { tokens: this.limit.capacity, refilledAt: now, lastAcceptedAt: -Infinity, pending: [], lastText: '', lastStoredAt: -Infinity, touchedAt: now };
      this.users.set(userId, s);
    }
    s.touchedAt = now;
    return s;
  }

  /**
   * Takes one token for `userId`.
   * @returns 0 when taken, else the ms until a token is available (nothing is taken then).
   */
  take(userId: string, now: number): number {
    const s = this.state(userId, now);
    const rate = this.limit.capacity / this.limit.windowMs;
    s.tokens = Math.min(this.limit.capacity, s.tokens + (now - s.refilledAt) * rate);
    s.refilledAt = now;
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return 0;
    }
    return (1 - s.tokens) / rate;
  }

  /** ms the user must still wait under a slow mode of `slowModeSeconds` (0 = may send now). */
  slowModeWait(userId: string, slowModeSeconds: number, now: number): number {
    if (slowModeSeconds <= 0) return 0;
    const s = this.users.get(userId);
    if (!s) return 0;
    return Math.max(0, Math.max(s.lastAcceptedAt, ...s.pending) + slowModeSeconds * 1000 - now);
  }

  /** True when `text` equals (case-insensitively, whitespace-collapsed) the user's last stored text of the last 30 s. */
  isDuplicate(userId: string, text: string, now: number): boolean {
    const s = this.users.get(userId);
    return !!s && now - s.lastStoredAt < DUPLICATE_WINDOW_MS && s.lastText === normaliseForDuplicates(text);
  }

  /**
   * Reserves a message accepted for sending, before it is appended: slow mode counts from the
   * latest reservation, stored or still in flight, so two frames sent at once cannot both pass
   * a slow mode.
   * @returns the reservation: `stored(text, at)` once the append succeeded (the text then counts
   *   for the duplicate filter), `release()` when it failed (the client is told to try again:
   *   its retry neither waits out the slow mode nor counts as a duplicate). Each acts once.
   */
  reserve(userId: string, now: number): MessageReservation {
    const s = this.state(userId, now);
    s.pending.push(now);
    let done = false;
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      const i = s.pending.indexOf(now);
      if (i >= 0) s.pending.splice(i, 1);
      return true;
    };
    return {
      stored: (text, at) => {
        if (!settle()) return;
        s.lastAcceptedAt = Math.max(s.lastAcceptedAt, now);
        s.lastText = normaliseForDuplicates(text);
        s.lastStoredAt = at;
      },
      release: () => { settle(); },
    };
  }

  /**
   * Forgets users idle for longer than `idleMs` (default 1 h: the longest slow mode, so
   * forgetting loses nothing — their bucket is full and no interval is still running).
   */
  sweep(now: number, idleMs = 3600_000): void {
    for (const [id, s] of this.users) if (now - s.touchedAt > idleMs) this.users.delete(id);
  }

  /** Users with state. */
  get size(): number {
    return this.users.size;
  }
}

function normaliseForDuplicates(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

// A scheme URL, `www.` host, or a bare domain with a common top-level domain (the forms chat
// spam uses); deliberately broad: the filter is for rooms that chose "no links".
const LINK = /\b(?:[a-z][a-z0-9+.-]*:\/\/|www\.)\S|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|io|tv|gg|co|me|ly|xyz|app|dev|ru|cn|de|uk|fr|be|link|live|site|online|shop|top|club)\b/i;

/** True when `text` contains something a viewer would recognise as a link. */
export function containsLink(text: string): boolean {
  return LINK.test(text);
}
