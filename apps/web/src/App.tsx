import { lazy, Suspense } from 'react';
import { HomePage } from './HomePage';
import { Link, useRoute } from './router';

// hls.js is most of the bundle; the home page does not need it.
const PlayerPage = lazy(() => import('./PlayerPage').then((m) => ({ default: m.PlayerPage })));

/** Root component: header plus the page for the current route. */
export function App() {
  const route = useRoute();
  return (
    <>
      <header className="topbar">
        <Link href="/" className="brand">
          ● live
        </Link>
      </header>
      {route.name === 'home' && <HomePage />}
      <Suspense fallback={<main className="page muted">Loading player…</main>}>
        {route.name === 'live' && <PlayerPage key={`live:${route.channelId}`} target={{ kind: 'live', channelId: route.channelId }} />}
        {route.name === 'vod' && <PlayerPage key={`vod:${route.sessionId}`} target={{ kind: 'vod', sessionId: route.sessionId }} />}
      </Suspense>
      {route.name === 'not-found' && (
        <main className="page">
          <h2>Not found</h2>
          <p>
            Nothing at <code>{route.path}</code>. <Link href="/">Back to all streams</Link>
          </p>
        </main>
      )}
    </>
  );
}
