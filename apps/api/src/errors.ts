/**
 * The API's error catalogue: every error a client can see, with its HTTP status. Bodies are
 * `{ code, message }`; a stack trace never reaches a client.
 */
export const API_ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  SESSION_NOT_FOUND: { status: 404, message: 'No such stream session.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  NOT_READY: { status: 503, message: 'A dependency is unavailable.' },
} as const;

/** A catalogue error code. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** Error thrown by route handlers; rendered by the app's error handler as `{ code, message }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;
  constructor(readonly code: ApiErrorCode, message?: string) {
    super(message ?? API_ERRORS[code].message);
    this.statusCode = API_ERRORS[code].status;
  }
}
