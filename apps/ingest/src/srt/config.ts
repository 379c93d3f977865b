/**
 * The SRT listener's environment variables (part of the ingest's `ingestConfigSchema`) and the
 * listener options derived from them.
 */
import { Type } from '@sinclair/typebox';
import { Port } from '@live/runtime';
import { DEFAULT_SRT_LIMITS, type SrtListenerOptions } from './listener.js';

/** Default SRT receiver latency, ms (libsrt's live default is 120; 200 absorbs more retransmissions on the public internet). */
export const DEFAULT_SRT_LATENCY_MS = 200;

/** The `SRT_*` settings. */
export const srtSettings = {
  SRT_PORT: Type.Optional(Port('UDP port of the SRT listener (`srt://<host>:<port>?streamid=#!::r=live/<stream key>,m=publish`; MPEG-TS with H.264 or HEVC video and AAC audio); unset: no SRT listener; 0 picks a free one. Needs Debian\'s `libsrt1.5-gnutls` (ffmpeg\'s SRT library).', undefined, true)),
  SRT_HOST: Type.Optional(Type.String({ minLength: 1, pattern: '^[0-9a-fA-F.:]+$', patternText: 'an IPv4 or IPv6 address', description: 'IP address the SRT listener binds (`0.0.0.0` for publishers on other machines).', defaultText: '`RTMP_HOST` when it is an IP address (`localhost`: `127.0.0.1`), else `0.0.0.0`' })),
  SRT_LATENCY_MS: Type.Integer({ minimum: 20, maximum: 8000, default: DEFAULT_SRT_LATENCY_MS, description: 'SRT receiver latency (SRTO_LATENCY), ms: how long the listener holds packets to retransmit lost ones; the larger of this and the encoder\'s wins. Raise it (2.5–4 × the round-trip time) for lossy or distant publishers.' }),
  SRT_PASSPHRASE: Type.Optional(Type.String({ minLength: 10, maxLength: 79, secret: true, description: 'SRT encryption passphrase (SRTO_PASSPHRASE, 10–79 characters): publishers must set the same one (OBS: `&passphrase=…` in the URL); a wrong or missing one fails the SRT handshake. Unset: no encryption.' })),
  SRT_MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: DEFAULT_SRT_LIMITS.maxConnections, description: 'Most SRT connections open at once on this node; one more is closed right after the handshake (`ingest_srt_connections_closed_total{reason="total"}`).' }),
  SRT_MAX_CONNECTIONS_PER_ADDRESS: Type.Integer({ minimum: 1, default: DEFAULT_SRT_LIMITS.maxConnectionsPerAddress, description: 'Most SRT connections open at once from one IP address (`ingest_srt_connections_closed_total{reason="per_address"}`).' }),
  SRT_IDLE_TIMEOUT_SECONDS: Type.Number({ minimum: 1, maximum: 300, default: DEFAULT_SRT_LIMITS.idleTimeoutMs / 1000, description: 'An SRT connection that delivers no data for this many seconds is closed (the publish ends `disconnected`); libsrt itself drops a peer silent for 5 s.' }),
};

/** The SRT listener options `main.ts` passes to `startIngestNode`. */
export type SrtProcessOptions = Pick<SrtListenerOptions, 'port' | 'host' | 'latencyMs' | 'passphrase' | 'limits'>;

/** The listener options from the settings; undefined without `SRT_PORT`. */
export function srtOptionsOf(s: {
  SRT_PORT?: number; SRT_HOST?: string; RTMP_HOST: string; SRT_LATENCY_MS: number; SRT_PASSPHRASE?: string;
  SRT_MAX_CONNECTIONS: number; SRT_MAX_CONNECTIONS_PER_ADDRESS: number; SRT_IDLE_TIMEOUT_SECONDS: number;
}): SrtProcessOptions | undefined {
  if (s.SRT_PORT === undefined) return undefined;
  const host = s.SRT_HOST ?? (/^[0-9a-fA-F.:]+$/.test(s.RTMP_HOST) ? s.RTMP_HOST : s.RTMP_HOST === 'localhost' ? '127.0.0.1' : '0.0.0.0');
  return {
    port: s.SRT_PORT, host, latencyMs: s.SRT_LATENCY_MS,
    ...(s.SRT_PASSPHRASE ? { passphrase: s.SRT_PASSPHRASE } : {}),
    limits: { maxConnections: s.SRT_MAX_CONNECTIONS, maxConnectionsPerAddress: s.SRT_MAX_CONNECTIONS_PER_ADDRESS, idleTimeoutMs: Math.round(s.SRT_IDLE_TIMEOUT_SECONDS * 1000) },
  };
}
