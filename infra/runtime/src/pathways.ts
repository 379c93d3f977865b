/**
 * `EDGE_PATHWAYS`, the one setting the API and the edges share for HLS Content Steering
 * (RFC 8216bis §4.4.6.6; Apple's "HLS Content Steering Specification" v1.2): every edge as a
 * Pathway, `<pathwayId>=<origin>`. The edges list the other Pathways' variants in their master
 * playlists; the API health-checks the origins and orders them in the steering manifest.
 */
import { List } from './config.js';

/** One edge as a Pathway. */
export interface EdgePathway {
  /** Pathway ID ({@link PATHWAY_ID}), the edge's `EDGE_PATHWAY_ID`. */
  readonly id: string;
  /** The origin players reach the edge at (and the API checks `/healthz` on), e.g. `http://10.0.0.5:8081`. */
  readonly url: string;
}

/** A legal Pathway ID (the spec's `[a-z]`, `[A-Z]`, `[0-9]`, `.`, `-`, `_`), here 1 to 64 characters. */
export const PATHWAY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The `EDGE_PATHWAYS` setting (a comma-separated list; empty: no content steering). */
export const edgePathwaysSettings = {
  EDGE_PATHWAYS: List('Edges as HLS Content Steering Pathways, `<pathwayId>=<origin>` each (e.g. `edge-1=http://10.0.0.5:8081,edge-2=http://10.0.0.6:8081`): the origin players reach each edge at. The same list on the API (which checks each `/healthz` and orders the steering manifest) and on every edge (whose master playlists list the other edges\' variants). Empty: no steering.', { default: [], itemText: 'pathways' }),
};

/**
 * Parses `EDGE_PATHWAYS` items, each `<pathwayId>=<origin>`: a legal, unique Pathway ID and an
 * `http` or `https` URL without path, query, fragment or credentials (the edge's routes are at
 * its root).
 * @returns the pathways in the given order, `url` normalised to the origin.
 * @throws Error naming the offending item.
 */
export function parseEdgePathways(items: readonly string[]): EdgePathway[] {
  const out: EdgePathway[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    const id = eq < 0 ? '' : item.slice(0, eq).trim();
    const raw = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (!PATHWAY_ID.test(id)) throw new Error(`"${item}": expected <pathwayId>=<url> with a pathway id of 1 to 64 of [A-Za-z0-9._-]`);
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error(`"${item}": ${JSON.stringify(raw)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${item}": the URL must be http or https`);
    if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
      throw new Error(`"${item}": the URL must be an origin (no path, query or credentials)`);
    }
    if (out.some((p) => p.id === id)) throw new Error(`"${item}": pathway id ${id} appears twice`);
    out.push({ id, url: u.origin });
  }
  return out;
}
