/**
 * The WHEP endpoint (the WHEP draft, draft-ietf-wish-whep): `POST /whep/<channel>` with a viewer's
 * SDP offer → `201 Created`, `Location: /whep/<channel>/<id>`, the answer; `DELETE` on that URL
 * ends the session. Served on the WHIP listener (`whip/server.ts` routes `/whep/…` here) by the
 * node that holds the publish, whose relay it reads (`source.ts`).
 *
 * Access follows the playback rules of HLS (`playbackTokenRequired`): a `followers`, `allowlist`
 * or encrypted channel needs a playback token from `POST /api/streams/{id}/playback-token`, sent
 * as `Authorization: Bearer <token>` (the WHEP draft §4.3), verified like the edge does (channel,
 * session, address binding, policy version). Refusals are `{ code, message }` JSON: 400
 * SDP_MALFORMED, 406 SDP_UNSUPPORTED_CODEC, 401/403 PLAYBACK_TOKEN_*, 404 CHANNEL_NOT_FOUND /
 * CHANNEL_OFFLINE (not live on this node), 422 SOURCE_NOT_WEBRTC_COMPATIBLE (not H.264, or
 * B-frames), 429/503 over the viewer caps.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { playbackKeyRing, type JwtKey } from '@live/auth';
import { channelIdByIdOrSlug, type Db } from '@live/db';
import { createSessionAdmission } from '../admission.js';
import { authoriseWhepViewer } from './access.js';
import type { Relay } from '../relay/index.js';
import { uuidv7 } from '../rtmp/index.js';
import { checkWhepOffer } from '../whip/offer.js';
import type { WhipIceOptions } from '../whip/peer.js';
import { openWhepSource, type WhepSource } from './source.js';
import { openWhepViewer, WhepOfferError, type WhepViewer } from './viewer.js';

/** Bounds of the WHEP endpoint. */
export interface WhepLimits {
  /** Most WHEP viewers on the node (503 TOO_MANY_SESSIONS past it). */
  readonly maxViewers: number;
  /** Most WHEP viewers from one address (429 TOO_MANY_SESSIONS_FROM_ADDRESS). */
  readonly maxViewersPerAddress: number;
  /** A viewer whose connection is not up this long after the answer is dropped, ms. */
  readonly connectTimeoutMs: number;
}

/** Defaults of {@link WhepLimits}. */
export const DEFAULT_WHEP_LIMITS: WhepLimits = { maxViewers: 200, maxViewersPerAddress: 10, connectTimeoutMs: 15_000 };

/** What a WHEP request is answered. */
export interface WhepReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Options of {@link createWhepEndpoint}. */
export interface WhepEndpointOptions {
  readonly relay: Relay;
  readonly db: Db;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly ice: WhipIceOptions;
  /** Playback-token key ring (the API's `PLAYBACK_KEYS`); without one only public unencrypted channels play. */
  readonly playbackKeys?: readonly JwtKey[];
  readonly limits?: Partial<WhepLimits>;
}

/** The endpoint's handlers (the listener reads the body and writes the reply). */
export interface WhepEndpoint {
  /** `POST /whep/<channel>` with the offer already read. */
  offer(req: { channel: string; authorization: string | undefined; remoteAddress: string; sdp: string }): Promise<WhepReply>;
  /** `DELETE /whep/<channel>/<id>`: true when there was such a session. */
  remove(channel: string, id: string): boolean;
  /** WHEP viewers on the node. */
  count(): number;
  /** Ends every viewer and source. */
  close(): void;
}

/** How long a source without viewers is kept, ms. */
const SOURCE_LINGER_MS = 10_000;

const json = (status: number, code: string, message: string): WhepReply => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, message }) });

/** The open sources of this node, one per publish with viewers (or in its linger). */
interface WhepSources {
  /** The source of `sessionId`, opened on first use. @throws (rejects) when the session is not live here. */
  get(sessionId: string): Promise<WhepSource>;
  /** Closes `source` after {@link SOURCE_LINGER_MS} unless a viewer joined meanwhile (a reloading player reuses it). */
  closeWhenIdle(source: WhepSource): void;
  count(): number;
  closeAll(): void;
}

function createWhepSources(relay: Relay, logger: Logger): WhepSources {
  const sources = new Map<string, Promise<WhepSource>>();
  return {
    get(sessionId) {
      let s = sources.get(sessionId);
      if (!s) {
        s = openWhepSource({ relay, sessionId, logger: logger.child({ sessionId }) }).then((src) => {
          src.onClosed = () => sources.delete(sessionId);
          return src;
        });
        s.catch(() => sources.delete(sessionId));
        sources.set(sessionId, s);
      }
      return s;
    },
    closeWhenIdle(source) {
      if (source.viewers() > 0) return;
      setTimeout(() => {
        if (source.viewers() === 0) source.close('no viewers');
      }, SOURCE_LINGER_MS).unref();
    },
    count: () => sources.size,
    closeAll() {
      for (const s of sources.values()) void s.then((src) => src.close('node shutdown'), () => undefined);
    },
  };
}

/** Creates the WHEP endpoint. Metrics: `ingest_whep_viewers`, `ingest_whep_sources`, `ingest_whep_sessions_ended_total{reason}`. */
export function createWhepEndpoint(o: WhepEndpointOptions): WhepEndpoint {
  const limits = { ...DEFAULT_WHEP_LIMITS, ...o.limits };
  const ring = o.playbackKeys?.length ? playbackKeyRing(o.playbackKeys) : null;
  const sources = createWhepSources(o.relay, o.logger);
  const viewers = new Map<string, { channel: string; address: string; viewer: WhepViewer; end(reason: string): void }>();
  const admission = createSessionAdmission({ maxSessions: limits.maxViewers, maxPerAddress: limits.maxViewersPerAddress }, () => [...viewers.values()].map((v) => v.address));
  const ended = new Counter({ name: 'ingest_whep_sessions_ended_total', help: 'WHEP viewer sessions ended, by reason (deleted, closed, failed, timeout, source_ended)', labelNames: ['reason'], registers: [o.registry] });
  new Gauge({ name: 'ingest_whep_viewers', help: 'WHEP viewers on this node', registers: [o.registry], collect() { this.set(viewers.size); } });
  new Gauge({ name: 'ingest_whep_sources', help: 'Publishes this node forwards to WHEP viewers', registers: [o.registry], collect() { this.set(sources.count()); } });

  const offer: WhepEndpoint['offer'] = async (req) => {
    const check = checkWhepOffer(req.sdp);
    if (!check.ok) return json(check.code === 'SDP_MALFORMED' ? 400 : 406, check.code, check.message);
    const channelId = await channelIdByIdOrSlug(o.db, req.channel);
    if (!channelId) return json(404, 'CHANNEL_NOT_FOUND', 'No such channel.');
    const live = o.relay.sessions().find((s) => s.channelId === channelId);
    if (!live) return json(404, 'CHANNEL_OFFLINE', 'The channel is not live on this node.');
    const refused = await authoriseWhepViewer(o.db, ring, { channelId, sessionId: live.sessionId, authorization: req.authorization, remoteAddress: req.remoteAddress });
    if (refused) return json(refused.status, refused.code, refused.message);
    // From here to the answer, the offer holds a slot: simultaneous offers cannot pass a cap together.
    const slot = admission.reserve(req.remoteAddress);
    if (slot === 'node') return json(503, 'TOO_MANY_SESSIONS', 'This node takes no more WHEP viewers; play the LL-HLS stream instead.');
    if (slot === 'address') return json(429, 'TOO_MANY_SESSIONS_FROM_ADDRESS', 'Too many WHEP sessions from this address.');
    try {
      const source = await sources.get(live.sessionId).catch(() => undefined);
      if (!source) return json(404, 'CHANNEL_OFFLINE', 'The channel is not live on this node.');
      const st = source.status();
      if (!st.h264 || st.bFrames) {
        return json(422, 'SOURCE_NOT_WEBRTC_COMPATIBLE', st.h264 ? 'The stream has B-frames, which WebRTC cannot play in order; publish without B-frames (x264 bframes=0) or play the LL-HLS stream.' : 'The stream\'s video is not H.264; play the LL-HLS stream.');
      }
      return await accept(req, source, channelId);
    } finally {
      slot.release();
    }
  };

  const accept = async (req: Parameters<WhepEndpoint['offer']>[0], source: WhepSource, channelId: string): Promise<WhepReply> => {
    const id = uuidv7();
    const logger = o.logger.child({ viewerId: id, channelId });
    let removeSink = () => undefined as unknown;
    let timer: NodeJS.Timeout | undefined;
    const end = (reason: string) => {
      if (!viewers.delete(id)) return;
      clearTimeout(timer);
      removeSink();
      sources.closeWhenIdle(source);
      ended.inc({ reason });
      logger.info({ reason, frames: viewer.framesSent() }, 'WHEP viewer left');
      void viewer.close();
    };
    let viewer: WhepViewer;
    try {
      viewer = await openWhepViewer({
        offer: req.sdp, ice: o.ice, profileLevelId: source.status().profileLevelId, logger,
        onClosed: (state) => end(state),
      });
    } catch (err) {
      if (err instanceof WhepOfferError) return json(400, 'SDP_MALFORMED', err.message);
      throw err;
    }
    viewers.set(id, { channel: req.channel, address: req.remoteAddress, viewer, end });
    removeSink = source.add({ video: (f) => viewer.video(f), audio: (p) => viewer.audio(p), ended: () => end('source_ended') });
    timer = setTimeout(() => {
      if (viewer.framesSent() === 0) end('timeout');
    }, limits.connectTimeoutMs);
    timer.unref();
    logger.info({ remoteAddress: req.remoteAddress }, 'WHEP viewer joined');
    return { status: 201, headers: { 'content-type': 'application/sdp', location: `/whep/${req.channel}/${id}` }, body: viewer.answer };
  };

  return {
    offer,
    remove(channel, id) {
      const v = viewers.get(id);
      if (!v || v.channel !== channel) return false;
      v.end('deleted');
      return true;
    },
    count: () => viewers.size,
    close() {
      for (const v of [...viewers.values()]) v.end('closed');
      sources.closeAll();
    },
  };
}
