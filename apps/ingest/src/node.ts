import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { SealingKey } from '@live/auth/sealed';
import type { JwtKey } from '@live/auth';
import type { Db } from '@live/db';
import { createLeaseStore, type Messaging } from '@live/messaging';
import { applyTlsReloads, compileProxyTrust, watchTlsFiles, type TlsFilesWatcher } from '@live/runtime';
import { combineMediaSinks, createRtmpServer, type RtmpLimits, type RtmpServer } from './rtmp/index.js';
import { createRelay, createRelayServer } from './relay/index.js';
import { startControlListener, type ControlListener } from './control.js';
import { createHealthReporter } from './health-reporter.js';
import { createPublishLifecycle, type PublishLifecycle } from './publish-lifecycle.js';
import { createRestreamer } from './restream.js';
import { createPublishGate, type PublishGate } from './publish-gate.js';
import { createPublishSessions } from './publish-session.js';
import { startSrtListener, type SrtListener, type SrtListenerOptions } from './srt/listener.js';
import { startWhipServer, type WhipIceOptions, type WhipLimits, type WhipServer } from './whip/index.js';
import { createWhepEndpoint, type WhepLimits } from './whep/endpoint.js';


/** Dependencies and settings of {@link startIngestNode}. */
export interface IngestNodeOptions {
  readonly db: Db;
  readonly messaging: Messaging;
  readonly logger: Logger;
  /** Id of this node, carried in StreamPublishStarted (e.g. `ingest-1`). */
  readonly nodeId: string;
  readonly rtmp: { port: number; host: string };
  /**
   * Optional RTMPS listener (RTMP inside TLS; port 443 or 1936 by convention) next to the plain
   * RTMP one, sharing its sessions and its one-publisher-per-channel rule. `certFile` is the PEM
   * chain (leaf first, then intermediates: certbot's `fullchain.pem`, cert-manager's `tls.crt`),
   * `keyFile` its unencrypted PEM private key. Both are watched (their directories: renames count)
   * and reloaded without a restart; a broken or mismatched pair is logged and the previous
   * certificate kept (see `watchTlsFiles` in `@live/runtime`).
   */
  readonly rtmps?: IngestRtmpsOptions;
  /** Internal HTTP listener: the HTTP-FLV relay, `/healthz`, `/metrics`. */
  readonly http: { port: number; host: string };
  /** Base URL transcoders reach the relay at, e.g. `http://10.0.0.5:8090`. */
  readonly relayBaseUrl: string;
  /** Internal token the relay requires, as `Authorization: Bearer` only (never in a URL, which ends up in logs and command lines). */
  readonly relayToken: string;
  /** Period of the ingest health reports, ms (default `INGEST_HEALTH_INTERVAL_MS`, 5 s). */
  readonly healthIntervalMs?: number;
  /**
   * Bounds of the RTMP/RTMPS listeners (connections per address and in total, partial-message
   * budgets, timeouts); unset fields keep the defaults documented on {@link RtmpLimits}.
   */
  readonly rtmpLimits?: RtmpLimits;
  /**
   * The load balancers that send the PROXY protocol to the RTMP and RTMPS listeners
   * (`RTMP_PROXY_PROTOCOL_FROM`: addresses, CIDRs, `loopback`…, as `compileProxyTrust` of
   * `@live/runtime` takes them for `TRUST_PROXY`); see `RtmpServerOptions.proxyProtocol`.
   */
  readonly proxyProtocolFrom?: readonly string[];
  /**
   * Reconnect window, ms (default 0: none, a dropped connection ends its session at once, as
   * before; the process sets `INGEST_RECONNECT_WINDOW_SECONDS`, default 60 s). See
   * `publish-lifecycle.ts` and `reconnect.ts`.
   */
  readonly reconnectWindowMs?: number;
  /** How long to wait for another node's handover answer before deeming it dead, ms (default 1000). */
  readonly handoverTimeoutMs?: number;
  /**
   * Opens the channels' restream destination keys (`RESTREAM_KEY_SECRET`, the API's); without
   * it no destination is pushed (restream.ts).
   */
  readonly restreamSealing?: SealingKey;
  /**
   * Optional SRT listener (UDP; MPEG-TS with H.264 or HEVC and AAC; the stream key in the
   * `streamid`): see `srt/listener.ts`.
   */
  readonly srt?: Pick<SrtListenerOptions, 'port' | 'host' | 'latencyMs' | 'passphrase' | 'limits'>;
  /** Optional public WHIP listener (RFC 9725, `POST /whip/<channel>`; see `whip/server.ts`). */
  readonly whip?: { port: number; host: string; ice?: WhipIceOptions; limits?: Partial<WhipLimits> };
  /**
   * WHEP playback on the WHIP listener (`POST /whep/<channel>`; `whep/endpoint.ts`), with the
   * playback-token key ring (`PLAYBACK_KEYS`, else `JWT_KEYS`: the API's); needs `whip`.
   */
  readonly whep?: { playbackKeys?: readonly JwtKey[]; limits?: Partial<WhepLimits> };
}

/** Settings of the RTMPS listener (see {@link IngestNodeOptions.rtmps}). */
export interface IngestRtmpsOptions {
  port: number;
  host: string;
  /** PEM certificate chain file. */
  certFile: string;
  /** PEM private key file (may be the same file as `certFile`). */
  keyFile: string;
  /**
   * Quiet period after a change in the files' directories before they are re-read, ms
   * (default 250; see `watchTlsFiles`).
   */
  reloadDebounceMs?: number;
}

/** A running ingest node. */
export interface IngestNode {
  readonly rtmpAddress: AddressInfo;
  /** Address of the RTMPS listener; undefined when `rtmps` was not configured. */
  readonly rtmpsAddress: AddressInfo | undefined;
  /**
   * The RTMPS certificate files: `certificate()` is the one served to new connections,
   * `subscribe` hears each reload, `reload()` forces a re-read (e.g. on SIGHUP). Undefined
   * without `rtmps`.
   */
  readonly rtmpsCertificate: TlsFilesWatcher | undefined;
  readonly httpAddress: AddressInfo;
  readonly rtmp: RtmpServer;
  /** The node's control listener (key revocations / rotations, stop requests); see control.ts. */
  readonly control: ControlListener;
  /** The publish lifecycle: which session each connection publishes, sessions in their reconnect window. */
  readonly lifecycle: PublishLifecycle;
  /**
   * The protocol-neutral publish gate (key check, channel claim, relay, events; publish-gate.ts)
   * every protocol server of the node publishes through.
   */
  readonly gate: PublishGate;
  /** The SRT listener; undefined when `srt` was not configured. */
  readonly srt: SrtListener | undefined;
  /** Address of the WHIP listener; undefined when `whip` was not configured. */
  readonly whipAddress: AddressInfo | undefined;
  /**
   * Stops the control listener, disconnects publishers (their StreamPublishEnded events are
   * appended) and closes listeners.
   */
  close(): Promise<void>;
}

/**
 * Starts an ingest node: the RTMP server (stream keys checked against the `stream_keys` read
 * model; only the `live` app), the HTTP-FLV relay of every accepted session, and the lifecycle
 * events `StreamPublishStarted` / `StreamPublishEnded` appended to JetStream.
 * A refused publish emits nothing. A second publisher on a channel that is already live — on this
 * node or on any other node sharing the JetStream — is refused with ALREADY_LIVE: each accepted
 * publish holds the channel's lease in the LEASES stream until it ends. With a reconnect window
 * (`reconnectWindowMs`), a publisher whose connection drops without a clean stop keeps its
 * session for the window (`StreamPublishInterrupted`); a publish with the channel's key within it,
 * on this node or another, continues the same session (`StreamPublishResumed`); the window's end
 * appends `StreamPublishEnded`. A node whose claim finds the lease held asks the holder node
 * (core NATS `ingest.handover.<nodeId>`) and takes the lease over when it does not answer within
 * `handoverTimeoutMs` (a dead node), instead of waiting for the lease to expire (see
 * `publish-lifecycle.ts`, `reconnect.ts`).
 *
 * Stream keys are checked with `checkStreamKey` (status, expiry, the key's CIDR allow-list
 * against the publisher's address). Refusals are answered with the Adobe NetStream status of
 * their code (RTMP 1.0 §7.2.2.6): UNKNOWN_STREAM_KEY → NetStream.Publish.BadName;
 * STREAM_KEY_DISABLED, STREAM_KEY_EXPIRED, ADDRESS_NOT_ALLOWED → NetStream.Publish.Denied; and
 * logged at info with the key masked. Each accepted session remembers its key id, so the control
 * listener (control.ts) can kick the sessions of a revoked or rotated key and the session a
 * StreamStopRequested names; those publishes end with reason `kicked`, counted in
 * `ingest_kicks_total{reason}` on `/metrics`.
 * While a publish is live the node appends `StreamIngestHealthReported` every
 * `healthIntervalMs` (received bitrate, frame rate, keyframe interval, A/V drift: health.ts),
 * the last of them before its StreamPublishEnded, and exports them per channel as
 * `ingest_session_bitrate_kbps` / `ingest_session_frame_rate`; ended publishes are counted in
 * `ingest_publishes_ended_total{reason}` (unpublished, disconnected, error, kicked).
 * With `rtmps`, a second listener accepts RTMP inside TLS; its certificate is reloaded when the
 * files change (`ingest_tls_reloads_total{result="ok"|"refused"}`, and the served certificate's
 * expiry as `ingest_tls_certificate_expiry_timestamp_seconds`).
 * While a publish is live, each enabled restream destination of its channel gets a copy of it
 * (restream.ts: one ffmpeg `-c copy` per destination, retried with backoff, Restream* events).
 * The RTMP bounds (`rtmpLimits`) are exported as `ingest_connections_refused_total{reason}`
 * (`per_address`, `total`: closed at TCP accept), `ingest_connections_closed_by_limit_total{reason}`
 * (`pending_bytes`, `node_pending_bytes`, `unpublished_timeout`), and the gauges
 * `ingest_rtmp_connections` (open TCP connections counted against the caps) and
 * `ingest_pending_message_bytes` (bytes held in partial RTMP messages, node-wide).
 * With `whip`, a public WHIP listener (RFC 9725; `whip/server.ts`) takes WebRTC publishers
 * through the same gate: the same key rules, claim, events, health reports and kicks.
 * @throws when a listener cannot bind its port, when the RTMPS certificate or key cannot be
 *   loaded (`TlsFileError` naming the file), or the control listener cannot create its
 *   JetStream consumers (no EVENTS stream: call `ensureEventStreams` first).
 */
export async function startIngestNode(opts: IngestNodeOptions): Promise<IngestNode> {
  const { logger, messaging } = opts;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kicks = new Counter({ name: 'ingest_kicks_total', help: 'Sessions kicked by control events, by reason (key_revoked, key_rotated, stop_requested)', labelNames: ['reason'], registers: [registry] });
  const refusedConnections = new Counter({ name: 'ingest_connections_refused_total', help: 'RTMP/RTMPS connections closed at TCP accept by a cap, by reason (per_address, total)', labelNames: ['reason'], registers: [registry] });
  const limitedConnections = new Counter({ name: 'ingest_connections_closed_by_limit_total', help: 'RTMP/RTMPS sessions closed by a bound, by reason (pending_bytes: its partial-message budget; node_pending_bytes: the node-wide one; unpublished_timeout: no publish accepted in time)', labelNames: ['reason'], registers: [registry] });
  for (const reason of ['per_address', 'total']) refusedConnections.inc({ reason }, 0);
  for (const reason of ['pending_bytes', 'node_pending_bytes', 'unpublished_timeout']) limitedConnections.inc({ reason }, 0);
  // `rtmp` is assigned below, before the HTTP listener (the only reader of these gauges) starts.
  let rtmpStats: (() => { connections: number; pendingBytes: number }) | undefined;
  new Gauge({ name: 'ingest_rtmp_connections', help: 'Open RTMP/RTMPS TCP connections counted against the connection caps', registers: [registry], collect() { this.set(rtmpStats?.().connections ?? 0); } });
  new Gauge({ name: 'ingest_pending_message_bytes', help: 'Bytes held in partially received RTMP messages, all connections of the node', registers: [registry], collect() { this.set(rtmpStats?.().pendingBytes ?? 0); } });
  // Loaded first: a missing or broken certificate fails the start before anything is opened.
  let tlsFiles: TlsFilesWatcher | undefined;
  if (opts.rtmps) {
    const tlsReloads = new Counter({ name: 'ingest_tls_reloads_total', help: 'RTMPS certificate reloads, by result (ok: applied; refused: unreadable, half-written or mismatched files, previous certificate kept)', labelNames: ['result'], registers: [registry] });
    const certExpiry = new Gauge({ name: 'ingest_tls_certificate_expiry_timestamp_seconds', help: 'Expiry (notAfter, Unix seconds) of the certificate the RTMPS listener serves', registers: [registry] });
    tlsFiles = watchTlsFiles({ certFile: opts.rtmps.certFile, keyFile: opts.rtmps.keyFile }, {
      logger: logger.child({ component: 'tls' }),
      ...(opts.rtmps.reloadDebounceMs !== undefined ? { debounceMs: opts.rtmps.reloadDebounceMs } : {}),
      onReload: (_options, cert) => {
        tlsReloads.inc({ result: 'ok' });
        certExpiry.set(cert.validTo.getTime() / 1000);
      },
      onError: () => tlsReloads.inc({ result: 'refused' }),
    });
    certExpiry.set(tlsFiles.certificate().validTo.getTime() / 1000);
  }
  const health = createHealthReporter({
    messaging, logger: logger.child({ component: 'health' }), nodeId: opts.nodeId, registry,
    ...(opts.healthIntervalMs !== undefined ? { intervalMs: opts.healthIntervalMs } : {}),
  });
  // Set right below; the lease store only calls back once a lease is held.
  let lifecycleRef: PublishLifecycle | undefined;

  const relay = createRelay({ logger: logger.child({ component: 'relay' }) });
  const leases = createLeaseStore(messaging, {
    logger: logger.child({ component: 'leases' }),
    onLost: (subject, holder) => lifecycleRef?.leaseLost(subject, holder),
  });
  // `gate` is assigned right below; kicks only happen once a server serves connections.
  let gateRef: PublishGate | undefined;
  const lifecycle = createPublishLifecycle({
    messaging, logger: logger.child({ component: 'lifecycle' }), nodeId: opts.nodeId, relayBaseUrl: opts.relayBaseUrl,
    reconnectWindowMs: opts.reconnectWindowMs ?? 0, leases, health, registry,
    ...(opts.handoverTimeoutMs !== undefined ? { handoverTimeoutMs: opts.handoverTimeoutMs } : {}),
    kick: (connectionId, reason) => gateRef?.kickConnection(connectionId, reason) ?? false,
  });
  lifecycleRef = lifecycle;
  const restream = createRestreamer({ db: opts.db, messaging, logger: logger.child({ component: 'restream' }), nodeId: opts.nodeId, relay, sealing: opts.restreamSealing, registry });
  const gate = createPublishGate({ db: opts.db, logger, lifecycle, mediaSink: combineMediaSinks(relay, health), restream, registry });
  gateRef = gate;
  const proxyTrust = opts.proxyProtocolFrom?.length ? compileProxyTrust(opts.proxyProtocolFrom) : undefined;
  const rtmp = createRtmpServer({
    logger: logger.child({ component: 'rtmp' }),
    ...(opts.rtmpLimits ? { limits: opts.rtmpLimits } : {}),
    ...(proxyTrust ? { proxyProtocol: { trusts: (peer: string) => proxyTrust(peer, 0) } } : {}),
    onLimit: (e) => (e.action === 'refused' ? refusedConnections : limitedConnections).inc({ reason: e.reason }),
    mediaSink: gate.mediaSink,
    channelClaims: gate.claims,
    authorizePublish: (req) => gate.authorize({ ...req, protocol: 'rtmp' }),
    onPublishStarted: (s) => gate.started({ ...s, protocol: 'rtmp' }),
    onPublishEnded: (s) => gate.ended(s),
  });
  gate.addServer(rtmp);
  rtmpStats = () => rtmp.stats();
  const control = await startControlListener({
    messaging, publishers: gate, logger: logger.child({ component: 'control' }), kicks, onRestreamDestination: (e) => restream.destinationChanged(e),
  });
  gate.setControl(control);
  let rtmpAddress: AddressInfo;
  let rtmpsAddress: AddressInfo | undefined;
  let srt: SrtListener | undefined;
  let whip: WhipServer | undefined;
  try {
    if (opts.srt) srt = startSrtListener({ ...opts.srt, sessions: createPublishSessions(gate), logger: logger.child({ component: 'srt' }), registry });
    rtmpAddress = await rtmp.listen(opts.rtmp.port, opts.rtmp.host);
    if (opts.rtmps && tlsFiles) {
      const initial = tlsFiles.current();
      const listener = await rtmp.listenTls(opts.rtmps.port, opts.rtmps.host, initial);
      applyTlsReloads(tlsFiles, listener);
      // A reload that happened while the listener was binding was not applied to it yet.
      if (tlsFiles.current() !== initial) listener.setSecureContext(tlsFiles.current());
      rtmpsAddress = listener.address;
    }
    if (opts.whip) {
      const whep = opts.whep ? createWhepEndpoint({ ...opts.whep, relay, db: opts.db, registry, ice: opts.whip.ice ?? {}, logger: logger.child({ component: 'whep' }) }) : undefined;
      whip = await startWhipServer({ ...opts.whip, gate, db: opts.db, registry, logger: logger.child({ component: 'whip' }), ...(whep ? { whep } : {}) });
    }
  } catch (err) {
    await srt?.close();
    await control.close();
    await rtmp.close();
    await lifecycle.close();
    tlsFiles?.close();
    throw err;
  }
  const controlListener = control;

  const relayServer = createRelayServer({ relay, token: opts.relayToken, logger: logger.child({ component: 'relay-http' }) });
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then((m) => res.writeHead(200, { 'content-type': registry.contentType }).end(m), () => res.writeHead(500).end());
      return;
    }
    relayServer.emit('request', req, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(opts.http.port, opts.http.host, () => resolve());
    });
  } catch (err) {
    await controlListener.close();
    await srt?.close();
    await whip?.close();
    await rtmp.close();
    await lifecycle.close();
    tlsFiles?.close();
    throw err;
  }
  logger.info({ rtmp: rtmpAddress, rtmps: rtmpsAddress, srtPort: srt?.port, whip: whip?.address, http: httpServer.address() }, 'ingest node listening');

  return {
    rtmpAddress,
    rtmpsAddress,
    rtmpsCertificate: tlsFiles,
    httpAddress: httpServer.address() as AddressInfo,
    rtmp,
    control: controlListener,
    lifecycle,
    gate,
    srt,
    whipAddress: whip?.address,
    async close() {
      tlsFiles?.close();
      await controlListener.close();
      await restream.close(); // first: the pushes stop as `node-shutdown`, not as their publishes' ends
      await srt?.close();
      await whip?.close();
      await rtmp.close();
      await lifecycle.close();
      await health.close();
      await leases.close();
      httpServer.closeAllConnections();
      await new Promise<void>((r) => httpServer.close(() => r()));
    },
  };
}
