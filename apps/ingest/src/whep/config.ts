/**
 * The ingest's WHEP settings (environment variables; merged into `ingestConfigSchema`, so the
 * README's configuration table lists them) and the node option they make.
 */
import { Type, type Static } from '@sinclair/typebox';
import { playbackKeysFromSettings, type JwtKey } from '@live/auth';
import { checkSettings, Secret } from '@live/runtime';
import { DEFAULT_WHEP_LIMITS, type WhepLimits } from './endpoint.js';

/** Environment variables of the WHEP endpoint (served on the WHIP listener, `WHIP_PORT`). */
export const whepSettings = {
  WHEP_ENABLED: Type.Boolean({ default: true, description: 'Serve WHEP playback (`POST /whep/<channel>` on the WHIP listener): the source rendition to WebRTC viewers, H.264 passed through, audio as Opus.' }),
  PLAYBACK_KEYS: Type.Optional(Secret('Playback-token key ring (the API\'s, `kid:secret,…`) for WHEP viewers of private or encrypted channels; default: `JWT_KEYS`. Without either, only public unencrypted channels play over WHEP.', 32)),
  JWT_KEYS: Type.Optional(Secret('The API\'s access-token key ring, used for WHEP playback tokens when `PLAYBACK_KEYS` is unset.', 32)),
  WHEP_MAX_VIEWERS: Type.Integer({ minimum: 1, default: DEFAULT_WHEP_LIMITS.maxViewers, description: 'Most WHEP viewers on this node; one more is answered 503 TOO_MANY_SESSIONS (the player falls back to LL-HLS).' }),
  WHEP_MAX_VIEWERS_PER_ADDRESS: Type.Integer({ minimum: 1, default: DEFAULT_WHEP_LIMITS.maxViewersPerAddress, description: 'Most WHEP viewers from one IP address; one more is answered 429 TOO_MANY_SESSIONS_FROM_ADDRESS.' }),
};

/** The WHEP settings as loaded. */
export type WhepSettings = Static<ReturnType<typeof Type.Object<typeof whepSettings>>>;

/**
 * The node's `whep` option from the settings; undefined when `WHEP_ENABLED` is false.
 * @throws ConfigError naming `PLAYBACK_KEYS` or `JWT_KEYS` when the ring does not parse.
 */
export function deriveWhepConfig(s: WhepSettings): { playbackKeys?: readonly JwtKey[]; limits: Partial<WhepLimits> } | undefined {
  if (!s.WHEP_ENABLED) return undefined;
  const playbackKeys = checkSettings('PLAYBACK_KEYS', () => playbackKeysFromSettings(s));
  return {
    ...(playbackKeys ? { playbackKeys } : {}),
    limits: { maxViewers: s.WHEP_MAX_VIEWERS, maxViewersPerAddress: s.WHEP_MAX_VIEWERS_PER_ADDRESS },
  };
}
