/**
 * Node-wide bounds of the RTMP ingest, as pure bookkeeping (no sockets, no timers): the reasons
 * of the bounds and the node's budget of bytes held in partial messages. Connections per peer
 * address and in total, and the log throttle that writes one line per offender per time window,
 * are `ConnectionCounter` and `OffenderLog` of `@live/runtime` (shared with the chat gateway and
 * the edge). The server (`server.ts`) and the sessions (`session.ts`) act on their answers;
 * tests drive them directly.
 *
 * The bounds are those RTMP servers commonly enforce (SRS `max_connections`, nginx-rtmp
 * `max_connections` and chunk/message caps, MediaMTX read/write timeouts): a peer can only make
 * the node hold memory or sockets it is allowed to.
 */

/** Why a connection was refused or closed by a bound (the `reason` label of the metrics). */
export type RtmpLimitReason =
  /** Refused at accept: the peer address already has `maxConnectionsPerAddress` connections. */
  | 'per_address'
  /** Refused at accept: the node already has `maxConnections` connections. */
  | 'total'
  /** Closed: the connection's partial messages would exceed its own budget. */
  | 'pending_bytes'
  /** Closed: the node-wide budget of partial-message bytes would be exceeded by this connection. */
  | 'node_pending_bytes'
  /** Closed: no publish was accepted within `unpublishedTimeoutMs` of the RTMP handshake. */
  | 'unpublished_timeout';

/**
 * A shared budget of bytes (the node's partial RTMP messages): holders reserve before they
 * allocate and release what they free. Never goes above `limit` nor below 0.
 */
export interface ByteBudget {
  /** The cap, bytes. */
  readonly limit: number;
  /** Bytes reserved now. */
  readonly used: number;
  /** Bytes that can still be reserved (`limit - used`). */
  readonly available: number;
  /** Reserves `n` bytes (n ≥ 0) if they fit under the limit; false (nothing reserved) otherwise. */
  tryReserve(n: number): boolean;
  /** Returns `n` reserved bytes. */
  release(n: number): void;
}

/** Creates a {@link ByteBudget} of `limit` bytes (Infinity: unbounded, still counted). */
export function createByteBudget(limit: number): ByteBudget {
  let used = 0;
  return {
    limit,
    get used() {
      return used;
    },
    get available() {
      return Math.max(0, limit - used);
    },
    tryReserve(n) {
      if (n < 0 || used + n > limit) return false;
      used += n;
      return true;
    },
    release(n) {
      used = Math.max(0, used - n);
    },
  };
}
