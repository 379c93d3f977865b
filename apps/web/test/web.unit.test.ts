/** Pure pieces of the web app: route table, `/api/streams` validation and ordering, formatting. */
import { describe, expect, it } from 'vitest';
import { isStreamItem, liveMasterUrl, sortStreams, vodMasterUrl, type StreamItem } from '../src/api';
import { duration, timeAgo } from '../src/format';
import { hrefFor, parseRoute, type Route } from '../src/routes';

const item = (over: Partial<StreamItem>): StreamItem => ({
  sessionId: 's',
  channelId: 'c',
  channelName: 'C',
  title: 't',
  status: 'vod',
  startedAt: '2025-01-01T00:00:00.000Z',
  endedAt: null,
  playbackUrl: null,
  vodUrl: null,
  vodMp4Url: null,
  renditions: [],
  ...over,
});

describe('routes', () => {
  it.each<[string, Route]>([
    ['/', { name: 'home' }],
    ['/watch/live/c1', { name: 'live', channelId: 'c1' }],
    ['/watch/live/c1/', { name: 'live', channelId: 'c1' }],
    ['/watch/vod/a%20b', { name: 'vod', sessionId: 'a b' }],
    ['/watch/vod/%E0%A4%A', { name: 'not-found', path: '/watch/vod/%E0%A4%A' }],
    ['/watch/live/', { name: 'not-found', path: '/watch/live/' }],
    ['/watch/live/a/b', { name: 'not-found', path: '/watch/live/a/b' }],
    ['/demo', { name: 'channel', channelId: 'demo' }],
    ['/alice_01/', { name: 'channel', channelId: 'alice_01' }],
    ['/watch', { name: 'not-found', path: '/watch' }],
    ['/API', { name: 'not-found', path: '/API' }],
    ['/a.b', { name: 'not-found', path: '/a.b' }],
    ['/alice/videos', { name: 'not-found', path: '/alice/videos' }],
    ['/moderate/c1', { name: 'moderate', channelId: 'c1' }],
    ['/moderate/', { name: 'not-found', path: '/moderate/' }],
  ])('parses %s', (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it('links a channel page by its id', () => {
    expect(hrefFor({ name: 'channel', channelId: 'demo' })).toBe('/demo');
  });

  it('round-trips ids that need escaping', () => {
    const r: Route = { name: 'vod', sessionId: 'x/y?z#' };
    expect(hrefFor(r)).toBe('/watch/vod/x%2Fy%3Fz%23');
    expect(parseRoute(hrefFor(r))).toEqual(r);
  });
});

describe('api', () => {
  it('builds the edge playlist URLs', () => {
    expect(liveMasterUrl('c1')).toBe('/live/c1/master.m3u8');
    expect(vodMasterUrl('s/1')).toBe('/sessions/s%2F1/vod.m3u8');
  });

  it('accepts the documented item shape and rejects others', () => {
    expect(isStreamItem(item({}))).toBe(true);
    expect(isStreamItem({ ...item({}), status: 'paused' })).toBe(false);
    expect(isStreamItem({ ...item({}), renditions: [1] })).toBe(false);
    expect(isStreamItem(null)).toBe(false);
  });

  it('lists live and starting sessions first, each group newest first', () => {
    const sorted = sortStreams([
      item({ sessionId: 'old-vod', startedAt: '2025-01-01T00:00:00Z' }),
      item({ sessionId: 'live-old', status: 'live', startedAt: '2025-01-02T00:00:00Z' }),
      item({ sessionId: 'new-vod', startedAt: '2025-01-05T00:00:00Z' }),
      item({ sessionId: 'starting', status: 'starting', startedAt: '2025-01-03T00:00:00Z' }),
    ]);
    expect(sorted.map((i) => i.sessionId)).toEqual(['starting', 'live-old', 'new-vod', 'old-vod']);
  });
});

describe('format', () => {
  it('formats durations and relative times', () => {
    expect(duration('2025-01-01T00:00:00Z', '2025-01-01T00:01:05Z')).toBe('1:05');
    expect(duration('2025-01-01T00:00:00Z', '2025-01-01T01:02:03Z')).toBe('1:02:03');
    expect(duration('2025-01-01T00:00:00Z', null)).toBe('');
    expect(timeAgo('2025-01-01T00:00:00Z', Date.parse('2025-01-01T00:10:00Z'))).toBe('10 min ago');
  });
});
