/**
 * The transcoder's side of the ingest relay: the worker itself opens a session's HTTP-FLV stream
 * (`GET /relay/<sessionId>.flv`, `Authorization: Bearer <relay token>`) and hands the body to
 * `runFfmpeg` as ffmpeg's stdin (`-f flv -i pipe:0`). The token therefore lives only in this
 * process: never in ffmpeg's command line, environment or log lines.
 */
import { Readable } from 'node:stream';

/** Default of {@link OpenRelayStreamOptions.stallTimeoutMs}: 10 s, what ffmpeg's `-rw_timeout` was. */
export const DEFAULT_RELAY_STALL_TIMEOUT_MS = 10_000;

/**
 * The relay stream could not be opened or failed while being read. `status` is the relay's HTTP
 * status when it answered something other than 200 (401 `UNAUTHORIZED`, 404
 * `RELAY_SESSION_NOT_FOUND`, ...) and `code` the `code` of its JSON error body; both are
 * undefined for a network error, a reset connection or a stall. The message names the relay by
 * origin and path only (never a query string, never the token).
 */
export class RelayInputError extends Error {
  override readonly name = 'RelayInputError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link openRelayStream}. */
export interface OpenRelayStreamOptions {
  /** The relay's internal token, sent as `Authorization: Bearer <token>` and nowhere else. */
  readonly token: string;
  /**
   * Cancels the request (before the response) or closes the stream (after it). An abort before
   * the response rejects with the signal's reason; after it, the stream is destroyed without an
   * error.
   */
  readonly signal?: AbortSignal;
  /**
   * Milliseconds without a byte from the relay, counted only while the stream's reader wants
   * data (not while ffmpeg's stdin is full), after which the stream fails with a
   * {@link RelayInputError}; also the limit for the response headers. Default
   * {@link DEFAULT_RELAY_STALL_TIMEOUT_MS}.
   */
  readonly stallTimeoutMs?: number;
}

/** `origin + pathname` of a URL: what error messages may quote. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '<invalid relay URL>';
  }
}

/** `message: cause message` of a fetch error (undici wraps socket errors in `TypeError: fetch failed` / `terminated`). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== err.message ? `${err.message}: ${cause}` : err.message;
}

/**
 * The relay's response body as a Node stream. `_read` pulls one chunk from the fetch body at
 * a time (so the socket is only read as fast as ffmpeg consumes: backpressure reaches the relay
 * through TCP) and arms the stall timer while it waits; `_destroy` aborts the request, which
 * closes the connection and so detaches the relay subscriber.
 */
class RelayStream extends Readable {
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly controller: AbortController,
    private readonly stallMs: number,
    private readonly where: string,
    private readonly outerSignal: AbortSignal | undefined,
    private readonly cleanup: () => void,
  ) {
    super();
  }

  override _read(): void {
    this.stallTimer = setTimeout(() => {
      this.destroy(new RelayInputError(`relay stream ${this.where} stalled: no data for ${this.stallMs} ms`));
    }, this.stallMs);
    this.reader.read().then(
      ({ done, value }) => {
        clearTimeout(this.stallTimer);
        if (this.destroyed) return;
        if (done) this.push(null);
        else if (value.byteLength === 0) this._read();
        else this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      },
      (err: unknown) => {
        clearTimeout(this.stallTimer);
        if (this.destroyed) return;
        if (this.outerSignal?.aborted) this.destroy(); // cancelled by us: not a relay failure
        else this.destroy(new RelayInputError(`relay stream ${this.where} failed: ${describe(err)}`, undefined, undefined, { cause: err }));
      },
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.stallTimer);
    this.controller.abort();
    this.reader.cancel().catch(() => undefined);
    this.cleanup();
    callback(err);
  }
}

/**
 * Opens the HTTP-FLV stream of a live session on its ingest node's relay
 * (`apps/ingest/src/relay/http.ts`): `GET relayUrl` with `Authorization: Bearer <token>`, no
 * redirects (the header must not reach another host). Resolves with the body as a Node
 * `Readable` once the relay answered 200; it ends when the publish ends (the relay ends the
 * chunked response), fails with a {@link RelayInputError} when the connection breaks (reset,
 * ingest node gone, the relay dropped us as a slow subscriber) or stalls, and closes the
 * connection when destroyed.
 *
 * @throws {RelayInputError} when the relay answers anything but 200 (`status`, `code` set;
 *   the body is read and discarded), cannot be reached, or sends no response headers within
 *   the stall timeout.
 * @throws the signal's reason when `signal` aborts before the response.
 */
export async function openRelayStream(relayUrl: string, opts: OpenRelayStreamOptions): Promise<Readable> {
  const stallMs = opts.stallTimeoutMs ?? DEFAULT_RELAY_STALL_TIMEOUT_MS;
  const where = safeUrl(relayUrl);
  opts.signal?.throwIfAborted();
  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const cleanup = () => opts.signal?.removeEventListener('abort', onAbort);
  const headersTimer = setTimeout(() => controller.abort(new RelayInputError(`relay ${where} sent no response within ${stallMs} ms`)), stallMs);

  let res: Response;
  try {
    res = await fetch(relayUrl, {
      headers: { authorization: `Bearer ${opts.token}`, accept: 'video/x-flv' },
      redirect: 'error',
      signal: controller.signal,
    });
  } catch (err) {
    clearTimeout(headersTimer);
    cleanup();
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (controller.signal.reason instanceof RelayInputError) throw controller.signal.reason;
    throw new RelayInputError(`relay ${where} unreachable: ${describe(err)}`, undefined, undefined, { cause: err });
  }

  if (res.status !== 200 || !res.body) {
    let code: string | undefined;
    try {
      // the relay's `{ code, message }`; bounded by the same timer as the headers
      const body = (await res.json()) as { code?: unknown };
      if (typeof body.code === 'string') code = body.code;
    } catch {
      // not the relay's JSON error body
    }
    clearTimeout(headersTimer);
    controller.abort();
    cleanup();
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new RelayInputError(`relay ${where} answered ${res.status}${code ? ` ${code}` : ''}`, res.status, code);
  }
  clearTimeout(headersTimer);
  return new RelayStream(res.body.getReader(), controller, stallMs, where, opts.signal, cleanup);
}
