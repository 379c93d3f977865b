import { createHash } from 'node:crypto';
import { createReadStream as fsCreateReadStream, promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { createWriteListeners } from './listeners.js';
import { InvalidStorageKeyError, assertValidKey } from './keys.js';
import type { StorageLogger } from './local.js';
import {
  CACHE_CONTROL,
  assertCacheControl,
  contentTypeFor,
  defaultCacheControlFor,
  playlistCacheControl,
  type ObjectStorage,
  type StorageObjectInfo,
} from './types.js';

/** Options of {@link createS3Storage}. */
export interface S3StorageOptions {
  /**
   * Base URL of an S3-compatible server, e.g. `http://127.0.0.1:9000` (MinIO) or
   * `https://<account>.r2.cloudflarestorage.com`. Omit for AWS S3 itself (the SDK derives the
   * regional endpoint from `region`).
   */
  endpoint?: string;
  /** Bucket holding the objects; it must exist (see {@link S3ObjectStorage.ensureBucket}). */
  bucket: string;
  /** Signing region (SigV4), e.g. `us-east-1`; S3-compatible servers usually accept `us-east-1`. */
  region: string;
  /**
   * Static credentials. Give both or neither; with neither the SDK's default provider chain is
   * used (`AWS_ACCESS_KEY_ID`, shared config files, container/instance roles).
   */
  accessKeyId?: string;
  /** Secret of {@link accessKeyId}. Never logged. */
  secretAccessKey?: string;
  /**
   * Path-style URLs (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted ones
   * (`<bucket>.<endpoint>/<key>`). Default: `true` when `endpoint` is set (what MinIO,
   * versitygw, SeaweedFS and Ceph RGW accept without DNS setup), `false` for AWS.
   */
  forcePathStyle?: boolean;
  /**
   * Key prefix inside the bucket, so that several deployments can share one bucket: the object
   * `a/b.m4s` is stored as `<prefix>/a/b.m4s`. Must itself be a valid key (see `assertValidKey`);
   * a trailing `/` is added when missing. Default: none (keys at the bucket root).
   */
  prefix?: string;
  /** Receives listener exceptions (which never fail a write). Defaults to silence. */
  logger?: StorageLogger;
  /** Attempts per request including the first, for throttling and 5xx answers (SDK standard retry mode). Default 3. */
  maxAttempts?: number;
}

/**
 * An {@link ObjectStorage} on S3, with the handles an operator or a test needs beyond the
 * common interface.
 */
export interface S3ObjectStorage extends ObjectStorage {
  /**
   * The underlying AWS SDK v3 client, created on first use (for diagnostics; do not destroy it
   * directly, use {@link close}).
   */
  getClient(): Promise<S3Client>;
  /** The bucket name. */
  readonly bucket: string;
  /** The normalised key prefix (`''` or ending in `/`). */
  readonly prefix: string;
  /**
   * Creates the bucket when it does not exist yet (S3 `CreateBucket`; an existing bucket owned
   * by these credentials is fine). For tests and first-run bootstrap; production buckets are
   * provisioned by infrastructure code.
   *
   * @throws the SDK's `S3ServiceException` when the bucket belongs to someone else
   *   (`BucketAlreadyExists`) or creation is refused.
   */
  ensureBucket(): Promise<void>;
  /**
   * Releases the client's pooled sockets. Idempotent; afterwards every method rejects with an
   * Error saying the storage is closed.
   */
  close(): void;
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdkPromise: Promise<Sdk> | undefined;
/**
 * The SDK is loaded on first use, not when `@live/storage` is imported: it takes a few hundred
 * milliseconds to load, which every process on the local backend (and every test file) would
 * otherwise pay for nothing.
 */
const loadSdk = (): Promise<Sdk> => (sdkPromise ??= import('@aws-sdk/client-s3'));

/** `DeleteObjects` accepts at most 1000 keys per request (S3 API reference, DeleteObjects). */
const DELETE_BATCH = 1000;

/** Local files up to this size are uploaded from memory (retryable, Content-MD5 checked); larger ones are streamed. */
const IN_MEMORY_UPLOAD_LIMIT = 16 * 1024 * 1024;

/** S3's limit for a single PUT (S3 user guide, "Uploading objects"); larger objects need multipart upload. */
const SINGLE_PUT_LIMIT = 5 * 1024 * 1024 * 1024;

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/**
 * The object does not exist: `NoSuchKey` (GetObject), `NotFound` (HeadObject, which has no
 * body and therefore no error code). A missing bucket (`NoSuchBucket`) is a configuration
 * error and propagates, except on HEAD where S3 cannot tell the two apart.
 */
function isMissingObject(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return httpStatus(err) === 404 && name !== 'NoSuchBucket';
}

/** Quoted strong entity tag (RFC 9110 §8.8.3) from the ETag S3 returned. */
function strongEtag(etag: string | undefined, fallback: string): string {
  if (!etag) return `"${fallback}"`;
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  return bare.startsWith('"') && bare.endsWith('"') && bare.length >= 2 ? bare : `"${bare.replaceAll('"', '')}"`;
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return '';
  assertValidKey(prefix, { allowTrailingSlash: true });
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * Object storage on S3 or an S3-compatible server (MinIO, versitygw, SeaweedFS, Ceph RGW,
 * Cloudflare R2), through the AWS SDK for JavaScript v3 (`@aws-sdk/client-s3`). Production
 * counterpart of {@link createLocalStorage}, with the same semantics:
 *
 * - writes are single `PutObject` requests, which S3 applies atomically: a reader gets the old or
 *   the new object, never a partial one (S3 user guide, "Amazon S3 data consistency model";
 *   strong read-after-write consistency since 2020-12);
 * - `Content-Type` ({@link contentTypeFor}) and `Cache-Control` ({@link CACHE_CONTROL},
 *   {@link playlistCacheControl}) are stored as object metadata at upload, so a CDN or the edge
 *   reads them back from `HeadObject` / `GetObject`;
 * - `writeObject` is the same single PUT with the caller's `Cache-Control` (live poster, thumbnails);
 * - `stat` maps `HeadObject` (size, Last-Modified, Content-Type, Cache-Control, quoted ETag);
 * - ranges are `GetObject` `Range: bytes=<start>-<end>` (inclusive, RFC 9110 §14.1.2); a start
 *   past the end yields an empty stream, as locally;
 * - `list` pages through `ListObjectsV2` (1000 keys per page) and sorts; objects whose names are
 *   not valid keys (e.g. `dir/` markers made by consoles) are left out, as hidden files are locally;
 * - `delete(prefix)` lists, then `DeleteObjects` in batches of 1000 (every object under the
 *   prefix, valid key or not); `deleteObjects(keys)` deletes exactly the given keys;
 * - keys are validated exactly as locally (`assertValidKey`) before any request.
 *
 * Errors: a missing object (`NoSuchKey`, or 404 on HEAD) is `null`; every other S3 error (access
 * denied, missing bucket, network) propagates as the SDK's error (`S3ServiceException`
 * subclasses with `name` = the S3 error code). Partial `DeleteObjects` failures throw an Error
 * naming the first failed keys and codes.
 *
 * Checksums: the client computes request checksums only where the API requires one
 * (`requestChecksumCalculation: 'WHEN_REQUIRED'`), because the SDK's 2025 default (CRC32 on every
 * upload, aws-chunked trailers for streams) is not understood by several S3-compatible servers;
 * in-memory uploads carry `Content-MD5` instead, which every implementation verifies.
 *
 * Limits: one `PutObject` carries at most 5 GiB; larger local files are refused (multipart
 * upload is not implemented: segments are seconds long, VOD MP4s of a stream day stay well below).
 *
 * @throws {InvalidStorageKeyError} when `prefix` is not a valid key.
 * @throws Error when only one of `accessKeyId` / `secretAccessKey` is given, or `bucket` is empty.
 */
export function createS3Storage(options: S3StorageOptions): S3ObjectStorage {
  if (!options.bucket) throw new Error('createS3Storage: bucket is required');
  if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)) {
    throw new Error('createS3Storage: give both accessKeyId and secretAccessKey, or neither (default AWS credential chain)');
  }
  const bucket = options.bucket;
  const storePrefix = normalisePrefix(options.prefix);
  let closed = false;
  let connection: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  const connect = (): Promise<{ sdk: Sdk; client: S3Client }> => {
    if (closed) return Promise.reject(new Error(`S3 storage for bucket ${bucket} is closed`));
    return (connection ??= loadSdk().then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        region: options.region,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
        ...(options.accessKeyId && options.secretAccessKey
          ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
          : {}),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: options.maxAttempts ?? 3,
      }),
    })));
  };
  const listeners = createWriteListeners(options.logger);

  const objectKey = (key: string) => storePrefix + key;


  async function put(key: string, body: Buffer | Readable, size: number, cacheControl: string): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: bucket,
      Key: objectKey(key),
      Body: body,
      ContentLength: size,
      ContentType: contentTypeFor(key),
      CacheControl: cacheControl,
    };
    if (Buffer.isBuffer(body)) input.ContentMD5 = createHash('md5').update(body).digest('base64');
    const { sdk, client } = await connect();
    await client.send(new sdk.PutObjectCommand(input));
  }

  /** Raw object names (with the store prefix) below `fullPrefix`, in the server's order. */
  async function* listRaw(fullPrefix: string): AsyncGenerator<string[]> {
    const { sdk, client } = await connect();
    let token: string | undefined;
    do {
      const page = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: fullPrefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      const names: string[] = [];
      for (const obj of page.Contents ?? []) if (obj.Key !== undefined) names.push(obj.Key);
      yield names;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** `DeleteObjects` over raw object names, in batches of 1000; missing names are not errors. */
  async function deleteRaw(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const { sdk, client } = await connect();
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      const res = await client.send(
        new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const sample = failed.slice(0, 5).map((e) => `${e.Key ?? '?'}: ${e.Code ?? '?'} ${e.Message ?? ''}`.trim());
        throw new Error(`S3 DeleteObjects failed for ${failed.length} of ${batch.length} keys in bucket ${bucket} (${sample.join('; ')})`);
      }
    }
  }

  const storage: S3ObjectStorage = {
    bucket,
    prefix: storePrefix,

    async getClient() {
      return (await connect()).client;
    },

    async ensureBucket() {
      const { sdk, client } = await connect();
      try {
        await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (errorName(err) === 'BucketAlreadyOwnedByYou') return;
        throw err;
      }
    },

    close() {
      closed = true;
      void connection?.then(({ client }) => client.destroy(), () => undefined);
    },

    async writeSegment(key, body) {
      assertValidKey(key);
      let size: number;
      if (typeof body === 'string') {
        const st = await fsp.stat(body);
        if (!st.isFile()) throw new Error(`writeSegment: ${body} is not a regular file`);
        if (st.size > SINGLE_PUT_LIMIT) throw new RangeError(`writeSegment: ${body} is ${st.size} bytes; one S3 PUT carries at most 5 GiB`);
        size = st.size;
        if (size <= IN_MEMORY_UPLOAD_LIMIT) {
          const bytes = await fsp.readFile(body);
          size = bytes.byteLength; // the file may have changed since stat
          await put(key, bytes, size, CACHE_CONTROL.segment);
        } else {
          await put(key, fsCreateReadStream(body), size, CACHE_CONTROL.segment);
        }
      } else {
        const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        size = bytes.byteLength;
        await put(key, bytes, size, CACHE_CONTROL.segment);
      }
      listeners.segmentWritten({ key, size });
    },

    async writePlaylist(key, text, opts) {
      assertValidKey(key);
      const live = opts?.live ?? true;
      const bytes = Buffer.from(text, 'utf8');
      await put(key, bytes, bytes.byteLength, playlistCacheControl(key, live));
      listeners.playlistWritten({ key, size: bytes.byteLength, live });
    },

    async writeObject(key, body, opts) {
      assertValidKey(key);
      const cacheControl = assertCacheControl(opts?.cacheControl);
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      await put(key, bytes, bytes.byteLength, cacheControl); // stored as the object's Cache-Control metadata
    },

    async read(key) {
      assertValidKey(key);
      const { sdk, client } = await connect();
      try {
        const res = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        if (!res.Body) return Buffer.alloc(0);
        return Buffer.from(await res.Body.transformToByteArray());
      } catch (err) {
        if (isMissingObject(err)) return null;
        throw err;
      }
    },

    async createReadStream(key, range) {
      assertValidKey(key);
      if (range) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
          throw new RangeError(`invalid byte range ${start}-${end}`);
        }
      }
      const { sdk, client } = await connect();
      try {
        const res = await client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket,
            Key: objectKey(key),
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        if (!res.Body) return Readable.from([]);
        // In Node.js the SDK's body is the http.IncomingMessage (a Readable) with SDK mixins.
        return res.Body as Readable;
      } catch (err) {
        if (isMissingObject(err)) return null;
        // 416: the object exists but the range starts at or past its end (or it is empty).
        if (range && (errorName(err) === 'InvalidRange' || httpStatus(err) === 416)) return Readable.from([]);
        throw err;
      }
    },

    async stat(key) {
      assertValidKey(key);
      const { sdk, client } = await connect();
      try {
        const res = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        const size = res.ContentLength ?? 0;
        const lastModified = res.LastModified ?? new Date(0);
        const info: StorageObjectInfo = {
          key,
          size,
          lastModified,
          contentType: res.ContentType ?? contentTypeFor(key),
          cacheControl: res.CacheControl ?? defaultCacheControlFor(key),
          etag: strongEtag(res.ETag, `${size.toString(16)}-${lastModified.getTime().toString(16)}`),
        };
        return info;
      } catch (err) {
        if (isMissingObject(err)) return null;
        throw err;
      }
    },

    async list(prefix) {
      assertValidKey(prefix, { allowEmpty: true, allowTrailingSlash: true });
      const keys: string[] = [];
      for await (const names of listRaw(objectKey(prefix))) {
        for (const name of names) {
          if (!name.startsWith(storePrefix)) continue;
          const key = name.slice(storePrefix.length);
          try {
            assertValidKey(key);
          } catch {
            continue; // not an object this interface can address (e.g. a `dir/` marker)
          }
          keys.push(key);
        }
      }
      return keys.sort();
    },

    async delete(prefix) {
      if (prefix === '') throw new InvalidStorageKeyError(prefix, 'empty prefix would delete everything');
      assertValidKey(prefix, { allowTrailingSlash: true });
      // Collect first, then delete: deleting while paginating is allowed by S3, but not every
      // S3-compatible server keeps continuation tokens stable under concurrent deletes.
      const names: string[] = [];
      for await (const page of listRaw(objectKey(prefix))) names.push(...page);
      await deleteRaw(names);
    },

    async deleteObjects(keys) {
      for (const key of keys) assertValidKey(key);
      await deleteRaw([...new Set(keys)].map(objectKey));
    },

    onSegmentWritten: listeners.onSegmentWritten,
    onPlaylistWritten: listeners.onPlaylistWritten,
  };
  return storage;
}
