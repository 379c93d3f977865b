/**
 * Package entry (`@live/web`): the pure pieces other packages and tests may reuse — the
 * `/api/streams` contract as the page reads it, playlist URLs, route paths, the session
 * (token refresh) logic, search/channel helpers and notification parsing. The app itself is
 * built by Vite from index.html → src/main.tsx.
 */
export type { CallOptions, FetchLike, StreamItem, StreamsResponse, StreamStatus } from './api';
export { ApiError, callApi, fetchStreams, isErrorBody, isLive, isStreamItem, liveMasterUrl, sortStreams, vodMasterUrl } from './api';
export type { RegisterInput, RequestOptions, SessionDeps, SessionState, SessionStatus, SessionUser, SignInResponse, TokenPair, TokenStorage } from './auth';
export { isSessionUser, isTokenPair, refreshDelayMs, REFRESH_TOKEN_KEY, Session } from './auth';
export type { NotificationItem, NotificationsState } from './notifications';
export { mergeNotification, notificationStreamUrl, notificationText, parseNotificationList, parsePushedNotification } from './notifications';
export type { Category, ChannelView, PreparedBroadcast, SearchItem, SearchPage } from './platform';
export { parseSearchPage, parseTags, searchApiPath } from './platform';
export type { Route, SearchParams } from './routes';
export { hrefFor, parseRoute, safeNext } from './routes';
export type { PlayerHandle, PlaybackState, Rendition } from './usePlayer';
