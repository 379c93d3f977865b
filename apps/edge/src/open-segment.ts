/**
 * Low-latency DASH on the edge: the growing answer to a request for the segment that is still
 * being written (the "open" segment, listed early by the low-latency MPD, dash.ts). The body is
 * the segment's parts in order (a clear segment is byte for byte their concatenation,
 * ll-publisher.ts): those already written at once, then each next one as soon as the playlist
 * lists it, waiting like a blocking playlist reload for the preload-hinted part (RFC 8216bis
 * §6.2.5.2, woken by the same watchers as the edge's held part requests, never by a clock), and
 * the response ends with the segment's last part. Sent as HTTP/1.1 `Transfer-Encoding: chunked`
 * (no Content-Length: the size is not known yet).
 *
 * What to send next is decided by `planOpenSegment` (`@live/media/formats`, pure); this module
 * only reads, waits and writes. The caller (app.ts `serveOpenSegment`) checks tokens, bounds and
 * sends the headers.
 */
import type { Writable } from 'node:stream';
import { awaitBlockingReload, planOpenSegment } from '@live/media/formats';

/** A version of the rendition's live media playlist. */
export interface OpenSegmentPlaylist {
  readonly text: string;
  readonly etag: string;
}

/** The reads and waits {@link pumpOpenSegment} needs, bound to one rendition by the caller. */
export interface OpenSegmentIo {
  /** The rendition's current media playlist (null: gone). */
  readPlaylist(): Promise<OpenSegmentPlaylist | null>;
  /** Resolves when the playlist may no longer be the version `etag` (or after the watcher's own wait). */
  changed(etag: string | null): Promise<void>;
  /** The bytes of an object of the rendition by its URI relative to the playlist (a part, or the segment); null when missing. */
  readObject(uri: string): Promise<Buffer | null>;
}

/**
 * How a growing answer ended: `complete` (every part sent: the body is the whole segment),
 * `gone` (a part or the playlist went missing, or the segment can no longer complete),
 * `timeout` (a part did not appear within three target durations), `aborted` (the client left).
 */
export type OpenSegmentEnd = 'complete' | 'gone' | 'timeout' | 'aborted';

/** Writes `chunk`, waiting for `drain` when the stream's buffer is full. Resolves false if the stream closed first. */
function writeChunk(out: Writable, chunk: Buffer): Promise<boolean> {
  if (out.destroyed) return Promise.resolve(false);
  if (out.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    out.once('drain', onDrain);
    out.once('close', onClose);
  });
}

/**
 * Writes the open segment `segmentUri` into `out`, part by part, starting from the playlist
 * version `first`, until the segment is complete (see the module comment); does not end or
 * destroy `out` (the caller does, by the result). Stops at once when `signal` aborts.
 * @throws whatever `io` throws (storage errors); the caller destroys `out`.
 */
export async function pumpOpenSegment(io: OpenSegmentIo, segmentUri: string, first: OpenSegmentPlaylist, out: Writable, signal: AbortSignal): Promise<OpenSegmentEnd> {
  let latest: OpenSegmentPlaylist | null = first;
  let sent = 0;
  let bytes = 0;
  const send = async (chunk: Buffer): Promise<boolean> => {
    bytes += chunk.length;
    return writeChunk(out, chunk);
  };
  for (;;) {
    if (signal.aborted) return 'aborted';
    if (!latest) return 'gone';
    const step = planOpenSegment(latest.text, segmentUri, sent);
    if (step.action === 'send') {
      for (const uri of step.parts) {
        const part = await io.readObject(uri);
        if (!part) return 'gone';
        if (!(await send(part))) return 'aborted';
        sent++;
      }
      if (step.last) return 'complete';
    } else if (step.action === 'rest') {
      const segment = await io.readObject(segmentUri);
      if (!segment || segment.length < bytes) return 'gone';
      return (await send(segment.subarray(bytes))) ? 'complete' : 'aborted';
    } else if (step.action === 'wait') {
      const result = await awaitBlockingReload(step.request, {
        read: async () => {
          latest = await io.readPlaylist();
          return latest?.text ?? null;
        },
        changed: () => io.changed(latest?.etag ?? null),
        signal,
      });
      if (result.status !== 200) return signal.aborted ? 'aborted' : result.status === 503 ? 'timeout' : 'gone';
    } else {
      return 'gone';
    }
  }
}
