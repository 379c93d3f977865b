/** Resolves after `ms` milliseconds (retry backoff inside this package; not exported by index.ts). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
