/**
 * Route table of the web app (pure; no DOM, no React):
 *   /                                  → home (stream list)
 *   /watch/live/<channelId>            → live player
 *   /watch/vod/<sessionId>             → VOD player
 *   /search?q=&category=&live=         → channel search
 *   /signin?next=, /signup?next=       → account forms (`next`: where to go afterwards)
 *   /dashboard                         → the signed-in user's channel and stream setup
 *   /<channelId>                       → the channel's page (player or offline banner, recordings)
 *   /moderate/<channelId>              → a channel's chat moderation tools (its moderators)
 *   /dashboard/analytics?range=        → the signed-in user's channel analytics (`range`: `7d`,
 *                                        `30d` or `session:<sessionId>`; absent = the latest broadcast)
 */

/** Filters of `/search`: free text, a category id, and live state (null = any). */
export interface SearchParams {
  readonly q: string;
  readonly category: string | null;
  /** true = live channels only, false = offline ones only, null = both. */
  readonly live: boolean | null;
}

/** A parsed location. Ids are already URI-decoded. */
export type Route =
  | { readonly name: 'home' }
  | { readonly name: 'live'; readonly channelId: string }
  | { readonly name: 'vod'; readonly sessionId: string }
  | ({ readonly name: 'search' } & SearchParams)
  | { readonly name: 'signin' | 'signup'; readonly next: string | null }
  | { readonly name: 'dashboard' }
  | { readonly name: 'channel'; readonly channelId: string }
  | { readonly name: 'moderate'; readonly channelId: string }
  | { readonly name: 'analytics'; readonly range: string | null }
  | { readonly name: 'not-found'; readonly path: string };

function decode(segment: string): string | null {
  try {
    const s = decodeURIComponent(segment);
    return s === '' ? null : s;
  } catch {
    return null; // malformed %-escape
  }
}

function query(search: string): URLSearchParams {
  try {
    return new URLSearchParams(search);
  } catch {
    return new URLSearchParams();
  }
}

/**
 * `raw` when it is a same-origin path to return to after signing in (starts with one `/`, no
 * `//` or `/\` that browsers would read as another host, no control characters), else null.
 * Keeps `?next=` from becoming an open redirect.
 */
export function safeNext(raw: string | null | undefined): string | null {
  if (!raw || raw.length > 2000 || !raw.startsWith('/')) return null;
  if (raw.startsWith('//') || raw.startsWith('/\\')) return null;
  if (/[\u0000-\u001F\u007F]/.test(raw)) return null;
  return raw;
}

/** The `live` filter of a query string: `true`/`false`, anything else = null (both). */
function parseLive(raw: string | null): boolean | null {
  return raw === 'true' ? true : raw === 'false' ? false : null;
}

/**
 * First path segments that are not channel pages: the app's own routes and what the edge and API
 * serve on the same origin (a channel id never takes one of them).
 */
export const RESERVED_PATHS: ReadonlySet<string> = new Set(['watch', 'search', 'signin', 'signup', 'dashboard', 'moderate', 'api', 'live', 'sessions', 'vod', 'chat', 'metrics', 'healthz', 'assets', 'docs', 'admin', 'whip', 'whep']);

/**
 * Parses `location.pathname` (and `location.search`, for the routes that read it) into a
 * {@link Route}; never throws. A trailing slash is ignored.
 */
export function parseRoute(pathname: string, search = ''): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (path === '' || path === '/') return { name: 'home' };
  if (path === '/search') {
    const p = query(search);
    return { name: 'search', q: p.get('q') ?? '', category: p.get('category') || null, live: parseLive(p.get('live')) };
  }
  if (path === '/signin' || path === '/signup') {
    return { name: path === '/signin' ? 'signin' : 'signup', next: safeNext(query(search).get('next')) };
  }
  if (path === '/dashboard') return { name: 'dashboard' };
  const mod = /^\/moderate\/([^/]+)$/.exec(path);
  const modId = mod?.[1] !== undefined ? decode(mod[1]) : null;
  if (modId !== null) return { name: 'moderate', channelId: modId };
  if (path === '/dashboard/analytics') return { name: 'analytics', range: query(search).get('range') || null };
  const m = /^\/watch\/(live|vod)\/([^/]+)$/.exec(path);
  const id = m?.[2] !== undefined ? decode(m[2]) : null;
  if (m && id !== null) {
    return m[1] === 'live' ? { name: 'live', channelId: id } : { name: 'vod', sessionId: id };
  }
  const channel = /^\/([A-Za-z0-9_-]{1,128})$/.exec(path)?.[1];
  if (channel !== undefined && !RESERVED_PATHS.has(channel.toLowerCase())) return { name: 'channel', channelId: channel };
  return { name: 'not-found', path: pathname };
}

/** `?a=1&b=2` from the non-empty entries (in order), or '' when there are none. */
function queryString(entries: ReadonlyArray<readonly [string, string | null | undefined]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of entries) if (v !== null && v !== undefined && v !== '') p.append(k, v);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** The path (with query) for a route; inverse of {@link parseRoute}. */
export function hrefFor(route: Route): string {
  switch (route.name) {
    case 'home':
      return '/';
    case 'live':
      return `/watch/live/${encodeURIComponent(route.channelId)}`;
    case 'vod':
      return `/watch/vod/${encodeURIComponent(route.sessionId)}`;
    case 'search':
      return `/search${queryString([
        ['q', route.q.trim()],
        ['category', route.category],
        ['live', route.live === null ? null : String(route.live)],
      ])}`;
    case 'signin':
    case 'signup':
      return `/${route.name}${queryString([['next', safeNext(route.next)]])}`;
    case 'dashboard':
      return '/dashboard';
    case 'channel':
      return `/${encodeURIComponent(route.channelId)}`;
    case 'moderate':
      return `/moderate/${encodeURIComponent(route.channelId)}`;
    case 'analytics':
      return `/dashboard/analytics${queryString([['range', route.range]])}`;
    case 'not-found':
      return route.path;
  }
}
