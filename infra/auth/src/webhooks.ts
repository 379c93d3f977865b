/**
 * Webhook signatures: what the platform puts on every delivery and the function a receiver
 * checks it with. The scheme is Stripe's (`Stripe-Signature: t=…,v1=…`, "Verify webhook
 * signatures manually"), with our header name:
 *
 *     Live-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * - the key is the endpoint's secret as shown (`whsec_…`), as UTF-8 bytes (RFC 2104 HMAC,
 *   SHA-256); the signed text is the decimal timestamp, a `.`, and the request body exactly as
 *   received (bytes, not a re-serialised JSON value);
 * - a receiver recomputes the HMAC, compares it in constant time with every `v1` of the header
 *   (more than one may appear), and refuses a timestamp more than a tolerance (300 s by default)
 *   away from its clock: a captured request replayed later fails (replay protection). Each
 *   attempt is signed anew with its own timestamp.
 *
 * Node built-ins only (`node:crypto`), so a receiver can copy this file; also the package entry
 * `@live/auth/webhooks`, for a process that signs without the access tokens' `jose`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The request header carrying the signature. */
export const WEBHOOK_SIGNATURE_HEADER = 'live-signature';

/** Default tolerance between the signed timestamp and the receiver's clock, seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The prefix of every endpoint secret. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** Why {@link verifyWebhook} refused a delivery. */
export type WebhookSignatureErrorCode =
  /** No signature header, or no `t` / no `v1` in it. */
  | 'SIGNATURE_MISSING'
  /** The header is not `t=<digits>,v1=<64 hex>[,…]`. */
  | 'SIGNATURE_MALFORMED'
  /** The timestamp is further than the tolerance from now (a replay, or a clock far off). */
  | 'SIGNATURE_STALE'
  /** No `v1` matches the HMAC of the timestamp and body under the secret (forged or altered). */
  | 'SIGNATURE_MISMATCH';

/** Thrown by {@link verifyWebhook}; `code` says why. */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
  constructor(readonly code: WebhookSignatureErrorCode, message: string) {
    super(message);
  }
}

/**
 * A new endpoint secret: `whsec_` + 32 random bytes in base64url (43 characters).
 * Shown to its owner once, at creation and on rotation.
 */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret` (UTF-8): the `v1` value. */
export function webhookSignature(secret: string, timestampSeconds: number, body: string | Uint8Array): string {
  const h = createHmac('sha256', Buffer.from(secret, 'utf8'));
  h.update(`${timestampSeconds}.`);
  h.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return h.digest('hex');
}

/**
 * The `Live-Signature` header value of a delivery: `t=<timestamp>,v1=<signature>`.
 * @param timestampSeconds Unix time in whole seconds (the sender's clock at sending).
 * @throws RangeError when the timestamp is not a non-negative integer.
 */
export function signWebhook(secret: string, body: string | Uint8Array, timestampSeconds: number): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new RangeError('timestampSeconds must be a non-negative integer');
  return `t=${timestampSeconds},v1=${webhookSignature(secret, timestampSeconds, body)}`;
}

/** What {@link verifyWebhook} needs besides the secret. */
export interface VerifyWebhookOptions {
  /** Allowed distance between the signed timestamp and `nowMs`, seconds (default {@link WEBHOOK_TOLERANCE_SECONDS}). */
  readonly toleranceSeconds?: number;
  /** The receiver's clock, ms since the epoch (default `Date.now()`). */
  readonly nowMs?: number;
}

/**
 * Verifies a delivery as a receiver must: parse the header, refuse a timestamp further than the
 * tolerance from now, recompute the HMAC over `"<t>.<raw body>"` with the secret and compare it
 * in constant time with each `v1`.
 * @param body the raw request body as received (a string is taken as UTF-8).
 * @param header the `Live-Signature` header value (undefined when absent).
 * @param secret the endpoint's secret (`whsec_…`).
 * @returns the signed timestamp, Unix seconds.
 * @throws WebhookSignatureError SIGNATURE_MISSING, SIGNATURE_MALFORMED, SIGNATURE_STALE or
 *   SIGNATURE_MISMATCH.
 */
export function verifyWebhook(body: string | Uint8Array, header: string | undefined, secret: string, opts: VerifyWebhookOptions = {}): number {
  if (!header) throw new WebhookSignatureError('SIGNATURE_MISSING', 'no Live-Signature header');
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (eq < 0) throw new WebhookSignatureError('SIGNATURE_MALFORMED', 'a part of the header is not key=value');
    if (k === 't') {
      if (!/^\d{1,15}$/.test(v)) throw new WebhookSignatureError('SIGNATURE_MALFORMED', 't is not a Unix time in seconds');
      t = Number(v);
    } else if (k === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(v)) throw new WebhookSignatureError('SIGNATURE_MALFORMED', 'v1 is not 64 lowercase hex digits');
      v1.push(v);
    }
  }
  if (t === undefined || v1.length === 0) throw new WebhookSignatureError('SIGNATURE_MISSING', 'the header has no t or no v1');
  const tolerance = opts.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const now = (opts.nowMs ?? Date.now()) / 1000;
  if (Math.abs(now - t) > tolerance) throw new WebhookSignatureError('SIGNATURE_STALE', `the timestamp is more than ${tolerance} s from now`);
  const expected = Buffer.from(webhookSignature(secret, t, body), 'hex');
  const ok = v1.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  if (!ok) throw new WebhookSignatureError('SIGNATURE_MISMATCH', 'no signature matches the body');
  return t;
}
