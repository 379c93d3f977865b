/**
 * Seeds the `channels` read model with a synthetic but realistic catalogue for the discovery
 * read benchmark: streamer-like names, titles built from per-category templates, tags and
 * languages, a Zipf-like viewer distribution over the live channels. Deterministic (seeded
 * PRNG), so every run searches the same data.
 *
 * Rows are written directly with SQL (not through events and the projector): this is a read
 * benchmark, and the rows have exactly the shape the projection writes (`search_text` from
 * `channelSearchText`, the same function the projector uses).
 */
import { channelSearchText, type Db } from '@live/db';
import { prng } from '@live/dev/random';

const ADJECTIVES = ['pixel', 'shadow', 'cosmic', 'lazy', 'neon', 'silent', 'crimson', 'frosty', 'lucky', 'rusty', 'mighty', 'sleepy', 'turbo', 'golden', 'wild', 'retro', 'chill', 'salty', 'hyper', 'tiny'];
const NOUNS = ['wizard', 'fox', 'panda', 'gamer', 'otter', 'ninja', 'chef', 'pilot', 'bard', 'knight', 'coder', 'painter', 'runner', 'falcon', 'golem', 'sprout', 'raven', 'badger', 'tiger', 'owl'];

interface CategorySeed {
  readonly id: string;
  /** Share of channels (relative weight). */
  readonly weight: number;
  readonly titles: readonly string[];
  readonly subjects: readonly string[];
  readonly tags: readonly string[];
}

const SEEDS: readonly CategorySeed[] = [
  { id: 'gaming', weight: 40, titles: ['{s} speedrun attempts', 'Chill {s} with viewers', 'Ranked {s} grind to the top', '{s} first playthrough, no spoilers', 'Hardcore {s} day {n}', '{s} tournament practice'],
    subjects: ['Minecraft', 'Elden Ring', 'Valorant', 'Pokemon', 'Zelda', 'Fortnite', 'Stardew Valley', 'Hollow Knight', 'Counter-Strike', 'League of Legends', 'Factorio', 'Celeste'],
    tags: ['speedrun', 'rpg', 'fps', 'competitive', 'cozy', 'retro', 'indie', 'no-spoilers', 'english', 'chill'] },
  { id: 'just-chatting', weight: 15, titles: ['Morning coffee and {s}', 'Talking about {s}', 'Late night {s} chat', 'AMA: {s}', 'Reacting to {s}'],
    subjects: ['life', 'the news', 'your questions', 'movies', 'memes', 'relationships', 'travel stories'],
    tags: ['chatting', 'irl', 'english', 'chill', 'ama', 'react', 'cozy'] },
  { id: 'music', weight: 10, titles: ['{s} beats to study to', 'Live {s} session', 'Writing a {s} song from scratch', '{s} requests open'],
    subjects: ['lofi', 'jazz piano', 'synthwave', 'acoustic guitar', 'drum and bass', 'classical', 'hip hop'],
    tags: ['lofi', 'music', 'live-music', 'piano', 'guitar', 'production', 'chill'] },
  { id: 'art', weight: 8, titles: ['Painting {s}', 'Drawing {s} commissions', 'Sculpting {s} in clay', 'Pixel art: {s}'],
    subjects: ['landscapes', 'portraits', 'dragons', 'anime characters', 'watercolor flowers', 'a fantasy map'],
    tags: ['art', 'drawing', 'painting', 'digital-art', 'traditional-art', 'creative'] },
  { id: 'software-development', weight: 8, titles: ['Building {s} in TypeScript', 'Rust: {s} from scratch', 'Coding {s} live', 'Fixing bugs in {s}'],
    subjects: ['a game engine', 'a compiler', 'a web app', 'a database', 'an RTMP server', 'a chess engine'],
    tags: ['programming', 'typescript', 'rust', 'gamedev', 'webdev', 'open-source', 'english'] },
  { id: 'science-technology', weight: 4, titles: ['{s} explained', 'Soldering {s}', 'Building {s} at home'],
    subjects: ['quantum computing', 'a mechanical keyboard', 'a 3D printer', 'rocket engines', 'home servers'],
    tags: ['science', 'tech', 'hardware', 'maker', 'electronics'] },
  { id: 'sports', weight: 4, titles: ['{s} watch party', '{s} training session', 'Talking {s} stats'],
    subjects: ['football', 'basketball', 'chess', 'cycling', 'climbing', 'tennis'],
    tags: ['sports', 'chess', 'fitness', 'esports', 'analysis'] },
  { id: 'food-drink', weight: 4, titles: ['Cooking {s}', 'Baking {s} for the first time', '{s} taste test'],
    subjects: ['ramen', 'sourdough bread', 'tacos', 'sushi', 'chocolate cake', 'curry'],
    tags: ['cooking', 'baking', 'food', 'recipes', 'asmr'] },
  { id: 'travel-outdoors', weight: 3, titles: ['Walking through {s}', 'Camping in {s}', '{s} road trip'],
    subjects: ['Tokyo', 'the Alps', 'Lisbon', 'Iceland', 'New York', 'the desert'],
    tags: ['travel', 'irl', 'outdoors', 'hiking', 'walking'] },
  { id: 'talk-shows', weight: 2, titles: ['{s} podcast episode {n}', 'Weekly {s} show'],
    subjects: ['tech', 'gaming news', 'true crime', 'comedy', 'history'],
    tags: ['podcast', 'talk-show', 'news', 'comedy'] },
  { id: 'education', weight: 1, titles: ['Learning {s} together', '{s} for beginners', '{s} study group'],
    subjects: ['Japanese', 'calculus', 'chess openings', 'music theory', 'Spanish'],
    tags: ['education', 'learning', 'study', 'language'] },
  { id: 'events', weight: 1, titles: ['{s} charity marathon', '{s} live coverage'],
    subjects: ['Summer games', 'Game awards', 'Speedrun', 'Art festival'],
    tags: ['event', 'charity', 'marathon', 'speedrun'] },
];

const LANGUAGES = ['en', 'en', 'en', 'en', 'de', 'fr', 'es', 'pt', 'ja', 'ko', ''];

/** What {@link seedChannels} wrote. */
export interface SeedSummary {
  readonly channels: number;
  readonly live: number;
  /** Channel id of the most-viewed live channel. */
  readonly topChannelId: string;
}

/**
 * Deletes every channel and writes `total` channels, the first `live` of which (after a
 * shuffle) are live with Zipf-like viewer counts (rank r gets about 40000 / r^1.1 viewers).
 * Batches of 1000 rows per INSERT.
 */
export async function seedChannels(db: Db, opts: { total: number; live: number; seed?: number }): Promise<SeedSummary> {
  const rnd = prng(opts.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const totalWeight = SEEDS.reduce((s, c) => s + c.weight, 0);
  const pickCategory = (): CategorySeed => {
    let x = rnd() * totalWeight;
    for (const c of SEEDS) {
      x -= c.weight;
      if (x < 0) return c;
    }
    return SEEDS[0] as CategorySeed;
  };
  const liveRanks = Array.from({ length: opts.total }, (_, i) => i);
  for (let i = liveRanks.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [liveRanks[i], liveRanks[j]] = [liveRanks[j] as number, liveRanks[i] as number];
  }
  const rankOf = new Map<number, number>();
  liveRanks.slice(0, opts.live).forEach((idx, rank) => rankOf.set(idx, rank + 1));

  await db.deleteFrom('channels').execute();
  const now = Date.now();
  const used = new Set<string>();
  let topChannelId = '';
  const rows = [];
  for (let n = 0; n < opts.total; n++) {
    let id = '';
    do id = `${pick(ADJECTIVES)}${pick(NOUNS)}${Math.floor(rnd() * 1000)}`; while (used.has(id));
    used.add(id);
    const displayName = id.replace(/^\w/, (c) => c.toUpperCase());
    const cat = pickCategory();
    const title = pick(cat.titles).replace('{s}', pick(cat.subjects)).replace('{n}', String(1 + Math.floor(rnd() * 300)));
    const tags = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(cat.tags)))];
    const rank = rankOf.get(n);
    const viewers = rank ? Math.max(1, Math.round(40_000 / rank ** 1.1)) : 0;
    if (rank === 1) topChannelId = id;
    rows.push({
      id, slug: id, display_name: displayName, title, category: cat.id, tags, language: pick(LANGUAGES), mature: rnd() < 0.05,
      follower_count: Math.floor(rnd() ** 3 * 200_000), viewer_count: viewers,
      live_session_id: rank ? `s-${id}` : null, live_started_at: rank ? new Date(now - Math.floor(rnd() * 6 * 3600_000)) : null,
      created_at: new Date(now - Math.floor(rnd() * 3 * 365 * 86400_000)), updated_at: new Date(now),
      search_text: channelSearchText({ id, displayName, title, tags }),
    });
  }
  for (let i = 0; i < rows.length; i += 1000) await db.insertInto('channels').values(rows.slice(i, i + 1000)).execute();
  return { channels: rows.length, live: opts.live, topChannelId };
}
