/**
 * The protocol-neutral publish gate of an ingest node: what every publish goes through, whatever
 * protocol carries it (RTMP and RTMPS today through `rtmp/`; SRT and WHIP through
 * `publish-session.ts`):
 *
 * 1. {@link PublishGate.authorize}: the stream key (`checkStreamKey`: status, expiry, the key's
 *    CIDR allow-list against the publisher's address) and the control listener's deny list of
 *    keys revoked or rotated since the read model was built;
 * 2. {@link PublishGate.claims}: the channel's lease (one publisher per channel across the
 *    cluster, the reconnect window), through the publish lifecycle;
 * 3. {@link PublishGate.mediaSink}: the HTTP-FLV relay transcoders pull, and the health reports;
 * 4. {@link PublishGate.started} / {@link PublishGate.ended}: `StreamPublishStarted`/`Ended`
 *    (or `Interrupted`/`Resumed`), restream pushes, the node's metrics.
 *
 * Every protocol server registers itself with {@link PublishGate.addServer}, so the control
 * listener (key revocations, rotations, stop requests) and lease handovers can list and kick its
 * connections, by connection id, without knowing the protocol.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { checkStreamKey, type Db } from '@live/db';
import { KEY_ROTATED_REASON, type ControlListener } from './control.js';
import type { PublishLifecycle } from './publish-lifecycle.js';
import type { Restreamer } from './restream.js';
import {
  maskStreamKey, type AuthorizePublishRequest, type AuthorizePublishResult, type ChannelClaims, type MediaSinkFactory,
  type PublishEndedEvent, type PublishStartedEvent,
} from './rtmp/index.js';

/** The RTMP application name publishers use: `rtmp://host/live/<stream key>` (and SRT's `r=live/<key>`). */
export const INGEST_APP = 'live';

/** The protocols a publish can arrive over; the `protocol` label of the node's publish metrics. */
export type IngestProtocol = 'rtmp' | 'srt' | 'whip';

/**
 * What every protocol server reports of one of its connections (RTMP's `RtmpSessionInfo` is one):
 * the control listener kicks by `keyId` (revoked or rotated key) and by session id (stop request).
 */
export interface PublishConnectionInfo {
  /** The connection's id (a UUIDv7), or, once mapped by {@link PublishGate.sessions}, the broadcast session's id. */
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly connectedAt: Date;
  readonly state: 'handshake' | 'open' | 'closed';
  readonly channelId?: string;
  /** The key id the publish was authorized with. */
  readonly keyId?: string;
  /** Bytes received on the connection so far. */
  readonly bytesReceived: number;
}

/** A protocol server as the gate sees it: its connections, and a way to disconnect one. */
export interface PublishServer {
  /** Open connections by connection id. */
  sessions(): ReadonlyMap<string, PublishConnectionInfo>;
  /** Disconnects a connection; its publish ends with reason `kicked`. False for an unknown one. */
  kick(connectionId: string, reason: string): boolean;
}

/** Input of {@link PublishGate.authorize}: RTMP's request plus the protocol. */
export interface GateAuthorizeRequest extends AuthorizePublishRequest {
  readonly protocol: IngestProtocol;
}

/** Dependencies of {@link createPublishGate}. */
export interface PublishGateOptions {
  readonly db: Db;
  readonly logger: Logger;
  readonly lifecycle: PublishLifecycle;
  /** The relay and the health reporter, combined (`combineMediaSinks`). */
  readonly mediaSink: MediaSinkFactory;
  readonly restream: Restreamer;
  /** The node's `/metrics` registry. */
  readonly registry: Registry;
}

/** See the module comment. */
export interface PublishGate {
  /**
   * Checks a publish request: the application (only {@link INGEST_APP}), the stream key, the
   * deny list. A refusal is counted (`ingest_publish_attempts_total{protocol,result}`) and
   * logged at info with the key masked; it never throws for a bad key.
   * @throws when the database cannot be reached (the protocol answers INTERNAL).
   */
  authorize(req: GateAuthorizeRequest): Promise<AuthorizePublishResult>;
  /** The channel claims (the lifecycle's lease), keyed by connection id. */
  readonly claims: ChannelClaims;
  /** Opens the relay and health sinks of a started publish. */
  readonly mediaSink: MediaSinkFactory;
  /**
   * A publish's media flows: appends StreamPublishStarted (or Resumed), starts its restream
   * pushes. `s.sessionId` is the connection id.
   * @throws when the event cannot be appended (the protocol then refuses the publish).
   */
  started(s: PublishStartedEvent & { protocol: IngestProtocol }): Promise<void>;
  /** A started publish ended (`s.sessionId` is the connection id). Never throws (logged). */
  ended(s: PublishEndedEvent): Promise<void>;
  /** Registers a protocol server's connections for {@link kick} and {@link sessions}. */
  addServer(server: PublishServer): void;
  /**
   * Disconnects a broadcast session's connection, or ends the session when it waits in its
   * reconnect window; `id` may also be a connection id. False when nothing matched.
   */
  kick(id: string, reason: string): boolean;
  /** Disconnects one connection (by connection id) on whichever server holds it. False when none does. */
  kickConnection(connectionId: string, reason: string): boolean;
  /**
   * Every connection of every registered server keyed by its broadcast session id (a reconnected
   * connection has its own connection id), plus the sessions waiting in their reconnect window
   * (state `closed`, no connection): what the control listener kicks from.
   */
  sessions(): ReadonlyMap<string, PublishConnectionInfo>;
  /** Wires the control listener (created after the servers) whose deny list {@link authorize} consults. */
  setControl(control: ControlListener): void;
}

/**
 * Creates the gate. Metrics: `ingest_publish_attempts_total{protocol,result}`,
 * `ingest_sessions_live{protocol}`, `ingest_received_bytes_total{protocol}`,
 * `ingest_publishes_ended_total{reason}`.
 */
export function createPublishGate(opts: PublishGateOptions): PublishGate {
  const { logger, lifecycle, restream, registry } = opts;
  const attempts = new Counter({ name: 'ingest_publish_attempts_total', help: 'Publish attempts by protocol and result', labelNames: ['protocol', 'result'], registers: [registry] });
  const live = new Gauge({ name: 'ingest_sessions_live', help: 'Sessions publishing on this node, by protocol', labelNames: ['protocol'], registers: [registry] });
  const bytes = new Counter({ name: 'ingest_received_bytes_total', help: 'Bytes received by ended publishes, by protocol', labelNames: ['protocol'], registers: [registry] });
  const endedTotal = new Counter({ name: 'ingest_publishes_ended_total', help: 'Publishes ended, by reason (unpublished: the publisher stopped; disconnected, error: abnormal; kicked: control events)', labelNames: ['reason'], registers: [registry] });
  const servers: PublishServer[] = [];
  const protocolOf = new Map<string, IngestProtocol>();
  let control: ControlListener | undefined;

  function kickConnection(connectionId: string, reason: string): boolean {
    return servers.some((srv) => srv.kick(connectionId, reason));
  }

  async function authorize(req: GateAuthorizeRequest): Promise<AuthorizePublishResult> {
    const result = await decide(req);
    if (!result.ok) {
      attempts.inc({ protocol: req.protocol, result: result.code.toLowerCase() });
      logger.info({ protocol: req.protocol, sessionId: req.sessionId, code: result.code, reason: result.description, streamKey: maskStreamKey(req.streamKey), remoteAddress: req.remoteAddress }, 'stream key refused');
      return result;
    }
    attempts.inc({ protocol: req.protocol, result: 'accepted' });
    return result;
  }

  async function decide(req: GateAuthorizeRequest): Promise<AuthorizePublishResult> {
    if (req.app !== INGEST_APP) {
      return { ok: false, code: 'BAD_APP', description: `unknown application "${req.app.slice(0, 64)}"; publish to /${INGEST_APP}` };
    }
    const check = await checkStreamKey(opts.db, req.streamKey, { remoteAddress: req.remoteAddress });
    if (!check.ok) return { ok: false, code: check.code, description: check.description };
    // The read model may still show a key as active that this node already heard was revoked
    // or rotated (the projector lags): the control listener's deny list closes that gap.
    const denied = control?.deniedKey(check.keyId);
    if (denied === undefined) return { ok: true, channelId: check.channelId, keyId: check.keyId };
    return { ok: false, code: 'STREAM_KEY_DISABLED', description: denied === KEY_ROTATED_REASON ? 'stream key was rotated; use the new key' : 'stream key was revoked' };
  }

  return {
    authorize,
    claims: {
      claim: ({ channelId, sessionId, keyId }) => lifecycle.claim({ channelId, connectionId: sessionId, ...(keyId !== undefined ? { keyId } : {}) }),
      release: ({ channelId, sessionId, reason }) => lifecycle.release({ channelId, connectionId: sessionId, reason }),
    },
    mediaSink: opts.mediaSink,
    async started(s) {
      const sessionId = await lifecycle.started({ connectionId: s.sessionId, channelId: s.channelId, app: s.app, media: s.media, startedAt: s.startedAt });
      protocolOf.set(s.sessionId, s.protocol);
      live.inc({ protocol: s.protocol });
      restream.sessionStarted({ connectionId: s.sessionId, channelId: s.channelId, sessionId });
      logger.info({ protocol: s.protocol, sessionId, connectionId: s.sessionId, streamId: s.channelId, media: s.media }, 'publish started');
    },
    async ended(s) {
      const sessionId = lifecycle.sessionOf(s.sessionId);
      const protocol = protocolOf.get(s.sessionId) ?? 'rtmp';
      protocolOf.delete(s.sessionId);
      live.dec({ protocol });
      bytes.inc({ protocol }, s.bytesReceived);
      endedTotal.inc({ reason: s.reason });
      // Not awaited: the pushes' RestreamStopped need not hold up the session's end.
      void restream.sessionStopped(s.sessionId, s.reason === 'unpublished' || s.reason === 'kicked' ? 'session-ended' : 'publisher-disconnected');
      await lifecycle.ended({ connectionId: s.sessionId, reason: s.reason, ...(s.detail !== undefined ? { detail: s.detail } : {}), endedAt: s.endedAt, bytesReceived: s.bytesReceived });
      logger.info({ protocol, sessionId, connectionId: s.sessionId, streamId: s.channelId, reason: s.reason, detail: s.detail }, 'publish ended');
    },
    addServer(server) {
      servers.push(server);
    },
    kick(id, reason) {
      const connectionId = lifecycle.connectionOf(id);
      if (connectionId !== undefined) return kickConnection(connectionId, reason);
      return lifecycle.stop(id, reason) || kickConnection(id, reason);
    },
    kickConnection,
    sessions() {
      const out = new Map<string, PublishConnectionInfo>();
      for (const srv of servers) {
        for (const [id, info] of srv.sessions()) {
          const sessionId = lifecycle.sessionOf(id) ?? id;
          out.set(sessionId, { ...info, sessionId });
        }
      }
      for (const w of lifecycle.waiting()) {
        out.set(w.sessionId, {
          sessionId: w.sessionId, channelId: w.channelId, ...(w.keyId !== undefined ? { keyId: w.keyId } : {}),
          remoteAddress: '', connectedAt: new Date(0), state: 'closed', bytesReceived: 0,
        });
      }
      return out;
    },
    setControl(c) {
      control = c;
    },
  };
}
