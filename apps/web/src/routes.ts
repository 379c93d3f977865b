/**
 * Route table of the web app (pure; no DOM, no React):
 *   /                          → home (stream list)
 *   /watch/live/<channelId>    → live player
 *   /watch/vod/<sessionId>     → VOD player
 */

/** A parsed location. Ids are already URI-decoded. */
export type Route =
  | { readonly name: 'home' }
  | { readonly name: 'live'; readonly channelId: string }
  | { readonly name: 'vod'; readonly sessionId: string }
  | { readonly name: 'not-found'; readonly path: string };

function decode(segment: string): string | null {
  try {
    const s = decodeURIComponent(segment);
    return s === '' ? null : s;
  } catch {
    return null; // malformed %-escape
  }
}

/** Parses a `location.pathname` into a {@link Route}; never throws. A trailing slash is ignored. */
export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (path === '' || path === '/') return { name: 'home' };
  const m = /^\/watch\/(live|vod)\/([^/]+)$/.exec(path);
  const id = m?.[2] !== undefined ? decode(m[2]) : null;
  if (m && id !== null) {
    return m[1] === 'live' ? { name: 'live', channelId: id } : { name: 'vod', sessionId: id };
  }
  return { name: 'not-found', path: pathname };
}

/** The path for a route; inverse of {@link parseRoute}. */
export function hrefFor(route: Route): string {
  switch (route.name) {
    case 'home':
      return '/';
    case 'live':
      return `/watch/live/${encodeURIComponent(route.channelId)}`;
    case 'vod':
      return `/watch/vod/${encodeURIComponent(route.sessionId)}`;
    case 'not-found':
      return route.path;
  }
}
