/**
 * Deterministic randomness for benchmarks and generated test data (same seed, same data).
 */

/**
 * A deterministic 32-bit PRNG (mulberry32, Tommy Ettinger's public-domain generator).
 * @param seed any number (its low 32 bits are used).
 * @returns a function giving the next value, uniform in [0, 1).
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
