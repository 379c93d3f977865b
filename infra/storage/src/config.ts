import { createLocalStorage, type StorageLogger } from './local.js';
import { createS3Storage } from './s3.js';
import type { ObjectStorage } from './types.js';

/** Connection settings of the S3 backend (see {@link createS3Storage} for each field). */
export interface S3StorageConfig {
  /** Base URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`; omit for AWS S3. */
  endpoint?: string;
  bucket: string;
  /** SigV4 signing region, e.g. `us-east-1`. */
  region: string;
  accessKeyId: string;
  /** Never logged or put into error messages. */
  secretAccessKey: string;
  /** Key prefix inside the bucket (e.g. `prod`); default none. */
  prefix?: string;
}

/**
 * Which object storage a process uses: S3 when `s3` is set (it wins over `rootDir`), else the
 * local directory `rootDir`.
 */
export interface ObjectStorageConfig {
  s3?: S3StorageConfig;
  /** Root directory of the local backend ({@link createLocalStorage}). */
  rootDir?: string;
}

/**
 * Creates the {@link ObjectStorage} a config describes: {@link createS3Storage} (path-style URLs
 * when an endpoint is given) when `config.s3` is set, else {@link createLocalStorage} on
 * `config.rootDir`.
 *
 * @param opts.logger receives listener exceptions (pino-compatible `warn`).
 * @throws Error when neither `s3` nor `rootDir` is set, or the S3 settings are incomplete.
 */
export function createObjectStorage(config: ObjectStorageConfig, opts: { logger?: StorageLogger } = {}): ObjectStorage {
  const logger = opts.logger ? { logger: opts.logger } : {};
  if (config.s3) {
    const s3 = config.s3;
    for (const field of ['bucket', 'region', 'accessKeyId', 'secretAccessKey'] as const) {
      if (!s3[field]) throw new Error(`object storage: s3.${field} is required`);
    }
    return createS3Storage({
      bucket: s3.bucket,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      ...(s3.prefix ? { prefix: s3.prefix } : {}),
      ...logger,
    });
  }
  if (config.rootDir) return createLocalStorage({ rootDir: config.rootDir, ...logger });
  throw new Error('object storage is not configured: set STORAGE_DIR (local directory) or S3_BUCKET with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (S3)');
}

/** Variables {@link storageConfigFromEnv} reads for the S3 backend. */
const S3_VARS = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_PREFIX'] as const;

/**
 * Reads the object storage config from environment variables (docs/architecture.md, "Embedded default
 * and production mode"):
 *
 * - S3 when any `S3_*` variable below is set (non-empty): `S3_BUCKET` (required),
 *   `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY` (required), `S3_ENDPOINT` (URL of an
 *   S3-compatible server; unset = AWS S3), `S3_REGION` (default `us-east-1`), `S3_PREFIX`
 *   (optional key prefix). `STORAGE_DIR` is then ignored.
 * - otherwise `STORAGE_DIR` (local directory backend);
 * - with neither, `{}`: the caller applies its own default or lets {@link createObjectStorage}
 *   report the missing configuration; with `opts.required`, an Error naming `STORAGE_DIR`.
 *
 * `env` is the process environment or a loaded configuration (non-string values are ignored).
 *
 * @throws Error naming the missing or malformed variable when S3 is half-configured (e.g.
 *   `S3_ENDPOINT` without `S3_BUCKET`, `S3_BUCKET` without credentials, an `S3_ENDPOINT` that is
 *   not an http(s) URL). Messages never contain the secret key.
 */
export function storageConfigFromEnv(env: Readonly<Record<string, unknown>>, opts: { required?: boolean } = {}): ObjectStorageConfig {
  const get = (name: string): string | undefined => {
    const value = typeof env[name] === 'string' ? env[name].trim() : '';
    return value ? value : undefined;
  };
  const setS3 = S3_VARS.filter((name) => get(name) !== undefined);
  if (setS3.length > 0) {
    const bucket = get('S3_BUCKET');
    if (!bucket) throw new Error(`S3_BUCKET is required when ${setS3.join(', ')} ${setS3.length === 1 ? 'is' : 'are'} set`);
    const accessKeyId = get('S3_ACCESS_KEY_ID');
    const secretAccessKey = get('S3_SECRET_ACCESS_KEY');
    const missing = [accessKeyId ? null : 'S3_ACCESS_KEY_ID', secretAccessKey ? null : 'S3_SECRET_ACCESS_KEY'].filter(Boolean);
    if (!accessKeyId || !secretAccessKey) throw new Error(`S3_BUCKET=${bucket} is set but ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not: S3 storage needs credentials`);
    const endpoint = get('S3_ENDPOINT');
    if (endpoint !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(endpoint);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new Error(`S3_ENDPOINT must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`);
      }
    }
    const prefix = get('S3_PREFIX');
    return {
      s3: {
        bucket,
        region: get('S3_REGION') ?? 'us-east-1',
        accessKeyId,
        secretAccessKey,
        ...(endpoint ? { endpoint } : {}),
        ...(prefix ? { prefix } : {}),
      },
    };
  }
  const rootDir = get('STORAGE_DIR');
  if (!rootDir && opts.required) throw new Error(STORAGE_REQUIRED);
  return rootDir ? { rootDir } : {};
}

/** What {@link storageConfigFromEnv} with `required` says when neither backend is configured. */
const STORAGE_REQUIRED = 'STORAGE_DIR (a local directory) or S3_BUCKET (with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY) is required: segments, playlists and recordings live there';
