/**
 * The projector process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link projectorConfigSchema}).
 */
import { Type, type Static } from '@sinclair/typebox';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import { Host, List, Port, Secret, checkSettings, clickhouseClientSettings, databaseSettings, logSettings, natsSettings } from '@live/runtime';
import { PROJECTIONS, parseProjections, type Projection } from './leases.js';
import { DEFAULT_RETRY_POLICY, retrySchedule } from './webhook-schedule.js';
import { DEFAULT_WEBHOOK_DELIVERY, type WebhookDeliverySettings } from './webhooks.js';

/** Environment variables of `apps/projector` (keys are the variable names). */
export const projectorConfigSchema = Type.Object({
  HTTP_PORT: Port('TCP port of `/healthz` and `/metrics`; 0 picks a free one.', 0, true),
  HTTP_HOST: Host('Interface of `/healthz` and `/metrics`.'),
  ...databaseSettings,
  ...natsSettings,
  ...clickhouseClientSettings,
  CHDB_PATH: Type.Optional(Type.String({ minLength: 1, description: 'Embedded mode without `CLICKHOUSE_URL`: directory of the chDB analytics store this process owns.', defaultText: '`<DATA_DIR>/chdb`' })),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1, description: 'Embedded mode: data directory holding `chdb/` when `CHDB_PATH` is unset.' })),
  CLICKHOUSE_HTTP_PORT: Type.Optional(Port('Embedded mode: serve the chDB store over ClickHouse\'s HTTP interface on this port (0: any free one), for the API and analysts.', undefined, true)),
  CLICKHOUSE_HTTP_HOST: Host('Embedded mode: interface of that HTTP endpoint.'),
  CLICKHOUSE_HTTP_READER_USER: Type.String({ minLength: 1, default: 'reader', description: 'Embedded mode: the endpoint\'s read-only user (the API, analysts).' }),
  CLICKHOUSE_HTTP_READER_PASSWORD: Type.Optional(Secret('Embedded mode: password of the read-only user.', 8)),
  CLICKHOUSE_HTTP_WRITER_USER: Type.String({ minLength: 1, default: 'writer', description: 'Embedded mode: the endpoint\'s writing user (the CLI\'s analytics replay).' }),
  CLICKHOUSE_HTTP_WRITER_PASSWORD: Type.Optional(Secret('Embedded mode: password of the writing user.', 8)),
  PROJECTOR_PROJECTIONS: List('Projections this process runs, each only while it holds the projection\'s lease in the NATS KV bucket `leases` (of several processes, one runs each; another takes over within seconds): `readmodels`, `analytics`, `presence`, `webhooks` (sends the webhook deliveries); `none` runs none (a process that only owns the chDB directory and serves it over HTTP).', {
    default: [...PROJECTIONS], itemPattern: '^(readmodels|analytics|presence|webhooks|none)$', itemText: '`readmodels`, `analytics`, `presence`, `webhooks`, or `none`',
  }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({ minimum: 1, default: DEFAULT_RETRY_POLICY.baseMs, description: 'Webhooks: delay before the first retry of a failed delivery, ms; each further retry waits twice as long, up to `WEBHOOK_RETRY_MAX_DELAY_MS`.' }),
  WEBHOOK_RETRY_MAX_DELAY_MS: Type.Integer({ minimum: 1, default: DEFAULT_RETRY_POLICY.maxDelayMs, description: 'Webhooks: longest wait between two attempts of a delivery, ms (at least `WEBHOOK_RETRY_BASE_MS`).' }),
  WEBHOOK_RETRY_SPAN_MS: Type.Integer({ minimum: 1, default: DEFAULT_RETRY_POLICY.spanMs, description: 'Webhooks: a delivery is retried until its waits add up to this, ms (24 h); then its endpoint is disabled with the last error as the reason.' }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: DEFAULT_WEBHOOK_DELIVERY.timeoutMs, description: 'Webhooks: an attempt without a complete answer within this many ms fails.' }),
  WEBHOOK_POLL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: DEFAULT_WEBHOOK_DELIVERY.pollMs, description: 'Webhooks: how often due retries are looked for, ms (new events are sent at once).' }),
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: DEFAULT_WEBHOOK_DELIVERY.concurrency, description: 'Webhooks: endpoints sent to at once (each endpoint gets one delivery at a time, in order).' }),
  ...logSettings,
});

/** The projector's settings as loaded. */
export type ProjectorSettings = Static<typeof projectorConfigSchema>;

/** What `main.ts` starts the projector with. */
export interface ProjectorProcessConfig {
  readonly settings: ProjectorSettings;
  /** This service's NATS credentials (undefined: anonymous, refused by a locked-down server). */
  readonly natsAuth: NatsAuth | undefined;
  /** The analytics settings as the env-like record `openAnalyticsStore` reads. */
  readonly analyticsEnv: Record<string, string | undefined>;
  /** The projections this process runs (`PROJECTOR_PROJECTIONS`); empty: only the chDB store. */
  readonly projections: readonly Projection[];
  /** How the `webhooks` projection sends (`WEBHOOK_*`). */
  readonly webhooks: WebhookDeliverySettings;
}

const ANALYTICS_KEYS = [
  'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DATABASE', 'CHDB_PATH', 'DATA_DIR', 'CLICKHOUSE_HTTP_PORT', 'CLICKHOUSE_HTTP_HOST',
  'CLICKHOUSE_HTTP_READER_USER', 'CLICKHOUSE_HTTP_READER_PASSWORD', 'CLICKHOUSE_HTTP_WRITER_USER', 'CLICKHOUSE_HTTP_WRITER_PASSWORD',
] as const;

/**
 * Collects the NATS credentials, the analytics store's settings, the projections to run and
 * the webhook delivery settings.
 * @throws ConfigError naming the variable.
 */
export function deriveProjectorConfig(s: ProjectorSettings): ProjectorProcessConfig {
  return {
    settings: s,
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    analyticsEnv: Object.fromEntries(ANALYTICS_KEYS.map((k) => [k, s[k] === undefined ? undefined : String(s[k])])),
    projections: checkSettings('PROJECTOR_PROJECTIONS', () => parseProjections(s.PROJECTOR_PROJECTIONS)),
    webhooks: {
      retry: checkSettings('WEBHOOK_RETRY_MAX_DELAY_MS', () => {
        const retry = { baseMs: s.WEBHOOK_RETRY_BASE_MS, maxDelayMs: s.WEBHOOK_RETRY_MAX_DELAY_MS, spanMs: s.WEBHOOK_RETRY_SPAN_MS };
        retrySchedule(retry);
        return retry;
      }),
      timeoutMs: s.WEBHOOK_TIMEOUT_MS, pollMs: s.WEBHOOK_POLL_MS, concurrency: s.WEBHOOK_CONCURRENCY,
    },
  };
}
