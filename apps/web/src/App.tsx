import { lazy, Suspense } from 'react';
import { SignInPage, SignUpPage } from './AuthPages';
import { DashboardPage } from './DashboardPage';
import { Header } from './Header';
import { HomePage } from './HomePage';
import { ModeratorPage } from './ModeratorPage';
import { Link, useRoute } from './router';
import { SearchPage } from './SearchPage';

// hls.js is most of the bundle; the home page does not need it.
const PlayerPage = lazy(() => import('./PlayerPage').then((m) => ({ default: m.PlayerPage })));
// uPlot and the charts only load for the analytics page.
const AnalyticsPage = lazy(() => import('./AnalyticsPage').then((m) => ({ default: m.AnalyticsPage })));

/** Root component: header plus the page for the current route. */
export function App() {
  const route = useRoute();
  return (
    <>
      <Header route={route} />
      {route.name === 'home' && <HomePage />}
      <Suspense fallback={<main className="page muted">Loading player…</main>}>
        {route.name === 'live' && <PlayerPage key={`live:${route.channelId}`} target={{ kind: 'live', channelId: route.channelId }} />}
        {route.name === 'vod' && <PlayerPage key={`vod:${route.sessionId}`} target={{ kind: 'vod', sessionId: route.sessionId }} />}
        {route.name === 'channel' && <PlayerPage key={`channel:${route.channelId}`} target={{ kind: 'live', channelId: route.channelId }} channelPage />}
      </Suspense>
      {route.name === 'search' && <SearchPage params={route} />}
      {route.name === 'signin' && <SignInPage next={route.next} />}
      {route.name === 'signup' && <SignUpPage next={route.next} />}
      {route.name === 'dashboard' && <DashboardPage />}
      {route.name === 'moderate' && <ModeratorPage key={route.channelId} channelId={route.channelId} />}
      {route.name === 'analytics' && (
        <Suspense fallback={<main className="page muted">Loading analytics…</main>}>
          <AnalyticsPage range={route.range} />
        </Suspense>
      )}
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
