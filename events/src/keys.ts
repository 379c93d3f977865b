/**
 * Masks a stream key for logs and UIs: the last 4 characters stay, the rest becomes 8 `*`
 * (a fixed count, so the length is not revealed). Keys of 8 characters or fewer are fully
 * masked, because showing 4 of them would reveal half the secret. Never log a key unmasked.
 */
export function maskStreamKey(key: string): string {
  if (key.length <= 8) return '********';
  return maskedStreamKeyFromLast4(key.slice(-4));
}

/**
 * The masked form of a stored key from its kept last 4 characters (the read model keeps only
 * those and the hash): the same text {@link maskStreamKey} gives for the full key.
 */
export function maskedStreamKeyFromLast4(last4: string): string {
  return `********${last4}`;
}

/**
 * The URL an SRT encoder (ffmpeg, OBS "Server") publishes with `streamKey` on the SRT listener at
 * `srtUrl` (`srt://host:port`): the key in the SRT Access Control stream id
 * `#!::r=live/<key>,m=publish` (SRT's access-control guidelines; the ingest's
 * `apps/ingest/src/srt/stream-id.ts` parses it), written unencoded as OBS and ffmpeg pass it on.
 * `latencyMs` becomes SRT's `latency` in µs; `passphrase` is appended when the listener needs one.
 */
export function srtPublishUrl(srtUrl: string, streamKey: string, opts: { passphrase?: string; latencyMs?: number } = {}): string {
  const extra = `${opts.latencyMs !== undefined ? `&latency=${opts.latencyMs * 1000}` : ''}${opts.passphrase ? `&passphrase=${opts.passphrase}` : ''}`;
  return `${srtUrl}?streamid=#!::r=live/${streamKey},m=publish${extra}`;
}
