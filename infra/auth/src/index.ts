/**
 * Access tokens shared by every process that authenticates a caller (the API signs and
 * verifies; the chat gateway verifies): HS256 JWTs over a key ring (RFC 7519, RFC 8725).
 */
export * from './tokens.js';
