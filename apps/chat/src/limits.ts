/** Connection caps of a chat gateway (the per-user message limits are `UserLimits` of @live/events). */

/** Default cap of WebSockets open at once from one client address: room for a household or an office behind one NAT address. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 100;
/** Default cap of WebSockets open at once on one gateway. */
export const DEFAULT_MAX_CONNECTIONS = 50_000;
