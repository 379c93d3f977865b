/**
 * The steering manifest of HLS Content Steering (Apple's "HLS Content Steering Specification"
 * v1.2, referenced by RFC 8216bis §4.4.6.6 `EXT-X-CONTENT-STEERING`): which edges (Pathways) a
 * player should fetch media from, best first. Pure: the configured edges and their health in,
 * the JSON document out (the route is in routes/playback.ts, the health checks in edges.ts).
 *
 * How the pieces fit: every edge's master playlist lists the variants of every Pathway (its own
 * with relative URIs, the other edges' with absolute ones; apps/edge steering.ts), so this
 * manifest only orders them: `PATHWAY-PRIORITY` with the healthy edges first. hls.js moves to
 * the first Pathway of the list it has not penalized, at the latest one TTL after an edge
 * fails its health checks, and at once when its own requests to an edge fail (then even
 * without a manifest). No `PATHWAY-CLONES`: hls.js 1.7 applies a clone's `URI-REPLACEMENT.HOST`
 * to the host name only (`URL.hostname`), as the spec words it, so clones cannot reach edges
 * that differ by port, as they do on one machine.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { EdgePathway } from '@live/runtime';

/** The steering manifest (JSON, `VERSION` 1) as this API answers it. */
export const SteeringManifest = Type.Object({
  VERSION: Type.Literal(1),
  /** Seconds until the player loads the manifest again. */
  TTL: Type.Integer({ minimum: 1 }),
  /** Pathway IDs, most preferred first. */
  'PATHWAY-PRIORITY': Type.Array(Type.String(), { minItems: 1 }),
});
/** Static type of {@link SteeringManifest}. */
export type SteeringManifest = Static<typeof SteeringManifest>;

/**
 * PATHWAY-PRIORITY: every configured Pathway once; the healthy ones first, then the others.
 * Within each group the order is the configured ring starting at the player's `current`
 * Pathway (when it is one of them), so a player stays where it is while its edge is healthy and
 * the viewers of a failed edge spread to the next one in the ring rather than all to the first.
 * @param current the player's Pathway (`_HLS_pathway`); unknown ids are ignored.
 */
export function pathwayPriority(pathways: readonly EdgePathway[], isUp: (id: string) => boolean, current?: string): string[] {
  const start = Math.max(0, pathways.findIndex((p) => p.id === current));
  const ring = pathways.map((_p, i) => pathways[(start + i) % pathways.length]!.id);
  return [...ring.filter((id) => isUp(id)), ...ring.filter((id) => !isUp(id))];
}

/** Inputs of {@link renderSteeringManifest}. */
export interface SteeringInput {
  readonly pathways: readonly EdgePathway[];
  /** Whether an edge currently passes its health checks. */
  readonly isUp: (id: string) => boolean;
  /** The player's current Pathway, from the `_HLS_pathway` query parameter players send. */
  readonly current?: string | undefined;
  /** Seconds until the player asks again (the manifest's TTL), at least 1. */
  readonly ttlSeconds: number;
}

/**
 * The steering manifest for one player: `{ VERSION: 1, TTL, PATHWAY-PRIORITY }`
 * ({@link pathwayPriority}).
 * @throws RangeError when there are no pathways or `ttlSeconds` is not a positive integer.
 */
export function renderSteeringManifest(input: SteeringInput): SteeringManifest {
  if (input.pathways.length === 0) throw new RangeError('a steering manifest needs at least one pathway');
  if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1) throw new RangeError('ttlSeconds must be a positive integer');
  return { VERSION: 1, TTL: input.ttlSeconds, 'PATHWAY-PRIORITY': pathwayPriority(input.pathways, input.isUp, input.current) };
}
