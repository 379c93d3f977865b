/**
 * The ingest node's REAL HTTP-FLV relay (`createRelay` + `createRelayServer` of
 * `apps/ingest/src/relay`, imported by path: the worker does not depend on `@live/ingest`), fed
 * from an FLV file as the RTMP server would feed it: one MediaMessage per FLV tag, paced by the
 * tags' timestamps like a live publisher.
 */
import { createServer as createNetServer } from 'node:net';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createRelay, createRelayServer, type Relay } from '../../../ingest/src/relay/index.js';
import type { MediaMessage, MediaSink } from '../../../ingest/src/rtmp/index.js';

/** One pino line as JSON, kept by {@link captureLogger}. */
export type LogLine = Record<string, unknown> & { msg?: string };

/** What {@link captureLogger} returns. */
export interface CapturedLog {
  readonly logger: Logger;
  /** Every line so far, parsed. */
  readonly lines: LogLine[];
  /** Every line so far, as written (JSON text). */
  text(): string;
  /** Resolves with the first line (already written or to come) that matches. */
  waitFor(match: (line: LogLine) => boolean): Promise<LogLine>;
}

/** A debug-level pino logger that keeps its lines (to assert on them and to wait for them). */
export function captureLogger(): CapturedLog {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const logger = pino({ level: 'debug' }, {
    write(s: string) {
      raw.push(s);
      const line = JSON.parse(s) as LogLine;
      lines.push(line);
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    },
  });
  return {
    logger, lines, text: () => raw.join(''),
    waitFor(match) {
      const seen = lines.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.add({ match, resolve }));
    },
  };
}

/** The FLV tags of a file (FLV v10.1 annex E): type 8 audio, 9 video, 18 script; timestamps in ms. */
export function flvTags(flv: Buffer): Array<{ type: number; timestamp: number; body: Buffer }> {
  if (flv.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const tags: Array<{ type: number; timestamp: number; body: Buffer }> = [];
  let p = flv.readUInt32BE(5) + 4; // header, PreviousTagSize0
  while (p + 11 <= flv.length) {
    const size = flv.readUIntBE(p + 1, 3);
    if (p + 11 + size > flv.length) break;
    const timestamp = (flv.readUIntBE(p + 4, 3) | (flv[p + 7]! << 24)) >>> 0;
    tags.push({ type: flv[p]!, timestamp, body: flv.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}

/** A tag as the RTMP server hands it to the relay (FLV AUDIODATA/VIDEODATA classification). */
function toMessage(tag: { type: number; timestamp: number; body: Buffer }, offsetMs: number): MediaMessage | undefined {
  const b = tag.body;
  const timestamp = tag.timestamp + offsetMs;
  if (tag.type === 18) {
    // AMF0 string "onMetaData" first (§E.5): 0x02, u16 length, bytes
    const name = b[0] === 2 ? b.toString('latin1', 3, 3 + b.readUInt16BE(1)) : '';
    return { kind: 'data', timestamp, payload: b, keyframe: false, sequenceHeader: false, values: [name] };
  }
  if (tag.type === 9) return { kind: 'video', timestamp, payload: b, keyframe: b[0]! >> 4 === 1, sequenceHeader: (b[0]! & 0x0f) === 7 && b[1] === 0 };
  if (tag.type === 8) return { kind: 'audio', timestamp, payload: b, keyframe: false, sequenceHeader: b[0]! >> 4 === 10 && b[1] === 0 };
  return undefined;
}

/** A running relay; see {@link startRealRelay}. */
export interface RealRelay {
  /** `http://127.0.0.1:<port>`; streams at `${base}/relay/<sessionId>.flv`. */
  readonly base: string;
  readonly relay: Relay;
  readonly server: Server;
  /** The relay's log lines. */
  readonly log: CapturedLog;
  /**
   * Publishes `flv` as session `sessionId` (a UUID): metadata and sequence headers at once, then,
   * from the moment the first subscriber attached, the media tags paced by their timestamps
   * (`loops` times, timestamps continuing). Resolves when the publish has ended ('unpublished').
   * `onMediaMs` is called with the media time sent so far.
   */
  publish(sessionId: string, flv: Buffer, opts?: { loops?: number; onMediaMs?: (ms: number) => void }): Promise<void>;
  close(): Promise<void>;
}

/** Starts the real relay endpoint on 127.0.0.1 with `token`. */
export async function startRealRelay(token: string): Promise<RealRelay> {
  const log = captureLogger();
  const relay = createRelay({ logger: log.logger });
  const server = createRelayServer({ relay, token, logger: log.logger });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function publish(sessionId: string, flv: Buffer, opts: { loops?: number; onMediaMs?: (ms: number) => void } = {}): Promise<void> {
    const tags = flvTags(flv);
    const sink: MediaSink = relay.openPublish({
      sessionId, channelId: 'demo', app: 'live', remoteAddress: '127.0.0.1', startedAt: new Date(),
      media: { video: { codec: 'h264' }, audio: { codec: 'aac' } },
    });
    const isHead = (m: MediaMessage) => m.kind === 'data' || m.sequenceHeader;
    const media: MediaMessage[] = [];
    const lastTs = tags.reduce((m, t) => Math.max(m, t.timestamp), 0);
    const loopMs = lastTs + 34; // one frame past the last tag
    for (let loop = 0; loop < (opts.loops ?? 1); loop++) {
      for (const t of tags) {
        const m = toMessage(t, loop * loopMs);
        if (!m) continue;
        if (isHead(m)) {
          if (loop === 0) sink.write(m);
        } else media.push(m);
      }
    }
    // the transcoder attaches: start the clock then (the relay tells us through its log)
    await log.waitFor((l) => l.msg === 'relay subscriber attached' && l.sessionId === sessionId);
    const t0 = Date.now();
    let i = 0;
    await new Promise<void>((resolve) => {
      const step = setInterval(() => {
        const now = Date.now() - t0;
        while (i < media.length && media[i]!.timestamp <= now) sink.write(media[i++]!);
        opts.onMediaMs?.(Math.min(now, media.at(-1)?.timestamp ?? 0));
        if (i >= media.length) {
          clearInterval(step);
          resolve();
        }
      }, 40);
    });
    sink.end('unpublished');
  }

  return {
    base, relay, server, log, publish,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A TCP port nothing listens on (bound then released), for "relay unreachable" cases. */
export async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
