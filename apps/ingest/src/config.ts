/**
 * The ingest process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link ingestConfigSchema}).
 */
import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import {
  Host, Port, Secret, Url, checkSettings, databaseSettings, logSettings, natsEnvOf, natsSettings, tlsFilesOf, tlsSettings,
} from '@live/runtime';

/** Environment variables of `apps/ingest` (keys are the variable names). */
export const ingestConfigSchema = Type.Object({
  RTMP_PORT: Port('TCP port of the RTMP listener (`rtmp://<host>:<port>/live/<stream key>`); 0 picks a free one.', 1935, true),
  RTMP_HOST: Host('Interface the RTMP listener binds (`0.0.0.0` for publishers on other machines).'),
  RTMPS_PORT: Port('TCP port of the RTMPS listener (RTMP over TLS, OBS `rtmps://`), started when `RTMPS_TLS_CERT_FILE` is set; 0 picks a free one.', 1936, true),
  RTMPS_HOST: Type.Optional(Type.String({ minLength: 1, description: 'Interface the RTMPS listener binds.', defaultText: '`RTMP_HOST`' })),
  ...tlsSettings('RTMPS_TLS', 'the RTMPS listener'),
  HTTP_PORT: Port('Internal HTTP port: the HTTP-FLV relay transcoders read, `/healthz`, `/metrics`; 0 picks a free one.', 8090, true),
  HTTP_HOST: Host('Interface of the internal HTTP listener (reachable by the workers, not by viewers).'),
  RELAY_BASE_URL: Type.Optional(Url('How transcoders reach this node\'s relay, e.g. `http://10.0.0.5:8090`.', ['http', 'https'], { defaultText: '`http://HTTP_HOST:HTTP_PORT`' })),
  INTERNAL_TOKEN: Secret('Bearer token the relay requires from transcoders (the workers\' `RELAY_TOKEN`); at least 16 characters.', 16),
  INGEST_NODE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$', patternText: 'letters, digits, `_` or `-`', description: 'This node\'s id in StreamPublishStarted and logs.', defaultText: '`ingest-<hostname>`' })),
  ...databaseSettings,
  ...natsSettings,
  ...logSettings,
});

/** The ingest node's settings as loaded. */
export type IngestSettings = Static<typeof ingestConfigSchema>;

/** What `main.ts` starts the node with. */
export interface IngestProcessConfig {
  readonly settings: IngestSettings;
  /** This service's NATS credentials (undefined: anonymous, refused by a locked-down server). */
  readonly natsAuth: NatsAuth | undefined;
  readonly nodeId: string;
  readonly relayBaseUrl: string;
  /** The RTMPS listener, when its certificate files are set. */
  readonly rtmps: { port: number; host: string; certFile: string; keyFile: string } | undefined;
}

/**
 * Applies defaults that depend on other settings.
 * @throws ConfigError naming the variable.
 */
export function deriveIngestConfig(s: IngestSettings): IngestProcessConfig {
  const tls = tlsFilesOf(s, 'RTMPS_TLS');
  return {
    settings: s,
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(natsEnvOf(s))),
    nodeId: s.INGEST_NODE_ID ?? `ingest-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}`,
    relayBaseUrl: s.RELAY_BASE_URL ?? `http://${s.HTTP_HOST}:${s.HTTP_PORT}`,
    rtmps: tls ? { port: s.RTMPS_PORT, host: s.RTMPS_HOST ?? s.RTMP_HOST, ...tls } : undefined,
  };
}
