/**
 * Users of the ClickHouse HTTP interface over chDB (`http-server.ts`) and how a request names
 * one, as a ClickHouse server accepts credentials (ClickHouse docs "HTTP Interface"): HTTP Basic
 * authentication (what `@clickhouse/client` 1.23 sends by default, `set_basic_auth_header`),
 * the `X-ClickHouse-User` / `X-ClickHouse-Key` headers, or the `user` / `password` URL
 * parameters — one of them per request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ClickHouseHttpError } from './http-error.js';

/** A user of the HTTP interface, like a `<users>` entry of a ClickHouse server's users.xml. */
export interface ClickHouseHttpUser {
  /** Login name: 1–64 characters, no `:` and no control characters. */
  readonly name: string;
  /** Password, compared in constant time; non-empty. Never logged. */
  readonly password: string;
  /**
   * True: the user's statements run with ClickHouse's `readonly` setting (a profile with
   * `readonly = 2`): only SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN, by any method. False: writes
   * too, by POST (GET is read-only for everyone, as on a ClickHouse server).
   */
  readonly readonly: boolean;
}

/** Credentials as a request sent them. `method` names where they came from (for error messages). */
export interface HttpCredentials {
  readonly name: string;
  readonly password: string;
  readonly method: 'basic' | 'headers' | 'params' | 'none';
}

/** The realm of the `WWW-Authenticate` header of a 401 answer. */
export const AUTH_REALM = 'ClickHouse server HTTP API';

/** A 401 answer: code 516 AUTHENTICATION_FAILED, ClickHouse's wording. */
function authFailed(message: string): ClickHouseHttpError {
  return new ClickHouseHttpError(516, 'AUTHENTICATION_FAILED', message, 401);
}

/**
 * The credentials of a request: `Authorization: Basic base64(user:password)`, else
 * `X-ClickHouse-User` (+ `X-ClickHouse-Key`), else the `user` (+ `password`) URL parameters;
 * none: ClickHouse's `default` user with an empty password (`method: 'none'`).
 * @throws ClickHouseHttpError 516 AUTHENTICATION_FAILED (HTTP 401) when two methods are mixed
 *   (ClickHouse refuses that too), or the Authorization scheme is not Basic.
 */
export function credentialsOf(headers: IncomingHttpHeaders, params: URLSearchParams): HttpCredentials {
  const header = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const authorization = header('authorization');
  const xUser = header('x-clickhouse-user');
  const xKey = header('x-clickhouse-key');
  const pUser = params.get('user');
  const pPassword = params.get('password');
  const hasParams = pUser !== null || pPassword !== null;
  const hasX = xUser !== undefined || xKey !== undefined;
  if (authorization !== undefined) {
    if (hasX || hasParams) throw authFailed('Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters or X-ClickHouse headers simultaneously');
    const m = /^Basic\s+([A-Za-z0-9+/=_-]*)\s*$/i.exec(authorization);
    if (!m) throw authFailed('Invalid authentication: this server accepts only the Basic Authorization scheme');
    const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0
      ? { name: decoded, password: '', method: 'basic' }
      : { name: decoded.slice(0, colon), password: decoded.slice(colon + 1), method: 'basic' };
  }
  if (hasX) {
    if (hasParams) throw authFailed('Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and other authentication methods simultaneously');
    return { name: xUser ?? 'default', password: xKey ?? '', method: 'headers' };
  }
  if (hasParams) return { name: pUser ?? 'default', password: pPassword ?? '', method: 'params' };
  return { name: 'default', password: '', method: 'none' };
}

/** The users of a server, with their digests precomputed for constant-time comparison. */
export interface UserDirectory {
  /**
   * The user `credentials` name, when the password matches. Every configured user is compared
   * (name and password digests, `crypto.timingSafeEqual`), so the time taken does not depend on
   * which part matched or how much of it.
   * @throws ClickHouseHttpError 516 AUTHENTICATION_FAILED (HTTP 401): `<name>: Authentication
   *   failed: password is incorrect, or there is no user with such name.` (ClickHouse's words;
   *   the name is echoed only when it is printable and at most 64 characters).
   */
  authenticate(credentials: HttpCredentials): ClickHouseHttpUser;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const NAME = /^[^:\p{Cc}]{1,64}$/u;

/**
 * Checks `users` and returns their directory.
 * @throws TypeError when `users` is not a non-empty array, a name is empty, longer than 64
 *   characters, holds `:` or a control character, or repeats, a password is empty or not a
 *   string, or `readonly` is not a boolean.
 */
export function createUserDirectory(users: readonly ClickHouseHttpUser[]): UserDirectory {
  if (!Array.isArray(users) || users.length === 0) {
    throw new TypeError('serveClickHouseHttp: `users` must list at least one user ({ name, password, readonly }): the endpoint has no anonymous access');
  }
  const seen = new Set<string>();
  const entries = users.map((u, i) => {
    if (typeof u?.name !== 'string' || !NAME.test(u.name)) throw new TypeError(`serveClickHouseHttp: users[${i}].name must be 1-64 characters without ':' or control characters`);
    if (seen.has(u.name)) throw new TypeError(`serveClickHouseHttp: user ${JSON.stringify(u.name)} is listed twice`);
    seen.add(u.name);
    if (typeof u.password !== 'string' || u.password === '') throw new TypeError(`serveClickHouseHttp: user ${JSON.stringify(u.name)} needs a non-empty password`);
    if (typeof u.readonly !== 'boolean') throw new TypeError(`serveClickHouseHttp: users[${i}].readonly must be true or false`);
    return { user: { name: u.name, password: u.password, readonly: u.readonly }, name: sha256(u.name), password: sha256(u.password) };
  });
  return {
    authenticate(credentials) {
      const name = sha256(credentials.name);
      const password = sha256(credentials.password);
      let found: ClickHouseHttpUser | null = null;
      for (const e of entries) {
        const nameOk = timingSafeEqual(name, e.name);
        const passwordOk = timingSafeEqual(password, e.password);
        if (nameOk && passwordOk) found = e.user;
      }
      if (found) return found;
      const shown = /^[\w.@-]{1,64}$/.test(credentials.name) ? `${credentials.name}: ` : '';
      throw authFailed(`${shown}Authentication failed: password is incorrect, or there is no user with such name.`);
    },
  };
}
