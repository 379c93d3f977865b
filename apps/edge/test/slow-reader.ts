/**
 * A test reader that takes each chunk of a response a turn of the event loop later (a 1 KiB
 * high-water mark), so the sockets between it and the server fill up and the server has to wait
 * for the socket to drain: what a viewer on a slow network does to the edge.
 */
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Reads `body` to its end, slowly; resolves with every byte read. @throws what the stream fails with (e.g. `aborted`). */
export async function readSlowly(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(body, new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      setImmediate(done);
    },
  }));
  return Buffer.concat(chunks);
}
