import { useEffect, useRef, useState } from 'react';
import { callApi, errorMessage } from './api';
import { categoryName, countLabel, parseSearchPage, searchApiPath, type Category, type SearchItem } from './platform';
import { hrefFor, Link, navigate, type SearchParams } from './router';
import { livePosterUrl, PosterImage, usePosterBucket } from './HomePage';
import { useCategories } from './useCategories';

function ChannelCard({ item, categories }: { item: SearchItem; categories: readonly Category[] | null }) {
  const category = categoryName(categories, item.category);
  const bucket = usePosterBucket();
  return (
    <li className="card" data-testid="search-result" data-channel-id={item.channelId} data-live={item.live}>
      <Link href={hrefFor({ name: 'live', channelId: item.channelId })} className="card-link">
        <div className="card-thumb" aria-hidden="true">
          {item.live && <PosterImage src={livePosterUrl(item.channelId, bucket)} />}
          {item.live ? <span className="badge badge-live">LIVE</span> : <span className="badge badge-vod">OFFLINE</span>}
          {item.live && <span className="card-viewers">{countLabel(item.viewers, 'viewer')}</span>}
        </div>
        <div className="card-body">
          <div className="card-title" title={item.title}>
            {item.title || 'Untitled stream'}
          </div>
          <div className="card-meta">
            <span>{item.displayName}</span>
            <span data-testid="result-followers">{countLabel(item.followers, 'follower')}</span>
          </div>
          <div className="card-renditions">
            <span className="sr-only">{item.live ? `Live now, ${countLabel(item.viewers, 'viewer')}. ` : 'Offline. '}</span>
            {category}
            {item.tags.length > 0 && `${category ? ' · ' : ''}${item.tags.map((t) => `#${t}`).join(' ')}`}
          </div>
        </div>
      </Link>
    </li>
  );
}

interface ResultsState {
  readonly items: readonly SearchItem[];
  readonly nextCursor: string | null;
  readonly loading: boolean;
  readonly loadingMore: boolean;
  readonly error: string | null;
}

const INITIAL: ResultsState = { items: [], nextCursor: null, loading: true, loadingMore: false, error: null };

/**
 * `/search?q=&category=&live=`: channels matching the header's search text, with a category
 * filter (from `/api/categories`) and a "live now" filter that both update the URL, results as
 * cards (live badge and viewers, followers), and "Load more" following `nextCursor`.
 */
export function SearchPage({ params }: { params: SearchParams }) {
  const { q, category, live } = params;
  const { categories } = useCategories();
  const [state, setState] = useState<ResultsState>(INITIAL);
  const more = useRef<AbortController | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    more.current?.abort();
    setState(INITIAL);
    callApi(searchApiPath({ q, category, live }), { signal: ctrl.signal }).then(
      (body) => {
        const page = parseSearchPage(body);
        setState({ items: page.items, nextCursor: page.nextCursor, loading: false, loadingMore: false, error: null });
      },
      (err: unknown) => {
        if (!ctrl.signal.aborted) setState({ ...INITIAL, loading: false, error: errorMessage(err) });
      },
    );
    return () => ctrl.abort();
  }, [q, category, live]);

  const loadMore = async () => {
    if (!state.nextCursor || state.loadingMore) return;
    const ctrl = new AbortController();
    more.current = ctrl;
    setState((s) => ({ ...s, loadingMore: true, error: null }));
    try {
      const page = parseSearchPage(await callApi(searchApiPath({ q, category, live, cursor: state.nextCursor }), { signal: ctrl.signal }));
      setState((s) => {
        const seen = new Set(s.items.map((i) => i.channelId));
        return { ...s, items: [...s.items, ...page.items.filter((i) => !seen.has(i.channelId))], nextCursor: page.nextCursor, loadingMore: false };
      });
    } catch (err) {
      if (!ctrl.signal.aborted) setState((s) => ({ ...s, loadingMore: false, error: errorMessage(err) }));
    }
  };

  const go = (p: Partial<SearchParams>) => navigate(hrefFor({ name: 'search', q, category, live, ...p }));
  const heading = q.trim() === '' ? 'Browse channels' : `Results for “${q.trim()}”`;

  return (
    <main className="page">
      <h1 className="page-title">{heading}</h1>
      <div className="filters" role="group" aria-label="Filters">
        <span className="field-inline">
          <label htmlFor="filter-category">Category</label>
          <select id="filter-category" value={category ?? ''} onChange={(e) => go({ category: e.target.value || null })} data-testid="category-filter">
            <option value="">All categories</option>
            {categories?.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name} ({c.liveChannels} live)
              </option>
            ))}
            {category && categories && !categories.some((c) => c.id === category) && <option value={category}>{category}</option>}
          </select>
        </span>
        <label className="field-inline">
          <input type="checkbox" checked={live === true} onChange={(e) => go({ live: e.target.checked ? true : null })} data-testid="live-filter" />
          Live now only
        </label>
      </div>

      {state.error !== null && (
        <div className="banner banner-error" role="alert" data-testid="search-error">
          {state.error}
        </div>
      )}
      {state.loading ? (
        <p className="muted" role="status">
          Searching…
        </p>
      ) : (
        <>
          <p className="muted" role="status" data-testid="search-count">
            {state.items.length === 0 && state.error === null
              ? 'No channels match. Try other words or fewer filters.'
              : `${countLabel(state.items.length, 'channel')}${state.nextCursor ? ' so far' : ''}`}
          </p>
          {state.items.length > 0 && (
            <ul className="grid" data-testid="search-results">
              {state.items.map((i) => (
                <ChannelCard key={i.channelId} item={i} categories={categories} />
              ))}
            </ul>
          )}
          {state.nextCursor !== null && (
            <div className="load-more">
              <button type="button" className="button" onClick={() => void loadMore()} disabled={state.loadingMore} aria-busy={state.loadingMore} data-testid="load-more">
                {state.loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </div>
          )}
        </>
      )}
    </main>
  );
}
