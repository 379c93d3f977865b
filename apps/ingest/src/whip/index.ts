/** WHIP ingest (RFC 9725): see `server.ts`. */
export { startWhipServer, DEFAULT_WHIP_LIMITS, type WhipServer, type WhipServerOptions, type WhipLimits } from './server.js';
export type { WhipIceOptions } from './peer.js';
