/** WHIP ingest (RFC 9725): see `server.ts`. */
export { startWhipServer, type WhipServer, type WhipServerOptions } from './server.js';
export { DEFAULT_WHIP_LIMITS, type WhipLimits, type WhipTimings } from './limits.js';
export type { WhipIceOptions } from './peer.js';
