/**
 * Settings several apps share, as TypeBox property records to spread into an app's schema
 * (`Type.Object({ ...natsSettings, ...databaseSettings, API_PORT: Port(…) })`), so that one
 * variable means one thing with one description everywhere (docs/architecture.md,
 * "Embedded default and production mode"). Keys are environment variable names.
 */
import { Type } from '@sinclair/typebox';
import { ConfigError, FilePath, List, LogLevel, Secret, Url } from './config.js';

/** `LOG_LEVEL`. */
export const logSettings = { LOG_LEVEL: LogLevel };

/**
 * NATS: the URL(s) and this service's credentials. Exactly one way to authenticate is used:
 * `NATS_CREDS` (a decentralized-auth `.creds` file), else `NATS_TOKEN`, else `NATS_USER` with
 * `NATS_PASSWORD`. The server refuses anonymous clients in production (docs/architecture.md,
 * "Internal services").
 */
export const natsSettings = {
  NATS_URL: Url('NATS server URL; comma-separated for a cluster (`nats://` plain, `tls://` TLS).', ['nats', 'tls']),
  NATS_USER: Type.Optional(Type.String({ minLength: 1, description: "This service's NATS user name." })),
  NATS_PASSWORD: Type.Optional(Secret("This service's NATS password.")),
  NATS_TOKEN: Type.Optional(Secret('NATS authentication token (instead of a user and password).')),
  NATS_CREDS: Type.Optional(FilePath('NATS credentials file (JWT and NKey seed) for decentralized authentication.')),
  NATS_INBOX_PREFIX: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', patternText: 'a subject token', description: 'Subject prefix of this service\'s request replies; default `_INBOX_<NATS_USER>` with a user (what the platform\'s NATS permissions allow), else `_INBOX`.' })),
  NATS_REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'Copies JetStream keeps of each platform stream and key-value bucket: 1 on a single nats-server, 3 on a three-server cluster (survives the loss of one).' }),
};

/** `DATABASE_URL`: the PostgreSQL of the read models. */
export const databaseSettings = {
  DATABASE_URL: Url('PostgreSQL connection URL of the read models (`sslmode=` and credentials as libpq takes them).', ['postgres', 'postgresql'], { secret: true }),
};

/**
 * `RESTREAM_KEY_SECRET`: the secret restream destination keys are sealed under (AES-256-GCM,
 * `@live/auth` `restreamSealingKey`): the API seals, the ingest nodes open. The same value on both.
 */
export const restreamSettings = {
  RESTREAM_KEY_SECRET: Type.Optional(Secret('Secret restream destination keys are encrypted under (base64, or `hex:<hex>`; at least 16 bytes), the same on the API and every ingest node. Without it the API refuses to add destinations and ingest nodes push none.')),
};

/** Temporal: where the frontend is and how to reach it. */
export const temporalSettings = {
  TEMPORAL_ADDRESS: Type.String({ minLength: 1, pattern: '^[^\\s/]+:\\d+$', patternText: 'a `host:port` address', description: 'Temporal frontend gRPC address, `host:port`.' }),
  TEMPORAL_NAMESPACE: Type.String({ minLength: 1, default: 'default', description: 'Temporal namespace of the platform\'s workflows.' }),
  TEMPORAL_TLS_CERT_FILE: Type.Optional(FilePath('Client certificate for mutual TLS to Temporal (with `TEMPORAL_TLS_KEY_FILE`).')),
  TEMPORAL_TLS_KEY_FILE: Type.Optional(FilePath('Private key of `TEMPORAL_TLS_CERT_FILE`.')),
  TEMPORAL_TLS_CA_FILE: Type.Optional(FilePath('CA certificate that signs the Temporal frontend\'s certificate; setting any `TEMPORAL_TLS_*` turns TLS on.')),
  TEMPORAL_TLS_SERVER_NAME: Type.Optional(Type.String({ minLength: 1, description: 'Server name to verify in the Temporal frontend\'s certificate (default: the address\'s host).' })),
  TEMPORAL_API_KEY: Type.Optional(Secret('API key sent as a bearer token to Temporal (Temporal Cloud API-key authentication; turns TLS on).')),
};

/** Object storage: S3 when `S3_BUCKET` is set, else the local directory `STORAGE_DIR` (`storageConfigFromEnv`). */
export const storageSettings = {
  STORAGE_DIR: Type.Optional(Type.String({ minLength: 1, description: 'Local directory of the object storage (segments, playlists, recordings) when S3 is not configured.' })),
  S3_BUCKET: Type.Optional(Type.String({ minLength: 1, description: 'S3 bucket of the object storage; setting it selects S3.' })),
  S3_ENDPOINT: Type.Optional(Url('URL of an S3-compatible server (MinIO, Ceph, R2, …); unset for AWS S3.', ['http', 'https'])),
  S3_REGION: Type.Optional(Type.String({ minLength: 1, defaultText: '`us-east-1`', description: 'SigV4 signing region of the bucket.' })),
  S3_ACCESS_KEY_ID: Type.Optional(Type.String({ minLength: 1, description: 'S3 access key id.' })),
  S3_SECRET_ACCESS_KEY: Type.Optional(Secret('S3 secret access key.')),
  S3_PREFIX: Type.Optional(Type.String({ minLength: 1, description: 'Key prefix inside the bucket (several platforms in one bucket).' })),
};

/**
 * TLS certificate files of a public listener, `<prefix>_CERT_FILE`/`<prefix>_KEY_FILE`;
 * set both to serve TLS. The files are watched and a renewed pair is used without a restart.
 */
export function tlsSettings(prefix: string, what: string) {
  return {
    [`${prefix}_CERT_FILE`]: Type.Optional(FilePath(`PEM certificate chain of ${what}; with \`${prefix}_KEY_FILE\` the listener speaks TLS.`)),
    [`${prefix}_KEY_FILE`]: Type.Optional(FilePath(`PEM private key of \`${prefix}_CERT_FILE\`.`)),
  } as const;
}

/**
 * The items of a list of trusted proxies (`TRUST_PROXY`, the ingest's `RTMP_PROXY_PROTOCOL_FROM`),
 * as `compileProxyTrust` takes them.
 */
export const PROXY_TRUST_ITEMS = {
  itemText: 'IP addresses, CIDRs or `loopback`/`linklocal`/`uniquelocal`',
  itemPattern: '^(loopback|linklocal|uniquelocal|[0-9A-Fa-f:.]+(/\\d{1,3})?)$',
} as const;

/** Addresses whose `X-Forwarded-For` is believed (`TRUST_PROXY`). */
export const trustProxySettings = {
  TRUST_PROXY: Type.Optional(List('Reverse proxies or CDN ranges whose `X-Forwarded-For` gives the client\'s address (rate limits, sign-in throttling, address-bound playback tokens): IP addresses or CIDRs, or `loopback`, `linklocal`, `uniquelocal`. Unset: the TCP peer is the client.', PROXY_TRUST_ITEMS)),
};

/** A ClickHouse HTTP client's endpoint and credentials (`CLICKHOUSE_*`). */
export const clickhouseClientSettings = {
  CLICKHOUSE_URL: Type.Optional(Url('ClickHouse HTTP endpoint of the analytics store (a server, or the embedded projector\'s chDB endpoint).', ['http', 'https'])),
  CLICKHOUSE_USER: Type.Optional(Type.String({ minLength: 1, description: 'ClickHouse user.' })),
  CLICKHOUSE_PASSWORD: Type.Optional(Secret('ClickHouse password.')),
  CLICKHOUSE_DATABASE: Type.Optional(Type.String({ minLength: 1, description: 'ClickHouse database (default: the server\'s `default`).' })),
};


/**
 * The certificate files {@link tlsSettings}`(prefix)` name, or undefined when TLS is off.
 * @throws ConfigError when only one of the pair is set.
 */
export function tlsFilesOf(settings: Record<string, unknown>, prefix: string): { certFile: string; keyFile: string } | undefined {
  const certFile = settings[`${prefix}_CERT_FILE`] as string | undefined;
  const keyFile = settings[`${prefix}_KEY_FILE`] as string | undefined;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    const missing = certFile ? `${prefix}_KEY_FILE` : `${prefix}_CERT_FILE`;
    throw new ConfigError(missing, `${missing} is required when ${certFile ? `${prefix}_CERT_FILE` : `${prefix}_KEY_FILE`} is set: a TLS listener needs both its certificate and its key`);
  }
  return { certFile, keyFile };
}

/**
 * Whether viewers reach an app over HTTPS — its own certificate files, or a `PUBLIC_URL` with
 * `https:` (TLS terminated by a proxy or CDN in front) — which decides Strict-Transport-Security
 * (RFC 6797: only ever sent over HTTPS).
 */
export function servedOverHttps(publicUrl: string | undefined, tls: object | undefined): boolean {
  return tls !== undefined || publicUrl?.startsWith('https:') === true;
}
