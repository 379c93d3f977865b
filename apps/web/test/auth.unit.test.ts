/**
 * The session module (src/auth.ts) against a fake API that behaves like ours: refresh tokens
 * are single-use, presenting one twice answers 401 REFRESH_TOKEN_REUSED. Timers, clock and
 * storage are fakes, so scheduling is checked exactly and nothing waits on real time.
 */
import { describe, expect, it } from 'vitest';
import {
  EXPIRY_SKEW_MS, MIN_REFRESH_DELAY_MS, refreshDelayMs, refreshRetryDelayMs, REFRESH_TOKEN_KEY, Session,
  type SessionDeps, type SessionUser, type TokenStorage,
} from '../src/auth';
import { ApiError, type FetchLike } from '../src/api';

const USER: SessionUser = {
  userId: 'u1', username: 'nova', email: 'nova@example.com', displayName: 'Nova', bio: '', roles: ['viewer'],
  createdAt: '2025-01-01T00:00:00.000Z', channelId: null,
};
const EXPIRES_IN = 900;

function json(status: number, body: unknown): Response {
  return status === 204 ? new Response(null, { status }) : new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

interface Call {
  readonly path: string;
  readonly method: string;
  readonly body: unknown;
  readonly auth: string | null;
}

/**
 * The API as far as the session sees it. Access tokens `at_<n>` are valid while `expired` does
 * not hold them; refresh tokens `rt_<n>` are single-use. `gate`, when set, holds refresh answers
 * until released (to make refreshes overlap).
 */
class FakeApi {
  calls: Call[] = [];
  private n = 0;
  private used = new Set<string>();
  expired = new Set<string>();
  refreshFailure: (() => Response | Promise<Response>) | null = null;
  gate: Promise<void> | null = null;
  /** Holds answers to `/api/slow…` until released (the token is checked after it). */
  slow: Promise<void> | null = null;

  issue(): { accessToken: string; refreshToken: string; expiresIn: number } {
    this.n += 1;
    return { accessToken: `at_${this.n}`, refreshToken: `rt_${this.n}`, expiresIn: EXPIRES_IN };
  }

  refreshCalls(): Call[] {
    return this.calls.filter((c) => c.path === '/api/auth/refresh');
  }

  fetch: FetchLike = async (input, init) => {
    const path = String(input);
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : null;
    const auth = (init.headers as Record<string, string>).authorization ?? null;
    this.calls.push({ path, method: init.method ?? 'GET', body, auth });
    if (path === '/api/users/login') return json(200, { user: USER, ...this.issue() });
    if (path === '/api/auth/refresh') {
      if (this.gate) await this.gate;
      if (this.refreshFailure) return this.refreshFailure();
      const rt = String(body?.refreshToken);
      if (this.used.has(rt)) return json(401, { code: 'REFRESH_TOKEN_REUSED', message: 'The refresh token was already used.' });
      this.used.add(rt);
      return json(200, this.issue());
    }
    if (path === '/api/auth/logout') return json(204, null);
    if (path.startsWith('/api/slow') && this.slow) await this.slow;
    const token = auth?.replace(/^Bearer /, '') ?? null;
    if (token !== null && this.expired.has(token)) return json(401, { code: 'TOKEN_EXPIRED', message: 'The access token has expired; refresh it.' });
    if (path === '/api/users/me') return token ? json(200, USER) : json(401, { code: 'UNAUTHENTICATED', message: 'Sign in first.' });
    return json(200, { ok: true, token });
  };
}

class FakeEnv {
  now = 1_000_000;
  timers: Array<{ id: number; at: number; fn: () => void }> = [];
  private nextId = 1;
  readonly store = new Map<string, string>();
  readonly storage: TokenStorage = {
    getItem: (k) => this.store.get(k) ?? null,
    setItem: (k, v) => void this.store.set(k, v),
    removeItem: (k) => void this.store.delete(k),
  };

  deps(api: FakeApi, extra: Partial<SessionDeps> = {}): SessionDeps {
    return {
      fetch: api.fetch,
      storage: this.storage,
      now: () => this.now,
      setTimeout: (fn, ms) => {
        const id = this.nextId++;
        this.timers.push({ id, at: this.now + ms, fn });
        return id;
      },
      clearTimeout: (id) => {
        this.timers = this.timers.filter((t) => t.id !== id);
      },
      ...extra,
    };
  }

  /** Delays of the pending timers, from now. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.now);
  }

  /** Advances the clock to the next timer and runs it. */
  fireNext(): void {
    const next = [...this.timers].sort((a, b) => a.at - b.at)[0];
    if (!next) throw new Error('no timer pending');
    this.timers = this.timers.filter((t) => t !== next);
    this.now = next.at;
    next.fn();
  }
}

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((r) => setTimeout(r, 0));

/** A cross-tab lock stand-in: runs the functions one after another. */
function mutex(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

async function signedIn(env = new FakeEnv(), api = new FakeApi()) {
  const session = new Session(env.deps(api));
  await session.signIn('nova', 'secret-password');
  return { env, api, session };
}

describe('refresh scheduling', () => {
  it('refreshes 20 % of the lifetime before expiry, at most 60 s before, at least 1 s after', () => {
    expect(refreshDelayMs(900)).toBe(840_000);
    expect(refreshDelayMs(60)).toBe(48_000);
    expect(refreshDelayMs(10)).toBe(8_000);
    expect(refreshDelayMs(0)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(Number.NaN)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(1e12)).toBe(2_147_483_647);
  });

  it('backs off after failed refreshes: 2 s, 4 s, 8 s … at most 60 s', () => {
    expect([1, 2, 3, 4, 10].map(refreshRetryDelayMs)).toEqual([2000, 4000, 8000, 16_000, 60_000]);
  });

  it('keeps the refresh token in storage, the access token in memory, and refreshes before expiry', async () => {
    const { env, api, session } = await signedIn();
    expect(session.getState()).toMatchObject({ status: 'signed-in', user: USER });
    expect([...env.store.entries()]).toEqual([[REFRESH_TOKEN_KEY, 'rt_1']]);
    expect(env.pending()).toEqual([refreshDelayMs(EXPIRES_IN)]);

    env.fireNext();
    await flush();
    expect(api.refreshCalls().map((c) => c.body)).toEqual([{ refreshToken: 'rt_1' }]);
    expect(env.store.get(REFRESH_TOKEN_KEY)).toBe('rt_2');
    expect(await session.accessToken()).toBe('at_2');
    expect(env.pending()).toEqual([refreshDelayMs(EXPIRES_IN)]); // the next one is scheduled
  });

  it('refreshes on demand when the token is about to expire (a throttled timer fired late)', async () => {
    const { env, api, session } = await signedIn();
    env.now += EXPIRES_IN * 1000 - EXPIRY_SKEW_MS + 1;
    expect(await session.accessToken()).toBe('at_2');
    expect(api.refreshCalls()).toHaveLength(1);
    expect(await session.accessToken()).toBe('at_2');
    expect(api.refreshCalls()).toHaveLength(1);
  });

  it('retries a refresh that failed on the network, without ending the session', async () => {
    const { env, api, session } = await signedIn();
    api.refreshFailure = () => Promise.reject(new TypeError('fetch failed'));
    env.fireNext();
    await flush();
    expect(session.getState().status).toBe('signed-in');
    expect(env.store.get(REFRESH_TOKEN_KEY)).toBe('rt_1');
    expect(env.pending()).toEqual([refreshRetryDelayMs(1)]);

    api.refreshFailure = null;
    env.fireNext();
    await flush();
    expect(env.store.get(REFRESH_TOKEN_KEY)).toBe('rt_2');
    expect(env.pending()).toEqual([refreshDelayMs(EXPIRES_IN)]);
  });
});

describe('one refresh at a time', () => {
  it('gives concurrent callers the result of one refresh', async () => {
    const { api, session } = await signedIn();
    let release!: () => void;
    api.gate = new Promise((r) => (release = r));
    const all = Promise.all([session.refresh(), session.refresh(), session.refresh()]);
    await flush();
    release();
    expect(await all).toEqual(['at_2', 'at_2', 'at_2']);
    expect(api.refreshCalls()).toHaveLength(1);
    // The next refresh is a new one, with the rotated token.
    expect(await session.refresh()).toBe('at_3');
    expect(api.refreshCalls().map((c) => c.body)).toEqual([{ refreshToken: 'rt_1' }, { refreshToken: 'rt_2' }]);
  });

  it('refreshes once when parallel requests all meet 401 TOKEN_EXPIRED, then retries each with the new token', async () => {
    const { api, session } = await signedIn();
    api.expired.add('at_1'); // the server's clock says so, before ours does
    const results = await Promise.all([1, 2, 3].map((i) => session.request(`/api/thing/${i}`)));
    expect(results).toEqual([1, 2, 3].map(() => ({ ok: true, token: 'at_2' })));
    expect(api.refreshCalls()).toHaveLength(1);
    const retried = api.calls.filter((c) => c.path.startsWith('/api/thing/') && c.auth === 'Bearer at_2');
    expect(retried).toHaveLength(3);
  });

  it('uses a token another request refreshed meanwhile instead of rotating again', async () => {
    const { api, session } = await signedIn();
    let release!: () => void;
    api.slow = new Promise((r) => (release = r));
    const slow = session.request('/api/slow', { auth: 'required' }); // sent with at_1
    await flush();
    expect(await session.refresh()).toBe('at_2'); // e.g. the timer fired meanwhile
    api.expired.add('at_1');
    release(); // the slow request's answer: 401 TOKEN_EXPIRED
    expect(await slow).toEqual({ ok: true, token: 'at_2' });
    expect(api.refreshCalls()).toHaveLength(1);
    expect(api.calls.filter((c) => c.path === '/api/slow').map((c) => c.auth)).toEqual(['Bearer at_1', 'Bearer at_2']);
  });

  it('never presents one refresh token twice across tabs sharing storage and a lock', async () => {
    const env = new FakeEnv();
    const api = new FakeApi();
    const lock = mutex();
    const tabA = new Session(env.deps(api, { withLock: lock }));
    await tabA.signIn('nova', 'secret-password');
    const tabB = new Session(env.deps(api, { withLock: lock }));
    tabB.start(); // resumes from the stored token
    await flush();
    expect(tabB.getState().status).toBe('signed-in');

    const [a, b] = await Promise.all([tabA.refresh(), tabB.refresh()]);
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    const presented = api.refreshCalls().map((c) => (c.body as { refreshToken: string }).refreshToken);
    expect(new Set(presented).size).toBe(presented.length);
    expect(tabA.getState().status).toBe('signed-in');
    expect(tabB.getState().status).toBe('signed-in');
  });
});

describe('session lifecycle', () => {
  it('resumes a stored sign-in: refresh, then GET /api/users/me', async () => {
    const env = new FakeEnv();
    env.store.set(REFRESH_TOKEN_KEY, 'rt_0');
    const api = new FakeApi();
    const session = new Session(env.deps(api));
    session.start();
    expect(session.getState().status).toBe('restoring');
    expect(await session.accessToken()).toBe('at_1');
    expect(session.getState()).toMatchObject({ status: 'signed-in', user: USER });
    expect(api.calls.map((c) => c.path)).toEqual(['/api/auth/refresh', '/api/users/me']);
  });

  it('ends the session when the refresh token is refused (reused: the sign-in was revoked)', async () => {
    const { env, api, session } = await signedIn();
    api.refreshFailure = () => json(401, { code: 'REFRESH_TOKEN_REUSED', message: 'Sign in again.' });
    expect(await session.refresh()).toBeNull();
    expect(session.getState()).toEqual({ status: 'anonymous', user: null, notice: 'Sign in again.' });
    expect(env.store.has(REFRESH_TOKEN_KEY)).toBe(false);
    expect(env.pending()).toEqual([]);
    expect(await session.accessToken()).toBeNull();
  });

  it('signs out: forgets the tokens, revokes the sign-in, and drops a refresh that was in flight', async () => {
    const { env, api, session } = await signedIn();
    let release!: () => void;
    api.gate = new Promise((r) => (release = r));
    const inflight = session.refresh();
    await flush();
    await session.signOut();
    release();
    expect(await inflight).toBeNull();
    expect(session.getState().status).toBe('anonymous');
    expect(env.store.has(REFRESH_TOKEN_KEY)).toBe(false);
    expect(api.calls.find((c) => c.path === '/api/auth/logout')?.body).toEqual({ refreshToken: 'rt_1' });
    expect(env.pending()).toEqual([]);
  });

  it('refuses a request that needs a sign-in without sending it', async () => {
    const api = new FakeApi();
    const session = new Session(new FakeEnv().deps(api));
    session.start();
    const err = await session.request('/api/notifications', { auth: 'required' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(api.calls).toEqual([]);
  });

  it('follows sign-out in another tab (the storage event)', async () => {
    const { env, session } = await signedIn();
    env.store.delete(REFRESH_TOKEN_KEY);
    session.handleStorageChange(null);
    expect(session.getState().status).toBe('anonymous');
    expect(env.pending()).toEqual([]);
  });
});
