/** A tiny History-API router over the route table in ./routes (no router dependency). */
import { useMemo, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';
import { parseRoute, type Route } from './routes';

export { hrefFor, parseRoute, safeNext, type Route, type SearchParams } from './routes';

const listeners = new Set<() => void>();

function subscribe(onChange: () => void): () => void {
  listeners.add(onChange);
  window.addEventListener('popstate', onChange);
  return () => {
    listeners.delete(onChange);
    window.removeEventListener('popstate', onChange);
  };
}

/** Pushes `href` onto the session history and re-renders subscribers of {@link useRoute}. */
export function navigate(href: string): void {
  if (href === location.pathname + location.search) return;
  history.pushState(null, '', href);
  window.scrollTo(0, 0);
  for (const l of listeners) l();
}

/** The current route (path and query); re-renders on {@link navigate} and on back/forward. */
export function useRoute(): Route {
  const href = useSyncExternalStore(subscribe, () => location.pathname + location.search);
  return useMemo(() => {
    const q = href.indexOf('?');
    return q < 0 ? parseRoute(href) : parseRoute(href.slice(0, q), href.slice(q));
  }, [href]);
}

/**
 * An `<a>` that navigates client-side on a plain left click and behaves like a normal link
 * otherwise (new tab, modified clicks, right click).
 */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children: ReactNode }) {
  const { onClick, ...rest } = props;
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target !== undefined && rest.target !== '_self') return;
    e.preventDefault();
    navigate(props.href);
  };
  return <a {...rest} onClick={handle} />;
}
