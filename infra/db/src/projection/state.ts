/**
 * The in-memory working set of one projection batch: the read-model rows the batch's events
 * touch, loaded once before the batch and written back once after it (projections.ts).
 * Reading a key that was not loaded is a programming error (the prefetch missed it) and throws,
 * so a gap between what an event reads and what is loaded for it fails loudly in tests instead
 * of projecting on a wrong assumption.
 */

/** Thrown when a rule reads a row the batch did not load. */
export class NotPrefetchedError extends Error {
  constructor(table: string, key: string) {
    super(`read-model row ${table}[${key}] was read by a projection rule but not loaded for the batch`);
    this.name = 'NotPrefetchedError';
  }
}

/** What a batch changed in one table, by the statement that writes it. */
export interface TableChanges<R> {
  /** Rows absent when loaded and present at the end of the batch. */
  readonly inserts: readonly R[];
  /** Rows present when loaded and changed since, with their loaded version. */
  readonly updates: ReadonlyArray<{ readonly row: R; readonly before: R }>;
  /** Rows present when loaded and absent at the end of the batch (their loaded version). */
  readonly deletes: readonly R[];
}

/**
 * Rows of one table by primary key (`keyOf`), each known present (a row) or known absent
 * (loaded and not found). Rows are replaced, never mutated in place (`put` a copy), so the
 * loaded version stays available to compute the delete list.
 */
export class TableState<R extends object, I extends string = never> {
  readonly #rows = new Map<string, R | null>();
  readonly #loaded = new Map<string, R>();
  readonly #dirty = new Set<string>();
  /** Secondary lookups: index name -> value -> keys of the present rows with that value. */
  readonly #index = new Map<I, Map<string, Set<string>>>();

  /**
   * @param table the table's name (messages, flush).
   * @param keyOf the row's primary key as one string.
   * @param indexes secondary lookups by name: the value a row is found under ({@link lookup}).
   */
  constructor(readonly table: string, readonly keyOf: (row: R) => string, readonly indexes: Readonly<Record<I, (row: R) => string>> = {} as Record<I, (row: R) => string>) {
    for (const name of Object.keys(indexes) as I[]) this.#index.set(name, new Map());
  }

  #indexRow(key: string, row: R, add: boolean): void {
    for (const [name, byValue] of this.#index) {
      const v = this.indexes[name](row);
      let keys = byValue.get(v);
      if (add) {
        if (!keys) byValue.set(v, (keys = new Set()));
        keys.add(key);
      } else {
        keys?.delete(key);
      }
    }
  }

  #set(key: string, row: R | null): void {
    const before = this.#rows.get(key);
    if (before) this.#indexRow(key, before, false);
    this.#rows.set(key, row);
    if (row) this.#indexRow(key, row, true);
  }

  /**
   * Records what the database returned for a set of requested keys: `rows` present (a superset
   * of the requested keys is fine: every row returned is the database's current row), every
   * other key of `requested` absent. Keys already known are left as they are.
   */
  load(rows: Iterable<R>, requested: Iterable<string> = []): void {
    for (const r of rows) {
      const k = this.keyOf(r);
      if (this.#rows.has(k)) continue;
      this.#set(k, r);
      this.#loaded.set(k, r);
    }
    for (const k of requested) if (!this.#rows.has(k)) this.#rows.set(k, null);
  }

  /** Whether the key was loaded (present or absent) or written in this batch. */
  knows(key: string): boolean {
    return this.#rows.has(key);
  }

  /**
   * The row under `key`, or undefined when it does not exist.
   * @throws NotPrefetchedError when the key was neither loaded nor written.
   */
  get(key: string): R | undefined {
    const r = this.#rows.get(key);
    if (r === undefined) throw new NotPrefetchedError(this.table, key);
    return r ?? undefined;
  }

  /**
   * Inserts or replaces a row (by its key). The key must be known (loaded, present or absent, or
   * written before), since the flush writes an unknown row as new.
   * @throws NotPrefetchedError when the key was neither loaded nor written.
   */
  put(row: R): void {
    const k = this.keyOf(row);
    if (!this.#rows.has(k)) throw new NotPrefetchedError(this.table, k);
    this.#set(k, row);
    this.#dirty.add(k);
  }

  /**
   * Deletes the row under `key` (a no-op when absent).
   * @throws NotPrefetchedError when the key was neither loaded nor written.
   */
  delete(key: string): void {
    if (!this.get(key)) return;
    this.#set(key, null);
    this.#dirty.add(key);
  }

  /**
   * The present rows whose index `name` value is `value`, in key order: those loaded and those
   * written in this batch. Complete only when every row with that value was loaded (the
   * prefetch loads whole sets for the lookups the rules make).
   */
  lookup(name: I, value: string): R[] {
    const keys = [...(this.#index.get(name)?.get(value) ?? [])].sort();
    return keys.map((k) => this.#rows.get(k)!);
  }

  /** The batch's net changes: inserted, updated (with the loaded row) and deleted rows. */
  changes(): TableChanges<R> {
    const inserts: R[] = [];
    const updates: Array<{ row: R; before: R }> = [];
    const deletes: R[] = [];
    for (const k of this.#dirty) {
      const r = this.#rows.get(k);
      const before = this.#loaded.get(k);
      if (r && before) updates.push({ row: r, before });
      else if (r) inserts.push(r);
      else if (before) deletes.push(before);
    }
    return { inserts, updates, deletes };
  }
}

/**
 * Rows an event replaces as a whole set per owner key (a channel's playback allow-list, its
 * banned terms): loaded per owner, replaced per owner, written back by deleting the owner's rows
 * and inserting the new set.
 */
export class GroupState<R> {
  readonly #groups = new Map<string, readonly R[]>();
  readonly #dirty = new Set<string>();

  constructor(readonly table: string) {}

  /** Records the database's rows of each requested owner (owners without rows get an empty set). */
  load(byOwner: ReadonlyMap<string, readonly R[]>, requested: Iterable<string>): void {
    for (const o of requested) if (!this.#groups.has(o)) this.#groups.set(o, byOwner.get(o) ?? []);
  }

  /**
   * The owner's rows.
   * @throws NotPrefetchedError when the owner was not loaded.
   */
  get(owner: string): readonly R[] {
    const g = this.#groups.get(owner);
    if (!g) throw new NotPrefetchedError(this.table, owner);
    return g;
  }

  /**
   * Replaces the owner's whole set.
   * @throws NotPrefetchedError when the owner was not loaded.
   */
  replace(owner: string, rows: readonly R[]): void {
    if (!this.#groups.has(owner)) throw new NotPrefetchedError(this.table, owner);
    this.#groups.set(owner, rows);
    this.#dirty.add(owner);
  }

  /** Owners whose set was replaced, with the set they end the batch with. */
  changes(): Array<{ owner: string; rows: readonly R[] }> {
    return [...this.#dirty].map((owner) => ({ owner, rows: this.#groups.get(owner) ?? [] }));
  }
}
