/**
 * The edge's cached database lookups (channel → playback policy, channel → live session,
 * session → channel) with two lanes, so that made-up names cannot slow the viewers of real ones:
 * - a name the edge already knows to exist is looked up again (when its entry expires) at once;
 * - a name it has never seen, or last saw missing, waits for one of a few "cold" slots
 *   (`EDGE_COLD_LOOKUP_CONCURRENCY`, default 2 of the pool's 5 connections), and when too many
 *   already wait (`EDGE_COLD_LOOKUP_QUEUE`) it is refused at once with {@link LookupsBusyError}.
 * Lookups of one name in flight are shared by every request that needs it (single flight).
 * A flood of made-up channel or session names then queues behind itself, while every known
 * channel keeps its connections.
 */
import { ConcurrencyLimit, QueueFullError } from '@live/runtime';

/** Cold lookups at once, by default (of the edge's pool of 5 database connections). */
export const DEFAULT_COLD_LOOKUP_CONCURRENCY = 2;
/** Cold lookups waiting for a slot before more are refused, by default. */
export const DEFAULT_COLD_LOOKUP_QUEUE = 1000;

/** Thrown by {@link LookupCache.get} when the cold lane's queue is full; the edge answers 503 LOOKUPS_BUSY. */
export class LookupsBusyError extends Error {
  constructor() {
    super('too many lookups of unknown names waiting');
    this.name = 'LookupsBusyError';
  }
}

/**
 * The cold lane: at most `concurrency` lookups at once, at most `maxQueued` waiting; shared by
 * every {@link LookupCache} of one edge.
 * @throws RangeError when `concurrency` is not a positive integer.
 */
export function createColdLane(concurrency = DEFAULT_COLD_LOOKUP_CONCURRENCY, maxQueued = DEFAULT_COLD_LOOKUP_QUEUE): ConcurrencyLimit {
  return new ConcurrencyLimit(concurrency, maxQueued);
}

/** How a {@link LookupCache} loads and keeps entries. */
export interface LookupCacheOptions<V> {
  /** Reads the value of `key` from the database; null when there is none. */
  readonly load: (key: string) => Promise<V | null>;
  /** How long an entry is fresh, ms (by its value: a missing one may be kept shorter). */
  readonly ttlMs: (value: V | null) => number;
  /** The cold lane (shared by the edge's caches, {@link createColdLane}). */
  readonly cold: ConcurrencyLimit;
  /**
   * Whether `key` is known to exist (its lookup takes the warm lane); default: its last value
   * was not null. The live-session cache passes "the channel exists" (an offline channel's
   * session is null, but its viewers are not made up).
   */
  readonly known?: (key: string) => boolean;
  /** Entries kept before the cache is emptied (default 10,000). */
  readonly maxEntries?: number;
}

/** A cache of one kind of lookup (see the module comment). */
export interface LookupCache<V> {
  /** The fresh value of `key` (null: fresh and missing), or undefined when it must be looked up. */
  peek(key: string, now?: number): V | null | undefined;
  /** Whether `key` takes the warm lane (see {@link LookupCacheOptions.known}). */
  known(key: string): boolean;
  /**
   * The value of `key`: fresh from the cache, or the lookup in flight, or a new lookup.
   * @throws LookupsBusyError when `key` is unknown and the cold lane's queue is full.
   * @throws the loader's error (nothing is cached then).
   */
  get(key: string): Promise<V | null>;
}

/** A {@link LookupCache} over `o.load`. */
export function createLookupCache<V>(o: LookupCacheOptions<V>): LookupCache<V> {
  const entries = new Map<string, { value: V | null; at: number }>();
  const inFlight = new Map<string, Promise<V | null>>();
  const maxEntries = o.maxEntries ?? 10_000;
  /** Was `key` ever found (its last value not null, fresh or not)? */
  const found = (key: string): boolean => entries.get(key)?.value != null;
  const known = o.known ?? found;

  const peek = (key: string, now = Date.now()): V | null | undefined => {
    const hit = entries.get(key);
    return hit && now - hit.at < o.ttlMs(hit.value) ? hit.value : undefined;
  };

  const lookUp = async (key: string): Promise<V | null> => {
    const value = await (known(key) ? o.load(key) : o.cold.run(() => o.load(key)).catch((err: unknown) => {
      throw err instanceof QueueFullError ? new LookupsBusyError() : err;
    }));
    if (entries.size >= maxEntries) entries.clear();
    entries.set(key, { value, at: Date.now() });
    return value;
  };

  return {
    peek,
    known: (key) => (o.known ? o.known(key) : found(key)),
    async get(key) {
      const fresh = peek(key);
      if (fresh !== undefined) return fresh;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const p = lookUp(key).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
  };
}
