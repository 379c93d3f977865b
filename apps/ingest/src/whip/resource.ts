/**
 * One WHIP session (RFC 9725's "WHIP session", its resource URL `/whip/<channel>/<id>`): the
 * {@link PublishSession} that checks the key and claims the channel through the publish gate, the
 * werift peer connection that receives the media (`peer.ts`), and the supervised ffmpeg that turns
 * its RTP into the relay's FLV messages (H.264 copied, Opus → AAC; `remux/`).
 *
 * Lifecycle: `POST` → key check and claim → the URL's channel checked against the key's → peer
 * connection and remux started → `201` with the answer. Then a watchdog ends the session when no
 * video arrives within `mediaTimeoutMs` of the answer (detail `timed out: no media`) or nothing
 * for `idleTimeoutMs` after (`disconnected`); ICE/DTLS failure or close ends it `disconnected`;
 * `DELETE` ends it `unpublished`; a kick (key revoked or rotated, stop request) ends it `kicked`.
 * Every end frees the peer connection, its UDP ports and the ffmpeg; on `unpublished` and
 * `disconnected` the publish ends once ffmpeg has flushed (at most its abort grace, ~4 s).
 */
import { createSocket } from 'node:dgram';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Db } from '@live/db';
import type { PublishEndReason } from '../rtmp/index.js';
import type { PublishSession, PublishSessions } from '../publish-session.js';
import { startFlvRemux } from '../remux/ffmpeg-remux.js';
import { ffmpegRtpInputArgs, ffmpegRtpSdp, ffmpegWhipCodecArgs, type ForwardPorts } from './ffmpeg-sdp.js';
import { openWhipPeer, WhipOfferError, type WhipIceOptions, type WhipPeer } from './peer.js';
import type { WhipTimings } from './limits.js';
import { whipError } from './request.js';

/** What the WHIP endpoint answers a `POST`. */
export interface WhipAnswer {
  readonly status: number;
  readonly contentType: 'application/sdp' | 'application/json';
  readonly body: string;
  /** The session, on 201. */
  readonly resource?: WhipResource;
}

/** An accepted WHIP session. */
export interface WhipResource {
  readonly id: string;
  /** The channel segment of its URL. */
  readonly channel: string;
  readonly remoteAddress: string;
  /** Ends the session (idempotent); `onEnded` follows. */
  end(reason: PublishEndReason, detail?: string): void;
}

/** Input of {@link openWhipResource}. */
export interface WhipResourceOptions {
  readonly id: string;
  readonly sessions: PublishSessions;
  readonly db: Db;
  readonly channel: string;
  readonly streamKey: string;
  readonly offer: string;
  readonly remoteAddress: string;
  readonly ice: WhipIceOptions;
  readonly timings: WhipTimings;
  readonly logger: Logger;
  /** The session ended (after a 201 only), with the reason and detail it ended with. */
  onEnded(resource: WhipResource, reason: PublishEndReason, detail: string | undefined): void;
}

const json = (code: string, message: string): WhipAnswer => {
  const e = whipError(code, message);
  return { status: e.status, contentType: 'application/json', body: e.body };
};

/**
 * Runs a `POST`'s publish up to its answer: a refusal (`{ code, message }` JSON with the status
 * of `WHIP_ERRORS`) or 201 with the SDP answer and the {@link WhipResource}. Never rejects.
 */
export function openWhipResource(o: WhipResourceOptions): Promise<WhipAnswer> {
  return new Promise<WhipAnswer>((resolve) => {
    let answered = false;
    const answer = (a: WhipAnswer) => {
      if (answered) return;
      answered = true;
      resolve(a);
    };
    let teardown: ((reason: PublishEndReason, detail?: string) => void) | undefined;
    const session = o.sessions.open({
      protocol: 'whip', connectionId: o.id, remoteAddress: o.remoteAddress, streamKey: o.streamKey, logger: o.logger,
      // Longer than the media timeout: a session without media ends here first, unstarted.
      mediaInfoTimeoutMs: o.timings.mediaTimeoutMs + 15_000,
      onRefused: (code, description) => {
        answer(json(code, description));
        teardown?.('error', description);
      },
      onAccepted: (channelId) => {
        void connect(o, session, channelId).then(({ answer: a, teardown: t }) => {
          teardown = t;
          answer(a);
        });
      },
      disconnect: (reason) => teardown?.('kicked', reason),
    });
    session.start();
  });
}

/** Whether the URL's channel segment names `channelId` (its id or its slug). */
async function channelMatches(db: Db, segment: string, channelId: string): Promise<boolean> {
  if (segment === channelId) return true;
  const row = await db.selectFrom('channels').select('slug').where('id', '=', channelId).executeTakeFirst();
  return row?.slug === segment;
}

async function connect(o: WhipResourceOptions, session: PublishSession, channelId: string): Promise<{ answer: WhipAnswer; teardown?: (reason: PublishEndReason, detail?: string) => void }> {
  const matches = await channelMatches(o.db, o.channel, channelId).catch((err: unknown) => {
    o.logger.error({ err }, 'channel lookup failed');
    return undefined;
  });
  if (matches !== true) {
    session.end('error', 'channel mismatch');
    return { answer: matches === undefined ? json('INTERNAL', 'The channel could not be checked.') : json('CHANNEL_MISMATCH', 'The stream key is not a key of the channel in the URL.') };
  }
  let ports: ForwardPorts;
  try {
    ports = { video: await freeUdpPortPair(), audio: await freeUdpPortPair() };
  } catch (err) {
    session.end('error', 'no UDP ports');
    o.logger.error({ err }, 'no UDP ports for the remux');
    return { answer: json('INTERNAL', 'The session could not be set up.') };
  }
  const abort = new AbortController();
  let peer: WhipPeer | undefined;
  const watchdog = startWatchdog(o.timings, (reason, detail) => teardown(reason, detail));
  let ended = false;
  const resource: WhipResource = { id: o.id, channel: o.channel, remoteAddress: o.remoteAddress, end: (r, d) => teardown(r, d) };
  // A publisher's own end (DELETE, gone) lets ffmpeg flush what it holds (its probe and reorder
  // queue, ~1 s) into the publish before it ends; a kick or an error ends the publish at once.
  const teardown = (reason: PublishEndReason, detail?: string) => {
    if (ended) return;
    ended = true;
    watchdog.stop();
    void peer?.close();
    abort.abort();
    const finish = () => {
      session.end(reason, detail);
      o.onEnded(resource, reason, detail);
    };
    if (reason === 'unpublished' || reason === 'disconnected') void remux.done.catch(() => undefined).finally(finish);
    else finish();
  };
  const remux = startFlvRemux({
    inputArgs: ffmpegRtpInputArgs(), codecArgs: ffmpegWhipCodecArgs(), stdin: Readable.from([ffmpegRtpSdp(ports)]),
    signal: abort.signal, logger: o.logger, onMessage: (m) => session.write(m),
  });
  void remux.done.then(() => teardown('error', 'remux ended'), (err: Error) => teardown('error', `remux failed: ${err.message}`));
  try {
    peer = await openWhipPeer({
      offer: o.offer, ice: o.ice, forward: ports, pliIntervalMs: o.timings.pliIntervalMs, logger: o.logger,
      onRtp: (kind, bytes) => {
        session.received(bytes);
        watchdog.media(kind);
      },
      onClosed: (state) => teardown('disconnected', `peer connection ${state}`),
    });
  } catch (err) {
    ended = true;
    watchdog.stop();
    session.end('error', 'offer refused');
    abort.abort();
    if (err instanceof WhipOfferError) return { answer: json('SDP_MALFORMED', err.message) };
    o.logger.error({ err }, 'peer connection failed');
    return { answer: json('INTERNAL', 'The session could not be set up.') };
  }
  if (ended) return { answer: json('INTERNAL', 'The session ended while it was set up.') };
  return { answer: { status: 201, contentType: 'application/sdp', body: peer.answer, resource }, teardown };
}

/** Ends a session without media: none within `mediaTimeoutMs`, or none for `idleTimeoutMs` once it flowed. */
function startWatchdog(t: WhipTimings, end: (reason: PublishEndReason, detail: string) => void): { media(kind: 'video' | 'audio'): void; stop(): void } {
  const openedAt = Date.now();
  let videoSeen = false;
  let lastAt = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    if (!videoSeen && now - openedAt > t.mediaTimeoutMs) end('disconnected', 'timed out: no media');
    else if (videoSeen && now - lastAt > t.idleTimeoutMs) end('disconnected', 'timed out: media stopped');
  }, Math.min(1000, t.mediaTimeoutMs / 2));
  timer.unref();
  return {
    media(kind) {
      lastAt = Date.now();
      if (kind === 'video') videoSeen = true;
    },
    stop: () => clearInterval(timer),
  };
}

/** A UDP port `p` on loopback with `p + 1` free too (ffmpeg takes both: RTP and RTCP), found by binding them briefly. */
async function freeUdpPortPair(attempts = 20): Promise<number> {
  const bind = (port: number) => new Promise<ReturnType<typeof createSocket> | undefined>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); resolve(undefined); });
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
  for (let i = 0; i < attempts; i++) {
    const a = await bind(0);
    if (!a) continue;
    const port = a.address().port;
    const b = port < 65535 ? await bind(port + 1) : undefined;
    a.close();
    b?.close();
    if (b) return port;
  }
  throw new Error('no free UDP port pair on 127.0.0.1');
}
