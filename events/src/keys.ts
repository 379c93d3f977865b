/**
 * Masks a stream key for logs and UIs: the last 4 characters stay, the rest becomes 8 `*`
 * (a fixed count, so the length is not revealed). Keys of 8 characters or fewer are fully
 * masked, because showing 4 of them would reveal half the secret. Never log a key unmasked.
 */
export function maskStreamKey(key: string): string {
  if (key.length <= 8) return '********';
  return `********${key.slice(-4)}`;
}
