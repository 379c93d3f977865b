/**
 * Property-based fuzzing (fast-check) of the API's request bodies, without a database: the app is
 * built by `buildApp` over a Kysely whose driver refuses every connection (and records that it
 * was asked), and exercised with `inject`. Every body is checked by the route's TypeBox schema and
 * the handler's own input rules (text cleaning, password policy, banned-term patterns) before any
 * query, so the property is: the answer is a catalogue error `{ code, message }` with the
 * catalogue's status — never a 500 — unless the request got as far as the database (then the
 * stub's failure is the 500). The pure input parsers (`cleanText`, `parseCidrs`, cursors) are
 * fuzzed directly. Fixed seed; fast-check prints seed and counterexample on a failure.
 */
import fc from 'fast-check';
import { ok } from '@live/dev/fuzz';
import {
  Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type DatabaseConnection, type Dialect, type Driver,
} from 'kysely';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '@live/db';
import { buildApp } from '../src/app.js';
import { API_ERRORS, ApiError } from '../src/errors.js';
import { signAccessToken } from '../src/auth/tokens.js';
import { cleanText } from '../src/text.js';
import { parseCidrs } from '../src/routes/channels.js';
import { decodeCursor, encodeCursor } from '../src/routes/cursor.js';

// 10,000 runs per property; on a loaded machine that can exceed Vitest's default 5 s per test.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 60_000 });

const RUNS = 10_000;
const SEED = 0x15f0_0007;
const opts = { numRuns: RUNS, seed: SEED };


/** A Kysely whose every query fails before any I/O; `touched` counts the attempts. */
function unreachableDb(): { db: Db; touched: () => number } {
  let n = 0;
  const driver: Driver = {
    async init() {},
    async acquireConnection(): Promise<DatabaseConnection> {
      n++;
      throw new Error('fuzz: no database');
    },
    async beginTransaction() {},
    async commitTransaction() {},
    async rollbackTransaction() {},
    async releaseConnection() {},
    async destroy() {},
  };
  const dialect: Dialect = {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
  return { db: new Kysely({ dialect }) as unknown as Db, touched: () => n };
}

const KEY = { kid: 'fuzz', secret: 'fuzz-secret-0123456789abcdefghijklmnopqrstuvwxyz' };

describe('API request bodies (fuzz, no database)', () => {
  let app: FastifyInstance;
  let touched: () => number;
  let bearer: string;
  let adminBearer: string;

  beforeAll(async () => {
    const stub = unreachableDb();
    touched = stub.touched;
    app = await buildApp({ db: stub.db, messaging: null, config: { jwtKeys: [KEY] }, logger: false, rateLimit: { max: 1e9, timeWindowMs: 60_000 } });
    await app.ready();
    const cfg = { jwtKeys: [KEY], accessTokenTtlSeconds: 3600 };
    bearer = `Bearer ${(await signAccessToken(cfg, { userId: '01999999-0000-7000-8000-000000000001', username: 'fuzzer', roles: ['viewer', 'streamer'] })).accessToken}`;
    adminBearer = `Bearer ${(await signAccessToken(cfg, { userId: '01999999-0000-7000-8000-000000000002', username: 'root', roles: ['viewer', 'admin'] })).accessToken}`;
  });
  afterAll(async () => {
    await app?.close();
  });

  type Route = { method: 'POST' | 'PATCH' | 'PUT'; url: string; auth: 'none' | 'user' | 'admin'; fields: Record<string, fc.Arbitrary<unknown>> };
  const str = (max: number) => fc.string({ maxLength: max });
  const text = fc.oneof(str(30), fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('', ' ', 'a\u0000b', 'a\nb', 'x\u202Ey', 'ad\u200Bmin', 'Cafe\u0301', '😀'.repeat(51), '\ud800'));
  const password = fc.oneof(fc.constantFrom('', 'short', '\u0000'.repeat(8)), str(6));
  /** Routes whose bodies are validated before any query (with the fields their schemas name). */
  const ROUTES: Route[] = [
    // register: passwords are kept below the policy so no valid body reaches the (slow) password hash
    { method: 'POST', url: '/api/users/register', auth: 'none', fields: { username: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_]{3,32}$/), str(40)), email: fc.oneof(fc.constantFrom('a@b.co', 'A@B.CO', 'no-at', '@x.y', 'a@b'), str(40)), password, displayName: text } },
    { method: 'POST', url: '/api/users/login', auth: 'none', fields: { username: fc.constantFrom(''), password: fc.oneof(fc.constant(''), str(4)) } },
    { method: 'POST', url: '/api/auth/refresh', auth: 'none', fields: { refreshToken: fc.oneof(fc.constant(''), fc.string({ minLength: 257, maxLength: 300 }), fc.integer()) } },
    { method: 'PATCH', url: '/api/users/me', auth: 'user', fields: { displayName: text, bio: text, currentPassword: fc.constant(''), newPassword: password } },
    { method: 'POST', url: '/api/channels', auth: 'none', fields: { channelId: fc.oneof(fc.stringMatching(/^[a-z0-9_]{3,32}$/), str(10)), displayName: text } },
    { method: 'PATCH', url: '/api/channels/c1', auth: 'user', fields: { title: text, category: text, tags: fc.array(fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,25}$/), str(5)), { maxLength: 12 }), language: fc.constantFrom('', 'en', 'deu', 'EN', 'english'), mature: fc.oneof(fc.boolean(), fc.constant('yes')) } },
    { method: 'PUT', url: '/api/channels/c1/chat/settings', auth: 'user', fields: { slowModeSeconds: fc.oneof(fc.integer({ min: -1, max: 4000 }), fc.double()), followersOnly: fc.boolean(), emoteOnly: fc.boolean(), linksAllowed: fc.boolean(), duplicateFilter: fc.oneof(fc.boolean(), fc.constant(1)) } },
    // global banned terms: admin only (a token claim), then the RE2 patterns are compiled before the current list is read
    { method: 'PUT', url: '/api/chat/banned-terms', auth: 'admin', fields: { terms: fc.array(fc.record({ pattern: fc.oneof(fc.constantFrom('(', '[a-', 'a{99999}', '\\', '(?P<x>a)', '.*', 'spam', '(a+)+$', 'x'.repeat(300), ''), str(12)), action: fc.constantFrom('block', 'hold', 'ban') }, { requiredKeys: [] }), { maxLength: 4 }) } },
    { method: 'POST', url: '/api/channels/c1/chat/restrictions', auth: 'user', fields: { userId: str(10), kind: fc.constantFrom('ban', 'timeout', 'x'), durationSeconds: fc.integer({ min: -1, max: 2_000_000 }), reason: text } },
    // platform webhooks: admin only (a token claim), then the URL is checked before the endpoint is stored
    { method: 'POST', url: '/api/webhooks', auth: 'admin', fields: { scope: fc.constantFrom('platform', 'platform', 'channel', 'x'), url: fc.oneof(fc.constantFrom('ftp://x/h', 'javascript:alert(1)', 'http://u:p@x/', 'https://example.com/h', 'not a url', 'http://[::1', ''), str(30)), description: text, eventTypes: fc.array(fc.constantFrom('stream.started', 'vod.ready', 'nope'), { maxLength: 8 }) } },
  ];

  /** A body for a route: its fields (each present or not, well-typed or anything), maybe an extra key, or any JSON at all. */
  const bodyFor = (r: Route): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.tuple(
        fc.boolean().chain((all) =>
          fc.record(Object.fromEntries(Object.entries(r.fields).map(([k, a]) => [k, fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) })])), all ? {} : { requiredKeys: [] })),
        fc.option(fc.tuple(fc.constantFrom('extra', '__proto__', 'constructor', 'role'), fc.jsonValue({ maxDepth: 1 })), { freq: 4 }),
      ).map(([o, extra]) => {
        const out: Record<string, unknown> = { ...o };
        if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true });
        return out;
      }),
      fc.jsonValue({ maxDepth: 2 }),
    );

  const requestArb = fc.nat({ max: ROUTES.length - 1 }).chain((i) => {
    const route = ROUTES[i]!;
    return fc.record({
      route: fc.constant(route),
      body: bodyFor(route),
      encoding: fc.constantFrom('json', 'json', 'json', 'json', 'json', 'truncated', 'text/plain', 'none'),
    });
  });

  it('every body gets a catalogue code with its status, never a 500 short of the database', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async ({ route, body, encoding }) => {
        const json = JSON.stringify(body) ?? 'null';
        const payload = encoding === 'truncated' ? json.slice(0, Math.max(0, json.length - 1)) : encoding === 'none' ? undefined : json;
        const headers: Record<string, string> = {};
        if (payload !== undefined) headers['content-type'] = encoding === 'text/plain' ? 'text/plain' : 'application/json';
        if (route.auth === 'user') headers.authorization = bearer;
        if (route.auth === 'admin') headers.authorization = adminBearer;
        const before = touched();
        const res = await app.inject({ method: route.method, url: route.url, headers, ...(payload !== undefined ? { payload } : {}) });
        const reachedDb = touched() > before;
        if (res.statusCode >= 200 && res.statusCode < 300) return; // nothing here can succeed without a database, but it is no failure
        const answer = res.json() as { code?: unknown; message?: unknown };
        const what = `${route.method} ${route.url} ${payload ?? ''} → ${res.statusCode} ${res.body}`;
        ok(typeof answer.code === 'string' && typeof answer.message === 'string', `{ code, message }: ${what}`);
        const code = answer.code as keyof typeof API_ERRORS;
        ok(Object.hasOwn(API_ERRORS, code) && res.statusCode === API_ERRORS[code].status, `a catalogue code with its status: ${what}`);
        // only the stub database's failure may end in a 5xx (INTERNAL, or NOT_READY / EVENT_LOG_UNAVAILABLE without NATS)
        ok(res.statusCode < 500 || reachedDb, `a 5xx short of the database: ${what}`);
        ok(!/\bat .*\.(ts|js):\d+/.test(res.body), `no stack trace: ${what}`);
      }),
      opts,
    );
  });
});

describe('API input parsers (fuzz)', () => {
  const code = (fn: () => unknown): string | null => {
    try {
      fn();
      return null;
    } catch (err) {
      if (err instanceof ApiError) return err.code;
      throw err;
    }
  };

  it('cleanText: a clean NFC string within bounds, or VALIDATION_FAILED', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\u0301', '\u200b', '\ud800', '\udc00', '😀', '\u202e', '\ufeff', '\u0000'), maxLength: 20 })),
        fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 60 }), fc.boolean(),
        (s, min, max, multiline) => {
          let out: string | undefined;
          const c = code(() => (out = cleanText(s, 'f', { min, max, multiline })));
          if (c !== null) {
            expect(c).toBe('VALIDATION_FAILED');
            return;
          }
          const n = [...out!].length;
          ok(out!.normalize('NFC') === out && out === out!.trim(), 'NFC and trimmed');
          ok(n >= min && n <= max, `length ${n} within ${min}..${max}`);
          ok(multiline || !/[\r\n]/.test(out!), 'one line');
          ok(cleanText(out!, 'f', { min, max, multiline }) === out, 'idempotent');
        },
      ),
      opts,
    );
  });

  it('parseCidrs: normalised blocks that parse again to themselves, or VALIDATION_FAILED', () => {
    const octet = fc.oneof(fc.nat({ max: 255 }).map(String), fc.constantFrom('256', '01', '-1', '', 'a'));
    const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
    const v6 = fc.array(fc.oneof(fc.nat({ max: 0xffff }).map((n) => n.toString(16)), fc.constantFrom('', 'g', '10000')), { minLength: 1, maxLength: 9 }).map((g) => g.join(':'));
    const cidr = fc.tuple(fc.oneof(v4, v6, fc.constantFrom('::', '::1', '::ffff:1.2.3.4', '1.2.3.4'), fc.string({ maxLength: 12 })), fc.option(fc.oneof(fc.nat({ max: 130 }).map(String), fc.constantFrom('', '-1', ' 8', '08', 'x')), { nil: undefined }))
      .map(([a, p]) => (p === undefined ? a : `${a}/${p}`));
    fc.assert(
      fc.property(fc.array(cidr, { maxLength: 4 }), (list) => {
        let out: string[] | undefined;
        const c = code(() => (out = parseCidrs(list)));
        if (c !== null) {
            expect(c).toBe('VALIDATION_FAILED');
            return;
          }
        expect(out).toHaveLength(list.length);
        for (const b of out!) expect(b).toMatch(/^[0-9a-f.:]+\/\d{1,3}$/);
        expect(parseCidrs(out!)).toEqual(out);
      }),
      opts,
    );
  });

  it('cursors: encode→decode is the identity; any other string is INVALID_CURSOR', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date(0), max: new Date(4102444800000), noInvalidDate: true }), fc.string({ minLength: 1, maxLength: 40 }),
        fc.oneof(fc.string({ maxLength: 60 }), fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url'))),
        (t, id, junk) => {
          const c = { t: t.toISOString(), id };
          expect(decodeCursor(encodeCursor(c))).toEqual(c);
          const r = code(() => decodeCursor(junk));
          if (r !== null) expect(r).toBe('INVALID_CURSOR');
        },
      ),
      opts,
    );
  });
});
