/**
 * Common Media Server Data (CTA-5006), the `CMSD-Dynamic` response header: what a server tells a
 * player about the connection it answers on. The edge sends the estimated throughput (`etp`,
 * kbps) and round-trip time (`rtt`, ms) it reads from the kernel's TCP statistics (throughput.ts),
 * so that a player whose own estimate is wrong can correct it. Low-latency players need that:
 * a preload-hinted part or an open segment is held until it is written, and players that time a
 * download from the request (Shaka Player, and hls.js for parts) take the wait for a slow
 * network, estimate about the bitrate of the rendition they play, and never switch up. Shaka
 * Player reads `etp` by default (`cmsd.estimatedThroughputWeightRatio` 0.5) and `mb`.
 *
 * The header is a Structured Field List (RFC 8941 §3.1): one member per server on the path, a
 * String naming it with the keys as Integer parameters, `"edge";etp=94000;rtt=12`. Pure.
 */

/** What the edge knows of one viewer's connection. */
export interface CmsdConnection {
  /** Estimated throughput to the viewer, bits per second (≥ 0). */
  readonly throughputBps: number;
  /** Round-trip time to the viewer, milliseconds; undefined when unknown. */
  readonly rttMs?: number | undefined;
}

/** Header names, lower case (as Node and uWS write them). */
export const CMSD_DYNAMIC_HEADER = 'cmsd-dynamic';

/**
 * Renders a `CMSD-Dynamic` value for one server: `"<serverId>";etp=<kbps>;rtt=<ms>` (CTA-5006
 * §4: `etp` and `rtt` are Integers, kbps rounded down and ms rounded to the nearest; `rtt` only
 * when known). The identifier is written as an RFC 8941 String (`"` and `\` escaped).
 * @throws RangeError when `serverId` holds a character an sf-string cannot (outside printable ASCII).
 */
export function renderCmsdDynamic(serverId: string, c: CmsdConnection): string {
  if (!/^[\x20-\x7e]*$/.test(serverId)) throw new RangeError(`CMSD server identifier must be printable ASCII: ${JSON.stringify(serverId)}`);
  const id = `"${serverId.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
  const etp = Math.max(0, Math.floor(c.throughputBps / 1000));
  const rtt = c.rttMs === undefined || !Number.isFinite(c.rttMs) ? '' : `;rtt=${Math.max(0, Math.round(c.rttMs))}`;
  return `${id};etp=${etp}${rtt}`;
}
