/**
 * Discovery (`GET /api/streams/search`, `GET /api/categories`) against real PostgreSQL and
 * nats-server: channels are created by appending real events to the EVENTS log and letting the
 * read-model projector apply them; only viewer counts are set with SQL (nothing emits them yet).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { CATEGORIES, channelSubject, domainEvent, streamEvent, systemClock, type EventEnvelope } from '@live/events';
import { typoCorrections, waitForProjection, type Db } from '@live/db';
import { appendEvent, type Messaging } from '@live/messaging';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const EDGE = 'https://edge.test';
const logger = pino({ level: 'silent' });

interface Seed {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  readonly category: string;
  readonly tags: readonly string[];
  /** Viewers when live; undefined = offline. */
  readonly viewers?: number;
}

const NAMED: readonly Seed[] = [
  { id: 'mc-speedrun', name: 'Speedy Steve', title: 'Minecraft speedrun attempts', category: 'gaming', tags: ['speedrun', 'english'], viewers: 500 },
  { id: 'mc-builder', name: 'Block Builder', title: 'Chill Minecraft building', category: 'gaming', tags: ['cozy', 'english'], viewers: 50 },
  { id: 'lofi-cafe', name: 'Lofi Cafe', title: 'Lofi beats to study to', category: 'music', tags: ['lofi', 'chill'], viewers: 1200 },
  { id: 'chess-club', name: 'Chess Club', title: 'Chess openings for beginners', category: 'education', tags: ['chess'] },
  { id: 'zelda-runs', name: 'Hyrule Runner', title: 'Zelda any% speedrun', category: 'gaming', tags: ['speedrun', 'retro'] },
  { id: 'pasta-chef', name: 'Pasta Chef', title: 'Cooking fresh pasta', category: 'food-drink', tags: ['cooking', 'italian'], viewers: 50 },
  { id: 'art-room', name: 'Art Room', title: 'Painting landscapes', category: 'art', tags: [] },
  { id: 'bbq-pit', name: 'Pitmaster', title: 'Smoke ribs low and slow', category: 'food-drink', tags: ['bbq'] },
  { id: 'qa-lab', name: 'QA Lab', title: 'Testing the new build', category: 'science-technology', tags: ['testing'] },
];
// Many channels for paging: even ones live with tied viewer counts, odd ones offline.
const BULK: readonly Seed[] = Array.from({ length: 23 }, (_, i) => ({
  id: `retro-${String(i).padStart(2, '0')}`, name: `Retro Arcade ${i}`, title: 'Retro arcade marathon', category: 'events', tags: ['arcade'],
  ...(i % 2 === 0 ? { viewers: (i % 5) * 10 } : {}),
}));
const ALL = [...NAMED, ...BULK];

/** The order search promises: live first, then viewers descending, then id ascending. */
function expectedOrder(seeds: readonly Seed[]): string[] {
  return [...seeds].sort((a, b) => {
    const la = a.viewers !== undefined ? 1 : 0;
    const lb = b.viewers !== undefined ? 1 : 0;
    return lb - la || (b.viewers ?? 0) - (a.viewers ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }).map((s) => s.id);
}

interface Item {
  channelId: string; displayName: string; title: string; category: string; tags: string[]; language: string; mature: boolean;
  live: boolean; sessionId: string | null; startedAt: string | null; viewers: number; followers: number; playbackUrl: string | null;
}
interface Page { items: Item[]; nextCursor: string | null }

let backends: Backends;
let db: Db;
let messaging: Messaging;
let app: FastifyInstance;

async function search(query: string): Promise<Page> {
  const r = await app.inject({ method: 'GET', url: `/api/streams/search${query}` });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as Page;
}
const ids = (p: Page): string[] => p.items.map((i) => i.channelId);
const q = (text: string): string => `?q=${encodeURIComponent(text)}`;

beforeAll(async () => {
  backends = await startBackends('discovery-int', logger, 4);
  ({ db, messaging } = backends);
  app = await buildApp({ db, messaging, config: { jwtKeys: [{ kid: 'k1', secret: 'x'.repeat(40) }], edgeBaseUrl: EDGE } });

  const meta = { producer: 'discovery-test' };
  let last = 0;
  const append = async (e: EventEnvelope): Promise<void> => { last = (await appendEvent(messaging.js, e)).seq; };
  for (const s of ALL) {
    await append(domainEvent(systemClock, 'ChannelCreated', channelSubject(s.id), { channelId: s.id, ownerUserId: null, displayName: s.name }, meta));
    await append(domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject(s.id), {
      channelId: s.id, title: s.title, category: s.category, tags: s.tags, language: 'en', mature: false,
    }, meta));
    if (s.viewers !== undefined) {
      await append(streamEvent(systemClock, 'StreamPublishStarted', {
        channelId: s.id, sessionId: `sess-${s.id}`, ingestNodeId: 'ingest-test', relayUrl: `http://127.0.0.1:1/relay/${s.id}`, app: 'live', source: {},
      }, meta));
    }
  }
  expect(await waitForProjection(db, last, 60_000)).toBe(true);
  for (const s of ALL) {
    if (s.viewers !== undefined) await db.updateTable('channels').set({ viewer_count: s.viewers }).where('id', '=', s.id).execute();
  }
}, 180_000);

afterAll(async () => {
  await app?.close();
  await backends?.stop();
});

describe('GET /api/streams/search', () => {
  it('tolerates typos: "minecrat" finds the Minecraft channels, "speedrunn" the speedrun ones', async () => {
    expect(ids(await search(q('minecrat'))).sort()).toEqual(['mc-builder', 'mc-speedrun']);
    expect(ids(await search(q('speedrunn'))).sort()).toEqual(['mc-speedrun', 'zelda-runs']);
    expect(ids(await search(q('Minecraft speedrunn')))).toEqual(['mc-speedrun']);
    expect(ids(await search(q('speedr')))).toEqual(['mc-speedrun', 'zelda-runs']); // a prefix, as typed so far
    expect(await typoCorrections(db, 'minecrat')).toEqual([{ word: 'minecrat', corrections: ['minecraft'] }]);
  });

  it('tolerates a swapped or dropped letter that trigrams miss: "smoek", "testng"', async () => {
    expect(ids(await search(q('smoek')))).toEqual(['bbq-pit']);
    expect(ids(await search(q('testng')))).toEqual(['qa-lab']);
    expect(ids(await search(q('smoek ribs')))).toEqual(['bbq-pit']);
    expect((await typoCorrections(db, 'smoek'))[0]?.corrections).toContain('smoke');
  });

  it('matches whole words of titles, names and tags (full-text)', async () => {
    expect(ids(await search(q('openings')))).toEqual(['chess-club']);
    expect(ids(await search(q('italian')))).toEqual(['pasta-chef']); // a tag
    expect(ids(await search(q('HYRULE')))).toEqual(['zelda-runs']); // a display name, any case
    expect(ids(await search(q('beats study')))).toEqual(['lofi-cafe']);
    expect(ids(await search(q('minecraft -speedrun')))).toEqual(['mc-builder']); // web-search syntax
    expect(ids(await search(q('quantum chromodynamics')))).toEqual([]);
  });

  it('filters by category, tags (all of them) and live state', async () => {
    expect(ids(await search('?category=gaming')).sort()).toEqual(['mc-builder', 'mc-speedrun', 'zelda-runs']);
    expect(ids(await search('?tags=speedrun,english'))).toEqual(['mc-speedrun']);
    expect(ids(await search('?category=gaming&tags=cozy&live=true'))).toEqual(['mc-builder']);
    expect(ids(await search(`${q('speedrun')}&live=false`))).toEqual(['zelda-runs']);
    const live = ALL.filter((s) => s.viewers !== undefined).map((s) => s.id);
    const onAir = await search('?live=true&limit=50');
    expect(ids(onAir).sort()).toEqual([...live].sort());
    expect(onAir.items.every((i) => i.live && i.sessionId === `sess-${i.channelId}`)).toBe(true);
    const offAir = await search('?live=false&limit=50');
    expect(ids(offAir).sort()).toEqual(ALL.filter((s) => s.viewers === undefined).map((s) => s.id).sort());
    expect(offAir.items.every((i) => !i.live && i.playbackUrl === null && i.startedAt === null)).toBe(true);
  });

  it('orders live channels first, then by viewers, then by id, with playback URLs for live ones', async () => {
    const all = await search('?limit=50');
    expect(ids(all)).toEqual(expectedOrder(ALL));
    expect(all.nextCursor).toBeNull();
    expect(ids(all).slice(0, 4)).toEqual(['lofi-cafe', 'mc-speedrun', 'mc-builder', 'pasta-chef']); // 1200, 500, then a 50/50 tie by id
    const lofi = all.items[0]!;
    expect(lofi).toMatchObject({
      channelId: 'lofi-cafe', displayName: 'Lofi Cafe', title: 'Lofi beats to study to', category: 'music', tags: ['lofi', 'chill'],
      language: 'en', mature: false, live: true, sessionId: 'sess-lofi-cafe', viewers: 1200, followers: 0,
      playbackUrl: `${EDGE}/live/lofi-cafe/master.m3u8`,
    });
    expect(new Date(lofi.startedAt!).toISOString()).toBe(lofi.startedAt);
    expect(Date.now() - Date.parse(lofi.startedAt!)).toBeLessThan(10 * 60_000);
    const chess = all.items.find((i) => i.channelId === 'chess-club')!;
    expect(chess).toMatchObject({ live: false, sessionId: null, startedAt: null, viewers: 0, playbackUrl: null });
  });

  it('pages with a cursor: every match exactly once, in order', async () => {
    for (const [query, expected] of [
      [`${q('retro')}&limit=7`, expectedOrder(ALL.filter((s) => s.id.startsWith('retro-') || s.id === 'zelda-runs'))],
      ['?limit=4', expectedOrder(ALL)],
    ] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Page = await search(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        seen.push(...ids(page));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 20);
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
      expect(pages).toBe(Math.ceil(expected.length / Number(/limit=(\d+)/.exec(query)![1])));
    }
  });

  it('refuses a tampered cursor with INVALID_CURSOR', async () => {
    const first = await search('?limit=2');
    const good = first.nextCursor!;
    expect(good).toMatch(/^[A-Za-z0-9_-]+$/);
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const tampered = [
      `${good.slice(0, -2)}${good.endsWith('AA') ? 'BB' : 'AA'}`,
      b64(JSON.stringify({ l: true, v: -1, i: 'x' })),
      b64(JSON.stringify({ l: true, v: 5 })),
      b64(JSON.stringify({ l: true, v: 5, i: 'x', extra: 1 })),
      b64(JSON.stringify({ l: 'yes', v: 5, i: 'x' })),
      b64(JSON.stringify({ l: true, v: 5, i: "x' or 1=1 --" })),
      b64('[true,5,"x"]'),
      b64('not json'),
      'not*base64!',
    ];
    for (const cursor of tampered) {
      const r = await app.inject({ method: 'GET', url: `/api/streams/search?limit=2&cursor=${encodeURIComponent(cursor)}` });
      expect([cursor, r.statusCode, r.json()]).toEqual([cursor, 400, { code: 'INVALID_CURSOR', message: 'The cursor is not one this API issued.' }]);
    }
  });

  it('treats SQL and LIKE metacharacters in q as plain text', async () => {
    for (const text of ["'; drop table channels; --", '%', '_', '\\', '"', "' or '1'='1", '%_%', "retro'; delete from channels where ''='"]) {
      const r = await app.inject({ method: 'GET', url: `/api/streams/search${q(text)}` });
      expect([text, r.statusCode]).toEqual([text, 200]);
    }
    expect(ids(await search(q('%')))).toEqual([]); // not a wildcard
    expect(ids(await search(q('_')))).toEqual([]);
    expect(ids(await search(q('retro%')))).toHaveLength(20); // '%' separates words, like a space
    const count = await db.selectFrom('channels').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(ALL.length);
  });

  it.each([
    ['a lone high surrogate (%ED%A0%80)', '?q=ab%ED%A0%80cd'],
    ['a lone low surrogate (%ED%B0%80)', '?q=%ED%B0%80'],
    ['a truncated UTF-8 sequence', '?q=%F0%9F'],
    ['U+202E RIGHT-TO-LEFT OVERRIDE', q('abc\u202Edef')],
    ['U+200B ZERO WIDTH SPACE', q('mine\u200Bcraft')],
    ['a control character', q('mine\u0007craft')],
    ['101 characters', q('m'.repeat(101))],
    ['an unknown category', '?category=cooking-shows'],
    ['an upper-case tag', '?tags=Speedrun'],
    ['11 tags', `?tags=${Array.from({ length: 11 }, (_, i) => `t${i}`).join(',')}`],
    ['an empty tag', '?tags=speedrun,,english'],
    ['limit 0', '?limit=0'],
    ['limit 51', '?limit=51'],
    ['live=maybe', '?live=maybe'],
  ])('answers 400 VALIDATION_FAILED for %s', async (_name, query) => {
    const r = await app.inject({ method: 'GET', url: `/api/streams/search${query}` });
    expect(r.statusCode, r.body).toBe(400);
    const body = r.json() as { code: string; message: string };
    expect(Object.keys(body).sort()).toEqual(['code', 'message']);
    expect(body.code).toBe('VALIDATION_FAILED');
  });

  it('accepts 100 characters of q and non-Latin text', async () => {
    expect(ids(await search(q('m'.repeat(100))))).toEqual([]);
    expect(ids(await search(q('マインクラフト 🎮')))).toEqual([]);
  });
});

describe('GET /api/categories', () => {
  it('lists every category with channel and live counts, most live first, then by name', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/categories' });
    expect(r.statusCode).toBe(200);
    const { items } = r.json() as { items: Array<{ id: string; name: string; channels: number; liveChannels: number }> };
    expect(items).toHaveLength(CATEGORIES.length);
    expect(items.map((c) => c.id)).toEqual([
      'events', 'gaming', 'food-drink', 'music',
      'art', 'education', 'just-chatting', 'science-technology', 'software-development', 'sports', 'talk-shows', 'travel-outdoors',
    ]);
    const by = Object.fromEntries(items.map((c) => [c.id, c]));
    expect(by.events).toEqual({ id: 'events', name: 'Special Events', channels: 23, liveChannels: 12 });
    expect(by.gaming).toMatchObject({ channels: 3, liveChannels: 2 });
    expect(by.music).toMatchObject({ channels: 1, liveChannels: 1 });
    expect(by.education).toMatchObject({ channels: 1, liveChannels: 0 });
    expect(by.sports).toMatchObject({ channels: 0, liveChannels: 0 });
  });
});
