/**
 * Shared pieces of the property-based fuzz tests (`*.fuzz.unit.test.ts`, fast-check).
 */

/**
 * A cheap assertion for a property's hot path (Vitest's `expect` costs more than the code under
 * test at 10,000 runs): throws `property violated: <what>` when `cond` is false, which fast-check
 * reports with the shrunk counterexample and seed.
 */
export function ok(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(`property violated: ${what}`);
}
