/**
 * Package entry (`@live/web`): the pure pieces other packages and tests may reuse — the
 * `/api/streams` contract as the page reads it, playlist URLs, and route paths. The app
 * itself is built by Vite from index.html → src/main.tsx.
 */
export type { StreamItem, StreamsResponse, StreamStatus } from './api';
export { ApiError, fetchStreams, isLive, isStreamItem, liveMasterUrl, sortStreams, vodMasterUrl } from './api';
export type { Route } from './routes';
export { hrefFor, parseRoute } from './routes';
export type { PlayerHandle, PlaybackState, Rendition } from './usePlayer';
