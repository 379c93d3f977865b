/**
 * Restream destinations as the dashboard reads them (`/api/channels/<id>/restream-destinations`):
 * paths, the answer's parser and the label of each state. Pure: no fetch, no React.
 */

/** The state of a destination's latest push (README, "Restreaming (simulcast)"). */
export type RestreamState = 'idle' | 'live' | 'reconnecting' | 'stopped';

/** One destination as the API answers it (the key only masked). */
export interface RestreamDestination {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly maskedKey: string;
  readonly enabled: boolean;
  readonly state: RestreamState;
  readonly attempt: number;
  readonly reason: string | null;
}

/** `/api/channels/<channelId>/restream-destinations[/<destinationId>]`. */
export function restreamPath(channelId: string, destinationId?: string): string {
  const base = `/api/channels/${encodeURIComponent(channelId)}/restream-destinations`;
  return destinationId === undefined ? base : `${base}/${encodeURIComponent(destinationId)}`;
}

const STATES: ReadonlySet<string> = new Set<RestreamState>(['idle', 'live', 'reconnecting', 'stopped']);

/** A list body as {@link RestreamDestination}s in the API's order; malformed items are dropped. */
export function parseRestreamDestinations(body: unknown): RestreamDestination[] {
  const items = typeof body === 'object' && body !== null ? (body as { items?: unknown }).items : undefined;
  if (!Array.isArray(items)) return [];
  return items.flatMap((i): RestreamDestination[] => {
    if (typeof i !== 'object' || i === null) return [];
    const o = i as Record<string, unknown>;
    if (typeof o.id !== 'string' || typeof o.name !== 'string' || typeof o.url !== 'string' || typeof o.maskedKey !== 'string' ||
      typeof o.enabled !== 'boolean' || typeof o.state !== 'string' || !STATES.has(o.state) || typeof o.attempt !== 'number') return [];
    return [{
      id: o.id, name: o.name, url: o.url, maskedKey: o.maskedKey, enabled: o.enabled, state: o.state as RestreamState, attempt: o.attempt,
      reason: typeof o.reason === 'string' ? o.reason : null,
    }];
  });
}

/** What the dashboard says of a destination's state, e.g. `Reconnecting (attempt 3): Connection refused`. */
export function restreamStateLabel(d: Pick<RestreamDestination, 'state' | 'attempt' | 'reason' | 'enabled'>): string {
  switch (d.state) {
    case 'idle':
      return d.enabled ? 'Waiting for you to go live' : 'Off';
    case 'live':
      return d.attempt > 1 ? `Live (reconnected, attempt ${d.attempt})` : 'Live';
    case 'reconnecting':
      return `Reconnecting (attempt ${d.attempt})${d.reason ? `: ${d.reason}` : ''}`;
    case 'stopped':
      return `Stopped${d.reason ? ` (${d.reason.replace(/-/g, ' ')})` : ''}`;
  }
}
