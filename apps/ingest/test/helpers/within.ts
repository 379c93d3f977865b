/** Rejects with `timed out waiting for <what>` if `p` has not settled within `ms` (the wait itself is for an event; `ms` is only the give-up bound). */
export function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); })]).finally(() => clearTimeout(t));
}
