/** The chat gateway (uWebSockets.js rooms fanned out through NATS): see gateway.ts. */
export { startGateway, type ChatGateway, type GatewayOptions } from './gateway.js';
export { parseClientFrame, encodeFrame, type ParsedFrame, type FrameProblem } from './protocol.js';
