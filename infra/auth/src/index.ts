/**
 * Access tokens shared by every process that authenticates a caller (the API signs and
 * verifies; the chat gateway verifies): HS256 JWTs over a key ring (RFC 7519, RFC 8725).
 * Playback tokens (the API signs; the edge verifies on every playlist, segment and key request)
 * and derived AES-128 HLS content keys: playback.ts. Webhook signatures (signing and the
 * receiver's verification): webhooks.ts. Secrets sealed at rest (AES-256-GCM; restream
 * destination keys): sealed.ts, also the entry `@live/auth/sealed` for processes that need only
 * it (the ingest node: no JWT library).
 */
export * from './tokens.js';
export * from './playback.js';
export * from './webhooks.js';
export * from './sealed.js';
