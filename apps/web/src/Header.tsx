import { useEffect, useState, type FormEvent } from 'react';
import { NotificationBell } from './NotificationBell';
import { SEARCH_QUERY_MAX_LENGTH } from './platform';
import { hrefFor, Link, navigate, type Route } from './router';
import { appSession, useSession } from './useSession';

/** The header's search box: submits to `/search?q=`. Shows the current query on /search. */
function SearchBox({ initial }: { initial: string }) {
  const [q, setQ] = useState(initial);
  useEffect(() => setQ(initial), [initial]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(hrefFor({ name: 'search', q, category: null, live: null }));
  };
  return (
    <form role="search" className="searchbox" onSubmit={submit}>
      <label htmlFor="site-search" className="sr-only">
        Search channels
      </label>
      <input
        id="site-search"
        type="search"
        name="q"
        placeholder="Search channels"
        autoComplete="off"
        maxLength={SEARCH_QUERY_MAX_LENGTH}
        value={q}
        onChange={(e) => setQ(e.target.value)}
        data-testid="search-input"
      />
      <button type="submit" className="button">
        Search
      </button>
    </form>
  );
}

/** Where the account links send the user back to: the current page, but never the account forms. */
function returnTo(route: Route): string | null {
  if (route.name === 'signin' || route.name === 'signup') return route.next;
  const here = hrefFor(route);
  return here === '/' ? null : here;
}

/**
 * The header of every page: brand, search box, and the account area — "Sign in"/"Sign up"
 * when anonymous; dashboard link, analytics link (for a channel owner; not on phones, where the
 * dashboard links to it), notification bell, name and "Sign out" when signed in.
 * Below it, the session's notice (e.g. "sign in again") when there is one.
 */
export function Header({ route }: { route: Route }) {
  const { status, user, notice } = useSession();
  const next = returnTo(route);
  return (
    <>
      <header className="topbar">
        <Link href="/" className="brand">
          ● live
        </Link>
        <SearchBox initial={route.name === 'search' ? route.q : ''} />
        <nav className="account" aria-label="Account" data-testid="account" data-status={status}>
          {status === 'signed-in' && user ? (
            <>
              <Link href="/dashboard" className="nav-link" aria-current={route.name === 'dashboard' ? 'page' : undefined}>
                Dashboard
              </Link>
              {user.channelId !== null && (
                <Link href={hrefFor({ name: 'analytics', range: null })} className="nav-link nav-secondary" aria-current={route.name === 'analytics' ? 'page' : undefined}>
                  Analytics
                </Link>
              )}
              <NotificationBell userId={user.userId} />
              <span className="account-name" data-testid="account-name" title={`@${user.username}`}>
                {user.displayName}
              </span>
              <button type="button" className="button" onClick={() => void appSession().signOut()} data-testid="sign-out">
                Sign out
              </button>
            </>
          ) : status === 'anonymous' ? (
            <>
              <Link href={hrefFor({ name: 'signin', next })} className="nav-link" data-testid="sign-in-link">
                Sign in
              </Link>
              <Link href={hrefFor({ name: 'signup', next })} className="button button-primary">
                Sign up
              </Link>
            </>
          ) : (
            <span className="muted">Signing in…</span>
          )}
        </nav>
      </header>
      {notice !== null && (
        <div className="banner banner-info page-banner" role="status" data-testid="session-notice">
          {notice}
          {status === 'anonymous' && (
            <>
              {' '}
              <Link href={hrefFor({ name: 'signin', next })}>Sign in</Link>
            </>
          )}
        </div>
      )}
    </>
  );
}
