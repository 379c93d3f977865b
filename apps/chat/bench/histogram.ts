/**
 * A fixed-bucket latency histogram (HDR-style: constant relative-ish error, O(1) record, no
 * allocation per sample) for the chat benchmark's load generators, mergeable across processes.
 *
 * Buckets, in milliseconds: 0.05 ms wide up to 100 ms, 1 ms wide up to 1 s, 10 ms wide up to
 * 60 s; anything above lands in the last bucket (the exact maximum is tracked separately).
 * A percentile is reported as the upper edge of its bucket (capped at the exact maximum), so it
 * is never understated and overstated by at most one bucket width.
 */

const FINE_MS = 100;
const FINE_STEP = 0.05;
const MID_MS = 1000;
const MID_STEP = 1;
const COARSE_MS = 60_000;
const COARSE_STEP = 10;
const FINE_BUCKETS = Math.round(FINE_MS / FINE_STEP);
const MID_BUCKETS = Math.round((MID_MS - FINE_MS) / MID_STEP);
const COARSE_BUCKETS = Math.round((COARSE_MS - MID_MS) / COARSE_STEP);
/** Number of buckets of every {@link Histogram}. */
export const HISTOGRAM_BUCKETS = FINE_BUCKETS + MID_BUCKETS + COARSE_BUCKETS;

function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0; // negative (clock skew between processes, < 0.1 ms) and NaN count as 0
  if (ms < FINE_MS) return Math.floor(ms / FINE_STEP);
  if (ms < MID_MS) return FINE_BUCKETS + Math.floor((ms - FINE_MS) / MID_STEP);
  if (ms < COARSE_MS) return FINE_BUCKETS + MID_BUCKETS + Math.floor((ms - MID_MS) / COARSE_STEP);
  return HISTOGRAM_BUCKETS - 1;
}

function upperEdgeOf(bucket: number): number {
  if (bucket < FINE_BUCKETS) return (bucket + 1) * FINE_STEP;
  if (bucket < FINE_BUCKETS + MID_BUCKETS) return FINE_MS + (bucket - FINE_BUCKETS + 1) * MID_STEP;
  return MID_MS + (bucket - FINE_BUCKETS - MID_BUCKETS + 1) * COARSE_STEP;
}

/** A histogram in transit between processes: `[bucket, count]` pairs of the non-empty buckets, plus the exact max (ms). */
export interface SparseHistogram {
  readonly buckets: ReadonlyArray<readonly [number, number]>;
  readonly max: number;
}

/** Latencies in milliseconds; see the module comment for the bucket layout. */
export class Histogram {
  private readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  /** Samples recorded. */
  total = 0;
  /** Largest sample recorded, ms (exact). */
  max = 0;

  /** Records one latency, ms. */
  record(ms: number): void {
    this.counts[bucketOf(ms)]! += 1;
    this.total += 1;
    if (ms > this.max) this.max = ms;
  }

  /** Adds every sample of `other` (from {@link toSparse} of another process). */
  merge(other: SparseHistogram): void {
    for (const [bucket, count] of other.buckets) {
      this.counts[bucket]! += count;
      this.total += count;
    }
    if (other.max > this.max) this.max = other.max;
  }

  /**
   * The latency at quantile `q` (0..1), ms: the upper edge of the bucket holding the
   * ceil(q·total)-th sample, capped at the exact max; NaN when empty.
   */
  percentile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeOf(i), this.max);
    }
    return this.max;
  }

  /** The non-empty buckets, for sending over IPC. */
  toSparse(): SparseHistogram {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, max: this.max };
  }

  /** Forgets every sample. */
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = 0;
  }
}
