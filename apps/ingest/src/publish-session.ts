/**
 * One publish over a protocol other than RTMP (SRT, WHIP), driven through the
 * {@link PublishGate} exactly as `rtmp/session.ts` drives an RTMP publish, so every protocol has
 * the same rules, events and metrics:
 *
 * `authorizing` (stream key) → `claiming` (the channel's lease) → `awaiting-media` (until the
 * video and audio sequence headers are seen, or `mediaInfoTimeoutMs`) → `starting`
 * (StreamPublishStarted being appended; the relay is open) → `live` → `ended`.
 *
 * The protocol layer converts what it receives to FLV-shaped {@link MediaMessage}s (for SRT and
 * WHIP: ffmpeg remuxes to FLV, read by `remux/flv-reader.ts`) and calls {@link PublishSession.write};
 * media that arrives before the publish starts is buffered (bounded), then flushed in order.
 * A refusal (bad key, channel live elsewhere, failed start) is reported once through
 * `onRefused`, with the code the protocol maps to its own answer (an SRT reject reason, an HTTP
 * status); the protocol then closes the connection. {@link createPublishSessions} lists the open
 * sessions to the gate, so key revocations, rotations and stop requests kick them like RTMP ones.
 */
import type { Logger } from 'pino';
import { INGEST_APP, type IngestProtocol, type PublishConnectionInfo, type PublishGate, type PublishServer } from './publish-gate.js';
import {
  MediaInfoCollector, type MediaInfo, type MediaMessage, type MediaSink, type PublishEndReason, type PublishRefusalCode, type PublishStartInfo,
} from './rtmp/index.js';

/** Phase of a {@link PublishSession}; see the module comment. */
export type PublishSessionPhase = 'authorizing' | 'claiming' | 'awaiting-media' | 'starting' | 'live' | 'ended';

/** Options of {@link PublishSessions.open}. */
export interface PublishSessionOptions {
  readonly protocol: IngestProtocol;
  /** The connection's id (a UUIDv7): the relay path `/relay/<connectionId>.flv`, the id kicks use. */
  readonly connectionId: string;
  /** The publisher's address (the stream key's CIDR rules are checked against it). */
  readonly remoteAddress: string;
  /** The stream key. A secret: never logged unmasked. */
  readonly streamKey: string;
  /** Application name (default {@link INGEST_APP}); anything else is refused with BAD_APP. */
  readonly app?: string;
  readonly logger: Logger;
  /** Wait at most this long after acceptance for both sequence headers, ms (default 10000: a remux probes its input first). */
  readonly mediaInfoTimeoutMs?: number;
  /** Most media bytes buffered before the publish starts (default 32 MiB); past it the publish ends with `error`. */
  readonly maxPendingBytes?: number;
  /** The publish was refused or could not start; the protocol closes its connection. Called at most once. */
  onRefused(code: PublishRefusalCode, description: string): void;
  /** The key was accepted and the channel claimed (WHIP answers its offer here). */
  onAccepted?(channelId: string): void;
  /** Disconnect the connection (a kick: revoked or rotated key, stop request, lease lost). `end` follows from the protocol or here. */
  disconnect(reason: string): void;
}

/** See the module comment. */
export interface PublishSession {
  readonly connectionId: string;
  phase(): PublishSessionPhase;
  /** The channel, once authorized. */
  channelId(): string | undefined;
  /** The stream key's id, once authorized (the control listener kicks a revoked key's publishes). */
  keyId(): string | undefined;
  /** Starts authorizing; call once, right after opening. */
  start(): void;
  /** One FLV-shaped message, in order. Ignored once ended. */
  write(msg: MediaMessage): void;
  /** Counts bytes received on the connection (for health and `StreamPublishEnded`). */
  received(bytes: number): void;
  /** Ends the publish (idempotent): releases the channel, closes the relay, appends the end of a started publish. */
  end(reason: PublishEndReason, detail?: string): void;
}

/** The open sessions of one protocol server, registered with the gate. */
export interface PublishSessions extends PublishServer {
  /** Opens a session (phase `authorizing` once {@link PublishSession.start} is called). */
  open(opts: PublishSessionOptions): PublishSession;
  /** Sessions not yet ended. */
  count(): number;
}

/** Creates a protocol server's session set and registers it with `gate` (kicks, control listener). */
export function createPublishSessions(gate: PublishGate): PublishSessions {
  const open = new Map<string, { session: PublishSession; info: () => PublishConnectionInfo; disconnect: (reason: string) => void }>();
  const set: PublishSessions = {
    open(opts) {
      const session = createSession(gate, opts, () => open.delete(opts.connectionId));
      const connectedAt = new Date();
      open.set(opts.connectionId, {
        session,
        disconnect: opts.disconnect,
        info: () => {
          const channelId = session.channelId();
          const keyId = session.keyId();
          return {
            sessionId: opts.connectionId, remoteAddress: opts.remoteAddress, connectedAt, state: session.phase() === 'ended' ? 'closed' : 'open',
            ...(channelId !== undefined ? { channelId } : {}), ...(keyId !== undefined ? { keyId } : {}), bytesReceived: 0,
          };
        },
      });
      return session;
    },
    count: () => open.size,
    sessions() {
      const out = new Map<string, PublishConnectionInfo>();
      for (const [id, o] of open) out.set(id, o.info());
      return out;
    },
    kick(connectionId, reason) {
      const o = open.get(connectionId);
      if (!o) return false;
      o.session.end('kicked', reason);
      o.disconnect(reason);
      return true;
    },
  };
  gate.addServer(set);
  return set;
}

function createSession(gate: PublishGate, o: PublishSessionOptions, onGone: () => void): PublishSession {
  const logger = o.logger;
  const maxPending = o.maxPendingBytes ?? 32 * 1024 * 1024;
  const collector = new MediaInfoCollector();
  let phase: PublishSessionPhase = 'authorizing';
  let channelId: string | undefined;
  let keyId: string | undefined;
  let claimed = false;
  let refused = false;
  let pending: MediaMessage[] = [];
  let pendingBytes = 0;
  let bytesReceived = 0;
  let acceptedAt: Date | undefined;
  let sink: MediaSink | undefined;
  let timer: NodeJS.Timeout | undefined;
  let endRequested: { reason: PublishEndReason; detail: string | undefined; endedAt: Date } | undefined;

  const refuse = (code: PublishRefusalCode, description: string) => {
    if (refused) return;
    refused = true;
    logger.info({ protocol: o.protocol, code, channelId }, 'publish refused');
    try {
      o.onRefused(code, description);
    } catch (err) {
      logger.error({ err }, 'onRefused failed');
    }
  };

  const release = (reason: PublishEndReason) => {
    if (!claimed || channelId === undefined) return;
    claimed = false;
    try {
      gate.claims.release({ channelId, sessionId: o.connectionId, reason });
    } catch (err) {
      logger.error({ err, channelId }, 'channel release failed');
    }
  };

  const endSink = (reason: PublishEndReason) => {
    const s = sink;
    sink = undefined;
    try {
      s?.end(reason);
    } catch (err) {
      logger.error({ err, channelId }, 'media sink failed to end');
    }
  };

  const finish = (end: { reason: PublishEndReason; detail: string | undefined; endedAt: Date }) => {
    phase = 'ended';
    endSink(end.reason);
    release(end.reason);
    gone();
    void gate.ended({ sessionId: o.connectionId, channelId: channelId!, reason: end.reason, ...(end.detail !== undefined ? { detail: end.detail } : {}), endedAt: end.endedAt, bytesReceived })
      .catch((err: unknown) => logger.error({ err, channelId }, 'publish end failed'));
  };

  const gone = () => {
    clearTimeout(timer);
    pending = [];
    pendingBytes = 0;
    onGone();
  };

  const deliver = (msg: MediaMessage) => {
    if (!sink) return;
    try {
      sink.write(msg);
    } catch (err) {
      logger.error({ err, channelId }, 'media sink failed; dropping it');
      sink = undefined;
    }
  };

  const startPublish = (trigger: 'media' | 'timeout') => {
    if (phase !== 'awaiting-media') return;
    clearTimeout(timer);
    phase = 'starting';
    const media: MediaInfo = collector.snapshot();
    for (const w of collector.warnings) logger.warn({ reason: w, channelId }, 'could not parse sequence header');
    const info: PublishStartInfo = { sessionId: o.connectionId, channelId: channelId!, app: o.app ?? INGEST_APP, remoteAddress: o.remoteAddress, media, startedAt: acceptedAt! };
    try {
      sink = gate.mediaSink.openPublish(info);
    } catch (err) {
      logger.error({ err, channelId }, 'media sink failed to open');
    }
    const buffered = pending;
    pending = [];
    pendingBytes = 0;
    for (const m of buffered) deliver(m);
    logger.info({ protocol: o.protocol, channelId, media, trigger }, 'publish media known');
    gate.started({ ...info, protocol: o.protocol }).then(
      () => {
        if (phase !== 'starting') return;
        if (endRequested) return finish(endRequested);
        phase = 'live';
      },
      (err: unknown) => {
        if (phase !== 'starting') return;
        logger.error({ err, channelId }, 'publish could not be started');
        phase = 'ended';
        endSink('error');
        release('error');
        gone();
        refuse('INTERNAL', 'Publish could not be started.');
      },
    );
  };

  const accept = () => {
    acceptedAt = new Date();
    phase = 'awaiting-media';
    logger.info({ protocol: o.protocol, channelId }, 'publish accepted');
    try {
      o.onAccepted?.(channelId!);
    } catch (err) {
      logger.error({ err }, 'onAccepted failed');
    }
    if (phase !== 'awaiting-media') return; // ended by onAccepted
    if (collector.complete) return startPublish('media');
    timer = setTimeout(() => startPublish('timeout'), o.mediaInfoTimeoutMs ?? 10_000);
    timer.unref();
  };

  const authorize = async () => {
    const res = await gate.authorize({ protocol: o.protocol, sessionId: o.connectionId, app: o.app ?? INGEST_APP, streamKey: o.streamKey, remoteAddress: o.remoteAddress })
      .catch((err: unknown) => {
        logger.error({ err }, 'authorization failed');
        return { ok: false as const, code: 'INTERNAL' as const, description: 'Authorization is unavailable.' };
      });
    if (phase !== 'authorizing') return;
    if (!res.ok) {
      phase = 'ended';
      gone();
      return refuse(res.code, res.description);
    }
    channelId = res.channelId;
    keyId = res.keyId;
    phase = 'claiming';
    claimed = true;
    const ok = await gate.claims.claim({ channelId, sessionId: o.connectionId, ...(res.keyId !== undefined ? { keyId: res.keyId } : {}) })
      .catch((err: unknown) => {
        logger.error({ err, channelId }, 'channel claim failed');
        return false;
      });
    if (phase !== 'claiming') return; // ended meanwhile: `end` released the claim
    if (!ok) {
      phase = 'ended';
      release('error');
      gone();
      return refuse('ALREADY_LIVE', 'This stream is already live.');
    }
    accept();
  };

  const session: PublishSession = {
    connectionId: o.connectionId,
    phase: () => phase,
    keyId: () => keyId,
    channelId: () => channelId,
    start() {
      void authorize();
    },
    write(msg) {
      if (phase === 'ended' || endRequested) return;
      if (phase === 'starting' || phase === 'live') return deliver(msg);
      if (msg.kind === 'data') {
        if (msg.values?.[0] === 'onMetaData') collector.setMetadata(msg.values[1]!);
      } else {
        collector.observe(msg.kind, msg.payload);
      }
      pending.push(msg);
      pendingBytes += msg.payload.length;
      if (pendingBytes > maxPending) {
        session.end('error', `more than ${maxPending} media bytes before the publish started`);
        return;
      }
      if (phase === 'awaiting-media' && collector.complete) startPublish('media');
    },
    received(n) {
      bytesReceived += n;
    },
    end(reason, detail) {
      switch (phase) {
        case 'authorizing':
        case 'claiming':
        case 'awaiting-media':
          phase = 'ended';
          release(reason);
          gone();
          return;
        case 'starting':
          endRequested ??= { reason, detail, endedAt: new Date() };
          endSink(reason);
          return;
        case 'live':
          return finish({ reason, detail, endedAt: new Date() });
        case 'ended':
          return;
      }
    },
  };
  return session;
}
