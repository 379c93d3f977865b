/**
 * Public API of the HTTP-FLV relay: the registry the RTMP server feeds (`createRelay`, passed as
 * `mediaSink` to `createRtmpServer`) and the internal HTTP endpoint serving it
 * (`createRelayServer`).
 */
export {
  createRelay,
  DEFAULT_MAX_SUBSCRIBER_BUFFER_BYTES,
  type Relay,
  type RelayOptions,
  type RelaySubscription,
  type RelaySessionInfo,
} from './relay.js';
export { createRelayServer, RELAY_ERRORS, type RelayErrorCode, type RelayServerOptions } from './http.js';
export { GopCache, DEFAULT_MAX_GOP_BYTES } from './gop-cache.js';
export { flvHeader, flvTag, onMetaDataBody, FlvTagType, type FlvTagTypeValue } from './flv.js';
