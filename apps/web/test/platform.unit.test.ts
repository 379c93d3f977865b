/** Pure pieces behind search, sign-in links and API errors: routes with queries, search URLs, tags, validation. */
import { describe, expect, it } from 'vitest';
import { ApiError, callApi, type FetchLike } from '../src/api';
import {
  categoryName, channelApiPath, countLabel, followApiPath, isChannelView, isPreparedBroadcast, parseCategories,
  parseSearchPage, parseTags, searchApiPath, type SearchItem,
} from '../src/platform';
import { hrefFor, parseRoute, safeNext, type Route } from '../src/routes';

const result = (over: Partial<SearchItem> = {}): SearchItem => ({
  channelId: 'nova', displayName: 'Nova', title: 'Any% practice', category: 'gaming', tags: ['speedrun'],
  live: true, viewers: 3, followers: 10, playbackUrl: '/live/nova/master.m3u8', startedAt: '2025-01-01T00:00:00.000Z', ...over,
});

describe('routes with a query', () => {
  it.each<[string, string, Route]>([
    ['/search', '', { name: 'search', q: '', category: null, live: null }],
    ['/search', '?q=celeste+any%25&category=gaming&live=true', { name: 'search', q: 'celeste any%', category: 'gaming', live: true }],
    ['/search/', '?live=false&category=', { name: 'search', q: '', category: null, live: false }],
    ['/search', '?live=yes', { name: 'search', q: '', category: null, live: null }],
    ['/signin', '?next=%2Fwatch%2Flive%2Fnova', { name: 'signin', next: '/watch/live/nova' }],
    ['/signup', '?next=https%3A%2F%2Fevil.example', { name: 'signup', next: null }],
    ['/dashboard', '', { name: 'dashboard' }],
  ])('parses %s%s', (path, search, route) => {
    expect(parseRoute(path, search)).toEqual(route);
  });

  it('builds search links without empty parameters, and parses them back', () => {
    const r: Route = { name: 'search', q: '  a&b=c ', category: null, live: true };
    expect(hrefFor(r)).toBe('/search?q=a%26b%3Dc&live=true');
    expect(hrefFor({ name: 'search', q: '', category: null, live: null })).toBe('/search');
    const [path, search] = hrefFor(r).split('?');
    expect(parseRoute(path!, `?${search}`)).toEqual({ name: 'search', q: 'a&b=c', category: null, live: true });
  });

  it('builds sign-in links that return to the page', () => {
    expect(hrefFor({ name: 'signin', next: '/watch/live/a b' })).toBe('/signin?next=%2Fwatch%2Flive%2Fa+b');
    expect(hrefFor({ name: 'signup', next: null })).toBe('/signup');
    expect(parseRoute('/signin', '?next=%2Fwatch%2Flive%2Fa+b')).toEqual({ name: 'signin', next: '/watch/live/a b' });
  });

  it('accepts only same-origin paths as the place to return to', () => {
    expect(safeNext('/dashboard')).toBe('/dashboard');
    expect(safeNext('/search?q=x')).toBe('/search?q=x');
    for (const bad of ['//evil.example/x', '/\\evil.example', 'https://evil.example', 'javascript:alert(1)', '', null, '/a\nb']) {
      expect(safeNext(bad)).toBeNull();
    }
  });
});

describe('search API URLs', () => {
  it('sends only the filters that are set, and the page size', () => {
    expect(searchApiPath({ q: '', category: null, live: null })).toBe('/api/streams/search?limit=20');
    expect(searchApiPath({ q: ' celeste practise ', category: 'gaming', live: true, cursor: 'abc=', limit: 5 }))
      .toBe('/api/streams/search?q=celeste+practise&category=gaming&live=true&cursor=abc%3D&limit=5');
    expect(searchApiPath({ q: 'x', category: null, live: false })).toBe('/api/streams/search?q=x&live=false&limit=20');
  });

  it('escapes channel ids in API paths', () => {
    expect(channelApiPath('a/b')).toBe('/api/channels/a%2Fb');
    expect(followApiPath('nova')).toBe('/api/channels/nova/follow');
  });

  it('validates search pages, dropping malformed items', () => {
    const page = parseSearchPage({ items: [result(), { ...result(), viewers: -1 }, { channelId: 'x' }], nextCursor: 'c2' });
    expect(page.items.map((i) => i.channelId)).toEqual(['nova']);
    expect(page.nextCursor).toBe('c2');
    expect(parseSearchPage({ items: [], nextCursor: null }).nextCursor).toBeNull();
    expect(() => parseSearchPage({ nope: true })).toThrow(ApiError);
  });

  it('validates categories and names them', () => {
    const cats = parseCategories({ items: [{ id: 'gaming', name: 'Gaming', channels: 2, liveChannels: 1 }, { id: 'bad' }] });
    expect(cats).toEqual([{ id: 'gaming', name: 'Gaming', channels: 2, liveChannels: 1 }]);
    expect(categoryName(cats, 'gaming')).toBe('Gaming');
    expect(categoryName(cats, 'music')).toBe('music');
    expect(categoryName(null, '')).toBe('');
  });
});

describe('channels and going live', () => {
  const channel = {
    channelId: 'nova', displayName: 'Nova', ownerUserId: 'u1', title: 't', category: '', tags: [], language: '', mature: false,
    followers: 0, live: false, sessionId: null, startedAt: null, viewers: 0, playbackUrl: null, createdAt: '2025-01-01T00:00:00Z', following: false,
  };

  it('validates the channel and the go-live answer (stream key only when just issued)', () => {
    expect(isChannelView(channel)).toBe(true);
    expect(isChannelView({ ...channel, following: undefined })).toBe(false);
    const start = { channel, ingestUrl: 'rtmp://127.0.0.1:1935/live', keyId: 'k1', maskedKey: '********abcd', streamKey: null, playbackUrl: '/live/nova/master.m3u8' };
    expect(isPreparedBroadcast(start)).toBe(true);
    expect(isPreparedBroadcast({ ...start, streamKey: 'sk_live_x' })).toBe(true);
    expect(isPreparedBroadcast({ ...start, streamKey: undefined })).toBe(false);
  });

  it('reads tags typed as text', () => {
    expect(parseTags(' Speedrun, chill  #retro,chill ')).toEqual({ tags: ['speedrun', 'chill', 'retro'], invalid: [], tooMany: false });
    expect(parseTags('ok, not_ok, émoji').invalid).toEqual(['not_ok', 'émoji']);
    expect(parseTags('a b c d e f g h i j k').tooMany).toBe(true);
    expect(parseTags('')).toEqual({ tags: [], invalid: [], tooMany: false });
  });

  it('counts with the right noun', () => {
    expect(countLabel(1, 'follower')).toBe('1 follower');
    expect(countLabel(1234, 'viewer')).toBe('1,234 viewers');
    expect(countLabel(0, 'channel')).toBe('0 channels');
  });
});

describe('callApi', () => {
  const answer = (status: number, body: string | null, seen: RequestInit[] = []): FetchLike => async (_input, init) => {
    seen.push(init);
    return new Response(body, { status });
  };

  it('surfaces the API catalogue error: code and message', async () => {
    const err = await callApi('/api/users/register', { method: 'POST', body: {}, fetch: answer(409, JSON.stringify({ code: 'USERNAME_TAKEN', message: 'That username is taken.' })) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ kind: 'http', status: 409, code: 'USERNAME_TAKEN', message: 'That username is taken.' });
  });

  it('describes non-catalogue failures without leaking the query string', async () => {
    const err = await callApi('/api/x?secret=1', { fetch: answer(502, '<html>bad gateway</html>') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'http', status: 502, code: undefined, message: 'GET /api/x answered HTTP 502' });
    const net = await callApi('/api/x', { fetch: () => Promise.reject(new TypeError('fetch failed')) }).catch((e: unknown) => e);
    expect(net).toMatchObject({ kind: 'network' });
  });

  it('sends JSON with the bearer token, and reads 204 as null', async () => {
    const seen: RequestInit[] = [];
    expect(await callApi('/api/channels/nova/follow', { method: 'PUT', token: 'at_1', fetch: answer(204, null, seen) })).toBeNull();
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer at_1' });
    expect(seen[0]?.body).toBeNull();
    await callApi('/api/channels', { method: 'POST', body: {}, fetch: answer(201, '{}', seen) });
    expect(seen[1]).toMatchObject({ method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  });
});
