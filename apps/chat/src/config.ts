/**
 * The chat gateway process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link chatConfigSchema}).
 */
import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import { parseJwtKeys, type JwtKey } from '@live/auth';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './limits.js';
import { Host, Port, Secret, databaseSettings, logSettings, natsSettings, checkSettings, parseSetting, tlsFilesOf, tlsSettings, trustProxySettings } from '@live/runtime';

const positive = (description: string, dflt: number) => Type.Integer({ minimum: 1, description, default: dflt });

/** Environment variables of `apps/chat` (keys are the variable names). */
export const chatConfigSchema = Type.Object({
  CHAT_PORT: Port('TCP port of the chat gateway: `ws(s)://<host>:<port>/chat/<channelId>`, `/healthz`, `/metrics`; 0 picks a free one.', 8082, true),
  CHAT_HOST: Host('Interface the chat gateway binds (`0.0.0.0` for all).'),
  ...tlsSettings('CHAT_TLS', 'the chat gateway (WSS)'),
  GATEWAY_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'This gateway\'s id in presence reports and logs (characters outside `A-Za-z0-9_-` become `-`).', defaultText: '`<hostname>-<pid>`' })),
  ...databaseSettings,
  ...natsSettings,
  JWT_KEYS: Secret('The API\'s access-token key ring, `kid:secret[,…]`: every key verifies signed-in chatters.', 32),
  CHAT_RATE_MESSAGES: positive('Messages a user may send per room within `CHAT_RATE_WINDOW_SECONDS`.', 20),
  CHAT_RATE_WINDOW_SECONDS: positive('Window of the chat rate limit, seconds.', 5),
  CHAT_MAX_BACKPRESSURE_BYTES: positive('Bytes queued for one slow client before it is disconnected.', 1024 * 1024),
  CHAT_MAX_CONNECTIONS_PER_ADDRESS: positive('WebSockets one client address (the viewer\'s with `TRUST_PROXY`) may have open at once; one more is answered 429 `TOO_MANY_CONNECTIONS`, counted in `chat_connections_refused_total` and logged once a minute per address. Raise it behind a proxy that does not forward addresses.', DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
  CHAT_MAX_CONNECTIONS: positive('WebSockets open at once on this gateway, all addresses; then 503 `TOO_MANY_CONNECTIONS`.', DEFAULT_MAX_CONNECTIONS),
  CHAT_ROOM_IDLE_SECONDS: Type.Integer({ minimum: 0, default: 30, description: 'How long a room without members stays open, seconds.' }),
  ...trustProxySettings,
  ...logSettings,
});

/** The chat gateway's settings as loaded. */
export type ChatSettings = Static<typeof chatConfigSchema>;

/** What `main.ts` starts the gateway with. */
export interface ChatProcessConfig {
  /** This service's NATS credentials (undefined: anonymous, refused by a locked-down server). */
  readonly natsAuth: NatsAuth | undefined;
  readonly settings: ChatSettings;
  readonly jwtKeys: JwtKey[];
  readonly gatewayId: string;
  readonly tls: { certFile: string; keyFile: string } | undefined;
}

/**
 * Parses the key ring and the gateway id.
 * @throws ConfigError naming the variable.
 */
export function deriveChatConfig(s: ChatSettings): ChatProcessConfig {
  return {
    settings: s,
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    jwtKeys: parseSetting('JWT_KEYS', s.JWT_KEYS, parseJwtKeys),
    gatewayId: (s.GATEWAY_ID ?? `${hostname()}-${process.pid}`).replace(/[^A-Za-z0-9_-]/g, '-'),
    tls: tlsFilesOf(s, 'CHAT_TLS'),
  };
}
