/**
 * The ingest's WHIP settings (environment variables; merged into `ingestConfigSchema`, so the
 * README's configuration table lists them) and the node options they make.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Host, List, Port } from '@live/runtime';
import type { WhipIceOptions } from './peer.js';
import { DEFAULT_WHIP_LIMITS, type WhipLimits } from './limits.js';

/** Environment variables of the WHIP endpoint. */
export const whipSettings = {
  WHIP_PORT: Port('TCP port of the public WHIP endpoint (RFC 9725: `POST http://<host>:<port>/whip/<channel>` with the stream key as Bearer token; OBS 30+ "WHIP" service); 0 picks a free one. Put a TLS proxy in front of it for browsers off localhost.', 8089, true),
  WHIP_HOST: Host('Interface the WHIP endpoint binds (`0.0.0.0` for publishers on other machines).'),
  WHIP_ICE_ADDRESSES: Type.Optional(List('Extra local addresses to offer ICE host candidates on besides the machine\'s non-loopback interfaces (werift leaves loopback out: `127.0.0.1` for publishers on this machine). The media (UDP) goes straight to the node, never through a proxy.')),
  WHIP_ICE_PORT_MIN: Type.Optional(Port('Lowest UDP port of the WHIP ICE candidates (with `WHIP_ICE_PORT_MAX`, for a firewall); unset: any free port.')),
  WHIP_ICE_PORT_MAX: Type.Optional(Port('Highest UDP port of the WHIP ICE candidates (greater than `WHIP_ICE_PORT_MIN`).')),
  WHIP_MAX_SESSIONS: Type.Integer({ minimum: 1, default: DEFAULT_WHIP_LIMITS.maxSessions, description: 'Most WHIP sessions (being set up or live) on this node; one more is answered 503 TOO_MANY_SESSIONS.' }),
  WHIP_MAX_SESSIONS_PER_ADDRESS: Type.Integer({ minimum: 1, default: DEFAULT_WHIP_LIMITS.maxSessionsPerAddress, description: 'Most WHIP sessions from one IP address; one more is answered 429 TOO_MANY_SESSIONS_FROM_ADDRESS.' }),
  WHIP_MEDIA_TIMEOUT_SECONDS: Type.Number({ minimum: 1, maximum: 120, default: DEFAULT_WHIP_LIMITS.mediaTimeoutMs / 1000, description: 'A WHIP session whose video has not arrived this many seconds after its answer (ICE, DTLS or media never came) is ended and freed; once media flowed, `WHIP_IDLE_TIMEOUT_SECONDS` without any ends it `disconnected`.' }),
  WHIP_IDLE_TIMEOUT_SECONDS: Type.Number({ minimum: 1, maximum: 120, default: DEFAULT_WHIP_LIMITS.idleTimeoutMs / 1000, description: 'A live WHIP session that receives no RTP for this many seconds ends `disconnected`.' }),
  WHIP_PLI_INTERVAL_SECONDS: Type.Number({ minimum: 0.5, maximum: 60, default: DEFAULT_WHIP_LIMITS.pliIntervalMs / 1000, description: 'Period of the keyframe requests (RTCP PLI) sent to WHIP publishers, so the passthrough rendition and the segments (2 s) start on keyframes; browsers send keyframes only when asked.' }),
};

/** The WHIP settings as loaded. */
export type WhipSettings = Static<ReturnType<typeof Type.Object<typeof whipSettings>>>;

/**
 * The node's `whip` option from the settings.
 * @throws Error starting with the variable's name when only one of `WHIP_ICE_PORT_MIN`/`MAX` is
 *   set or the range is empty (for `checkSettings`).
 */
export function deriveWhipConfig(s: WhipSettings): { port: number; host: string; ice: WhipIceOptions; limits: WhipLimits } {
  if ((s.WHIP_ICE_PORT_MIN === undefined) !== (s.WHIP_ICE_PORT_MAX === undefined)) throw new Error('WHIP_ICE_PORT_MIN and WHIP_ICE_PORT_MAX are set together.');
  if (s.WHIP_ICE_PORT_MIN !== undefined && s.WHIP_ICE_PORT_MIN >= s.WHIP_ICE_PORT_MAX!) throw new Error('WHIP_ICE_PORT_MAX must be greater than WHIP_ICE_PORT_MIN.');
  const portRange = s.WHIP_ICE_PORT_MIN !== undefined && s.WHIP_ICE_PORT_MAX !== undefined ? [s.WHIP_ICE_PORT_MIN, s.WHIP_ICE_PORT_MAX] as const : undefined;
  return {
    port: s.WHIP_PORT, host: s.WHIP_HOST,
    ice: { ...(s.WHIP_ICE_ADDRESSES?.length ? { hostAddresses: s.WHIP_ICE_ADDRESSES } : {}), ...(portRange ? { portRange } : {}) },
    limits: {
      maxSessions: s.WHIP_MAX_SESSIONS, maxSessionsPerAddress: s.WHIP_MAX_SESSIONS_PER_ADDRESS, maxOfferBytes: DEFAULT_WHIP_LIMITS.maxOfferBytes,
      mediaTimeoutMs: Math.round(s.WHIP_MEDIA_TIMEOUT_SECONDS * 1000), idleTimeoutMs: Math.round(s.WHIP_IDLE_TIMEOUT_SECONDS * 1000),
      pliIntervalMs: Math.round(s.WHIP_PLI_INTERVAL_SECONDS * 1000),
    },
  };
}
