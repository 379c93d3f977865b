/**
 * The browser's sign-in session (no React here; see useSession.ts for the hook).
 *
 * - The access token (a short-lived JWT) lives in memory only; the refresh token in
 *   localStorage, so a reload or a new tab stays signed in (it is exchanged for a fresh access
 *   token at start-up).
 * - Refresh tokens are single-use and rotated on every refresh; presenting one twice revokes
 *   the whole sign-in (API: OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Hence:
 *   - one refresh at a time per page (concurrent callers share the one in flight), and across
 *     tabs of the same origin through a Web Lock, inside which the current refresh token is
 *     read from storage, so a tab never reuses one another tab already rotated;
 *   - a request that fails with 401 TOKEN_EXPIRED refreshes (or joins the refresh in flight, or
 *     uses a token refreshed meanwhile) and is retried once.
 * - The access token is refreshed shortly before it expires ({@link refreshDelayMs}), and on
 *   demand when it is about to expire (timers of background tabs are throttled).
 * - A refresh answered 400/401 (invalid, expired, reused or revoked) ends the session; network
 *   failures and 5xx keep it and retry with a growing delay.
 */
import { ApiError, callApi, type CallOptions, type FetchLike } from './api';

/** localStorage key of the refresh token. */
export const REFRESH_TOKEN_KEY = 'live.refreshToken';
/** Name of the Web Lock that serialises refreshes across tabs. */
export const REFRESH_LOCK_NAME = 'live.auth.refresh';
/** An access token that expires within this many ms is refreshed before use. */
export const EXPIRY_SKEW_MS = 5_000;
/** Refresh at most this long before the access token expires. */
export const REFRESH_LEAD_MAX_MS = 60_000;
/** Shortest delay {@link refreshDelayMs} returns. */
export const MIN_REFRESH_DELAY_MS = 1_000;
/** Longest delay `setTimeout` honours (2^31 − 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The caller's account as `GET /api/users/me` (and sign-in) returns it. */
export interface SessionUser {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly displayName: string;
  readonly bio: string;
  readonly roles: readonly string[];
  /** ISO 8601. */
  readonly createdAt: string;
  /** The user's channel, null until they create one. */
  readonly channelId: string | null;
}

/** Tokens of a sign-in or a refresh. `expiresIn`: seconds until the access token expires. */
export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
}

/** Answer of `POST /api/users/register` and `POST /api/users/login`. */
export interface SignInResponse extends TokenPair {
  readonly user: SessionUser;
}

/** `restoring`: a stored sign-in is being resumed; `anonymous`: signed out; `signed-in`: `user` is set. */
export type SessionStatus = 'restoring' | 'anonymous' | 'signed-in';

/** What the UI renders from the session. Replaced (never mutated) on every change. */
export interface SessionState {
  readonly status: SessionStatus;
  readonly user: SessionUser | null;
  /** Why the session ended or is stuck, for a banner ("sign in again", "retrying"); null normally. */
  readonly notice: string | null;
}

/** Body of `POST /api/users/register`. */
export interface RegisterInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly displayName?: string;
}

/** The subset of `Storage` the session uses. */
export type TokenStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Everything the session touches outside itself (the browser's, or fakes in tests). */
export interface SessionDeps {
  readonly fetch: FetchLike;
  readonly storage: TokenStorage;
  /** ms since the epoch. */
  readonly now: () => number;
  readonly setTimeout: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout: (handle: unknown) => void;
  /** Runs `fn` holding an exclusive lock shared by every tab; default: no cross-tab lock. */
  readonly withLock?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** Options of {@link Session.request}: `auth` = `none` (never send a token), `optional` (default), `required`. */
export interface RequestOptions extends Omit<CallOptions, 'token' | 'fetch'> {
  readonly auth?: 'none' | 'optional' | 'required';
}

/**
 * Delay from receiving an access token valid for `expiresInSeconds` to refreshing it: 20 % of
 * its lifetime before expiry, but at most {@link REFRESH_LEAD_MAX_MS} before (900 s → 840 s;
 * 60 s → 48 s), and at least {@link MIN_REFRESH_DELAY_MS}.
 */
export function refreshDelayMs(expiresInSeconds: number): number {
  const lifetime = Number.isFinite(expiresInSeconds) ? Math.max(0, expiresInSeconds * 1000) : 0;
  const lead = Math.min(REFRESH_LEAD_MAX_MS, lifetime * 0.2);
  return Math.min(MAX_TIMER_MS, Math.max(MIN_REFRESH_DELAY_MS, Math.round(lifetime - lead)));
}

/** Delay before the n-th (1-based) retry after a failed refresh: 2 s, 4 s, 8 s, … ≤ 60 s. */
export function refreshRetryDelayMs(attempt: number): number {
  return Math.min(2000 * 2 ** Math.max(0, attempt - 1), 60_000);
}

/**
 * True when a failed refresh means the sign-in is over (the API refused the refresh token:
 * 400 malformed, 401 invalid/expired/reused/revoked), false when it may be retried (network,
 * 429, 5xx).
 */
export function isTerminalRefreshError(err: unknown): boolean {
  return err instanceof ApiError && err.kind === 'http' && (err.status === 400 || err.status === 401);
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/** True when `v` has the shape of a {@link SessionUser}. */
export function isSessionUser(v: unknown): v is SessionUser {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    isStr(o.userId) && isStr(o.username) && isStr(o.email) && isStr(o.displayName) && isStr(o.bio) &&
    Array.isArray(o.roles) && o.roles.every(isStr) && isStr(o.createdAt) && (o.channelId === null || isStr(o.channelId))
  );
}

/** True when `v` has the shape of a {@link TokenPair}. */
export function isTokenPair(v: unknown): v is TokenPair {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isStr(o.accessToken) && o.accessToken !== '' && isStr(o.refreshToken) && o.refreshToken !== '' &&
    typeof o.expiresIn === 'number' && Number.isFinite(o.expiresIn);
}

function shapeError(what: string): ApiError {
  return new ApiError(`${what}: unexpected response`, 'shape');
}

const SIGN_IN_FIRST = 'Sign in first.';

/**
 * One sign-in session. Create it with {@link createBrowserSession} in the app (tests pass fake
 * {@link SessionDeps}), call {@link Session.start} once, and subscribe for changes.
 */
export class Session {
  readonly #deps: SessionDeps;
  #state: SessionState = { status: 'anonymous', user: null, notice: null };
  readonly #listeners = new Set<() => void>();
  #access: { readonly token: string; readonly expiresAt: number } | null = null;
  #inflight: { readonly epoch: number; readonly promise: Promise<string | null> } | null = null;
  #timer: unknown = null;
  /** Bumped on every sign-in and sign-out: results of work started before are dropped. */
  #epoch = 0;
  #failures = 0;
  #ready: Promise<void> = Promise.resolve();
  #started = false;

  constructor(deps: SessionDeps) {
    this.#deps = deps;
  }

  /** The current state (same object until something changes; for `useSyncExternalStore`). */
  getState = (): SessionState => this.#state;

  /** Calls `listener` after every state change; returns the unsubscribe function. */
  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** Resumes the stored sign-in, if any (once; later calls do nothing). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#beginRestore();
  }

  /**
   * Signs in with a username (or email) and password.
   * @throws ApiError e.g. INVALID_CREDENTIALS, LOGIN_THROTTLED (the API's message is the error's).
   */
  async signIn(username: string, password: string): Promise<SessionUser> {
    const body = await callApi('/api/users/login', { method: 'POST', body: { username, password }, fetch: this.#deps.fetch });
    return this.#adopt(body, 'POST /api/users/login');
  }

  /**
   * Creates an account and signs in.
   * @throws ApiError e.g. USERNAME_TAKEN, EMAIL_TAKEN, VALIDATION_FAILED.
   */
  async register(input: RegisterInput): Promise<SessionUser> {
    const body = await callApi('/api/users/register', { method: 'POST', body: input, fetch: this.#deps.fetch });
    return this.#adopt(body, 'POST /api/users/register');
  }

  /**
   * Signs out: forgets the tokens here at once, then asks the API to revoke the sign-in (best
   * effort: the token is gone from this browser either way).
   */
  async signOut(): Promise<void> {
    const refreshToken = this.#deps.storage.getItem(REFRESH_TOKEN_KEY);
    this.#deps.storage.removeItem(REFRESH_TOKEN_KEY);
    this.#end(null);
    if (refreshToken === null) return;
    try {
      await callApi('/api/auth/logout', { method: 'POST', body: { refreshToken }, fetch: this.#deps.fetch });
    } catch {
      // Unreachable API: the refresh token expires on its own.
    }
  }

  /**
   * A valid access token, or null when signed out. Waits for a sign-in being restored, and
   * refreshes first when the token expires within {@link EXPIRY_SKEW_MS}.
   * @throws ApiError when a needed refresh fails for a reason that does not end the session.
   */
  async accessToken(): Promise<string | null> {
    if (this.#state.status === 'restoring') await this.#ready;
    if (this.#state.status !== 'signed-in') return null;
    const a = this.#access;
    if (a && a.expiresAt - this.#deps.now() > EXPIRY_SKEW_MS) return a.token;
    return this.refresh();
  }

  /**
   * Exchanges the stored refresh token for new tokens and returns the new access token (null
   * when the session ended: no stored token, or the API refused it). Single-flight: while one
   * refresh runs, every caller gets its result.
   * @throws ApiError for failures that keep the session (network, 429, 5xx).
   */
  refresh(): Promise<string | null> {
    const epoch = this.#epoch;
    if (this.#inflight?.epoch !== epoch) {
      const run = this.#deps.withLock ?? (<T>(fn: () => Promise<T>) => fn());
      const promise = run(() => this.#rotate(epoch)).finally(() => {
        if (this.#inflight?.promise === promise) this.#inflight = null;
      });
      this.#inflight = { epoch, promise };
    }
    return this.#inflight!.promise;
  }

  /**
   * One API request as the signed-in user (see {@link RequestOptions}). A 401 TOKEN_EXPIRED
   * refreshes the token (once, shared with concurrent requests) and retries once; with `auth:
   * 'optional'` a request whose session ended meanwhile is retried anonymously.
   * @throws ApiError as {@link callApi}; UNAUTHENTICATED (401) when `auth: 'required'` and
   *   signed out.
   */
  async request(path: string, opts: RequestOptions = {}): Promise<unknown> {
    const { auth = 'optional', ...call } = opts;
    const token = auth === 'none' ? null : await this.accessToken();
    if (auth === 'required' && token === null) throw new ApiError(SIGN_IN_FIRST, 'http', 401, 'UNAUTHENTICATED');
    const send = (t: string | null) => callApi(path, { ...call, token: t, fetch: this.#deps.fetch });
    try {
      return await send(token);
    } catch (err) {
      if (token === null || !(err instanceof ApiError) || err.code !== 'TOKEN_EXPIRED') throw err;
      // Another request may have refreshed meanwhile: use its token rather than rotate again.
      const current = this.#access?.token;
      const fresh = current !== undefined && current !== token ? current : await this.refresh();
      if (fresh === null && auth === 'required') throw new ApiError(SIGN_IN_FIRST, 'http', 401, 'UNAUTHENTICATED');
      return send(fresh);
    }
  }

  /**
   * Reloads the account (`GET /api/users/me`), e.g. after creating a channel.
   * @throws ApiError as {@link request}.
   */
  async reloadUser(): Promise<SessionUser> {
    const epoch = this.#epoch;
    const me = await this.request('/api/users/me', { auth: 'required' });
    if (!isSessionUser(me)) throw shapeError('GET /api/users/me');
    if (epoch === this.#epoch && this.#state.status === 'signed-in') this.#set({ status: 'signed-in', user: me, notice: null });
    return me;
  }

  /**
   * Follows the refresh token changing in another tab (the `storage` event): removed → signed
   * out here too; appeared while signed out → resume it. A rotation by another tab needs
   * nothing (the token is read from storage at each refresh).
   */
  handleStorageChange(newValue: string | null): void {
    if (newValue === null && this.#state.status !== 'anonymous') this.#end(null);
    else if (newValue !== null && this.#state.status === 'anonymous') this.#beginRestore();
  }

  /** Clears the refresh timer (the state is kept). For tests and teardown. */
  dispose(): void {
    this.#clearTimer();
  }

  // -------------------------------------------------------------------------------------------

  #set(next: SessionState): void {
    this.#state = next;
    for (const l of [...this.#listeners]) l();
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#deps.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(ms: number, fn: () => void): void {
    this.#clearTimer();
    this.#timer = this.#deps.setTimeout(() => {
      this.#timer = null;
      fn();
    }, ms);
  }

  #setAccess(tokens: TokenPair): void {
    this.#access = { token: tokens.accessToken, expiresAt: this.#deps.now() + tokens.expiresIn * 1000 };
    this.#failures = 0;
    this.#schedule(refreshDelayMs(tokens.expiresIn), () => void this.#timedRefresh());
  }

  async #timedRefresh(): Promise<void> {
    const epoch = this.#epoch;
    try {
      await this.refresh();
    } catch {
      if (epoch !== this.#epoch || this.#state.status === 'anonymous') return;
      this.#failures += 1;
      this.#schedule(refreshRetryDelayMs(this.#failures), () => void this.#timedRefresh());
    }
  }

  /** The refresh itself, holding the lock. Reads the refresh token from storage every time. */
  async #rotate(epoch: number): Promise<string | null> {
    const { storage } = this.#deps;
    const refreshToken = storage.getItem(REFRESH_TOKEN_KEY);
    if (refreshToken === null) {
      if (epoch === this.#epoch) this.#end(null);
      return null;
    }
    let body: unknown;
    try {
      body = await callApi('/api/auth/refresh', { method: 'POST', body: { refreshToken }, fetch: this.#deps.fetch });
    } catch (err) {
      if (!isTerminalRefreshError(err)) throw err;
      // Only forget the token we presented (another tab may have signed in anew meanwhile).
      if (storage.getItem(REFRESH_TOKEN_KEY) === refreshToken) storage.removeItem(REFRESH_TOKEN_KEY);
      if (epoch === this.#epoch) this.#end(`${(err as ApiError).message}`);
      return null;
    }
    if (!isTokenPair(body)) throw shapeError('POST /api/auth/refresh');
    // Signed out (or in anew) while this ran: the sign-out revoked this token's whole family.
    if (epoch !== this.#epoch) return null;
    storage.setItem(REFRESH_TOKEN_KEY, body.refreshToken);
    this.#setAccess(body);
    return body.accessToken;
  }

  #adopt(body: unknown, what: string): SessionUser {
    if (!isTokenPair(body) || !isSessionUser((body as { user?: unknown }).user)) throw shapeError(what);
    const s = body as SignInResponse;
    this.#epoch += 1;
    this.#inflight = null;
    this.#deps.storage.setItem(REFRESH_TOKEN_KEY, s.refreshToken);
    this.#setAccess(s);
    this.#set({ status: 'signed-in', user: s.user, notice: null });
    return s.user;
  }

  #end(notice: string | null): void {
    this.#epoch += 1;
    this.#inflight = null;
    this.#access = null;
    this.#failures = 0;
    this.#clearTimer();
    this.#set({ status: 'anonymous', user: null, notice });
  }

  #beginRestore(): void {
    if (this.#deps.storage.getItem(REFRESH_TOKEN_KEY) === null) {
      this.#set({ status: 'anonymous', user: null, notice: this.#state.notice });
      return;
    }
    this.#set({ status: 'restoring', user: null, notice: null });
    this.#ready = this.#restore(this.#epoch);
  }

  async #restore(epoch: number): Promise<void> {
    try {
      const token = await this.refresh();
      if (token === null || epoch !== this.#epoch) return;
      const me = await callApi('/api/users/me', { token, fetch: this.#deps.fetch });
      if (!isSessionUser(me)) throw shapeError('GET /api/users/me');
      if (epoch === this.#epoch) this.#set({ status: 'signed-in', user: me, notice: null });
    } catch (err) {
      if (epoch !== this.#epoch) return;
      if (isTerminalRefreshError(err)) {
        this.#end((err as ApiError).message);
        return;
      }
      this.#failures += 1;
      const delay = refreshRetryDelayMs(this.#failures);
      this.#set({ status: 'restoring', user: null, notice: `Can’t reach the server to restore your sign-in; retrying in ${Math.round(delay / 1000)} s.` });
      this.#schedule(delay, () => {
        if (epoch === this.#epoch) this.#ready = this.#restore(epoch);
      });
    }
  }
}

/**
 * The app's session over the browser: `fetch`, `localStorage` (falling back to memory when it
 * is unavailable), timers, Web Locks (`navigator.locks`, when the browser has them) and the
 * `storage` event for sign-in/out in other tabs. Call {@link Session.start} to resume.
 */
export function createBrowserSession(): Session {
  let storage: TokenStorage;
  try {
    storage = window.localStorage;
    storage.getItem(REFRESH_TOKEN_KEY);
  } catch {
    const mem = new Map<string, string>();
    storage = { getItem: (k) => mem.get(k) ?? null, setItem: (k, v) => void mem.set(k, v), removeItem: (k) => void mem.delete(k) };
  }
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  const session = new Session({
    fetch: (input, init) => fetch(input, init),
    storage,
    now: () => Date.now(),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
    ...(locks ? { withLock: <T,>(fn: () => Promise<T>) => locks.request(REFRESH_LOCK_NAME, fn) as Promise<T> } : {}),
  });
  window.addEventListener('storage', (e) => {
    if (e.key === REFRESH_TOKEN_KEY || e.key === null) session.handleStorageChange(storage.getItem(REFRESH_TOKEN_KEY));
  });
  return session;
}
