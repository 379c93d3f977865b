/**
 * The S3 backend against a real S3-compatible server: MinIO started by the test harness
 * (`startMinio` from @live/dev; binary installed by `bash infra/dev/bin/ensure.sh`).
 *
 * `startMinio` is imported from the @live/dev source by relative path, not as a package: a
 * devDependency of @live/storage on @live/dev would close the workspace cycle
 * @live/storage -> @live/dev -> @live/media -> @live/storage.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMinio, type MinioHandle } from '../../dev/src/services/minio.js';
import {
  CACHE_CONTROL,
  InvalidStorageKeyError,
  createObjectStorage,
  createS3Storage,
  storageConfigFromEnv,
  type S3ObjectStorage,
  type S3StorageOptions,
} from '../src/index.js';
import { describeObjectStorageContract } from './contract.js';

let minio: MinioHandle;
let raw: S3Client;
let bucketSeq = 0;
const open: S3ObjectStorage[] = [];

function options(extra: Partial<S3StorageOptions> & { bucket: string }): S3StorageOptions {
  return {
    endpoint: minio.endpoint,
    region: minio.region,
    accessKeyId: minio.accessKeyId,
    secretAccessKey: minio.secretAccessKey,
    ...extra,
  };
}

/** A storage on a fresh bucket (created), closed after the file. */
async function freshStorage(extra: Partial<S3StorageOptions> = {}): Promise<S3ObjectStorage> {
  const storage = createS3Storage(options({ bucket: `live-test-${process.pid}-${++bucketSeq}`, ...extra }));
  open.push(storage);
  await storage.ensureBucket();
  return storage;
}

/** Every object name in a bucket, raw (with any store prefix). */
async function rawNames(bucket: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await raw.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
    for (const obj of page.Contents ?? []) if (obj.Key) names.push(obj.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return names;
}

beforeAll(async () => {
  minio = await startMinio();
  raw = new S3Client({
    endpoint: minio.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
  });
}, 90_000);

afterAll(async () => {
  for (const storage of open) storage.close();
  raw?.destroy();
  await minio?.stop();
});

// The whole contract, each test on its own bucket with a key prefix; afterwards every object in
// the bucket must lie under that prefix (the prefix never leaks).
describeObjectStorageContract(
  's3 (minio)',
  async () => {
    const storage = await freshStorage({ prefix: 'deploy-a' });
    return {
      storage,
      cleanup: async () => {
        for (const name of await rawNames(storage.bucket)) expect(name.startsWith('deploy-a/')).toBe(true);
      },
    };
  },
  { timeoutMs: 60_000 },
);

describe('s3 backend specifics', { timeout: 30_000 }, () => {
  it('stores Content-Type and Cache-Control as object metadata, as a CDN fetching from the bucket sees them', async () => {
    const storage = await freshStorage();
    await storage.writeSegment('s/720p/seg_00001.m4s', Buffer.from('media'));
    await storage.writePlaylist('s/720p/index.m3u8', '#EXTM3U\n');
    await storage.writePlaylist('s/720p/ended.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false });

    const seg = await raw.send(new GetObjectCommand({ Bucket: storage.bucket, Key: 's/720p/seg_00001.m4s' }));
    expect(seg.ContentType).toBe('video/iso.segment');
    expect(seg.CacheControl).toBe(CACHE_CONTROL.segment);
    expect(await seg.Body?.transformToString()).toBe('media');
    const live = await raw.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: 's/720p/index.m3u8' }));
    expect(live).toMatchObject({ ContentType: 'application/vnd.apple.mpegurl', CacheControl: 'public, max-age=1', ContentLength: 8 });
    const ended = await raw.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: 's/720p/ended.m3u8' }));
    expect(ended.CacheControl).toBe('public, max-age=60');
  });

  it('reports the ETag S3 computed: the quoted MD5 of a single-PUT object', async () => {
    const storage = await freshStorage();
    const body = randomBytes(4096);
    await storage.writeSegment('e/seg.m4s', body);
    const info = await storage.stat('e/seg.m4s');
    expect(info?.etag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    const head = await raw.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: 'e/seg.m4s' }));
    expect(info?.etag).toBe(head.ETag);
    expect(info?.lastModified.getTime()).toBe(head.LastModified?.getTime());
  });

  it('lists only addressable keys but deletes everything under a prefix, including objects written by other tools', async () => {
    const storage = await freshStorage();
    await storage.writeSegment('x/seg.m4s', Buffer.from('a'));
    // a console's "folder" marker (empty, name ending in /) and dot-names our keys never use
    await raw.send(new PutObjectCommand({ Bucket: storage.bucket, Key: 'x/', Body: new Uint8Array(0) }));
    for (const Key of ['x/.hidden', 'x/.tmp/part']) {
      await raw.send(new PutObjectCommand({ Bucket: storage.bucket, Key, Body: 'other tool' }));
    }
    expect(await storage.list('x/')).toEqual(['x/seg.m4s']);
    expect((await rawNames(storage.bucket)).sort()).toEqual(['x/', 'x/.hidden', 'x/.tmp/part', 'x/seg.m4s']);
    await storage.delete('x/');
    expect(await rawNames(storage.bucket)).toEqual([]);
  });

  it('keeps deployments apart by key prefix in one bucket', async () => {
    const a = await freshStorage({ prefix: 'a' });
    const b = createS3Storage(options({ bucket: a.bucket, prefix: 'b/' }));
    open.push(b);
    await a.writeSegment('s/seg.m4s', Buffer.from('from a'));
    await b.writeSegment('s/seg.m4s', Buffer.from('from b'));
    expect((await a.read('s/seg.m4s'))?.toString()).toBe('from a');
    expect((await b.read('s/seg.m4s'))?.toString()).toBe('from b');
    expect(await a.list('')).toEqual(['s/seg.m4s']);
    await a.delete('s/');
    await a.deleteObjects(['s/seg.m4s']);
    expect(await a.list('')).toEqual([]);
    expect((await b.read('s/seg.m4s'))?.toString()).toBe('from b');
    expect((await rawNames(a.bucket)).sort()).toEqual(['b/s/seg.m4s']);
  });

  it('propagates errors other than a missing object: missing bucket, wrong credentials', async () => {
    const noBucket = createS3Storage(options({ bucket: 'live-test-does-not-exist' }));
    const wrongKey = createS3Storage(options({ bucket: (await freshStorage()).bucket, secretAccessKey: 'not-the-secret-key' }));
    open.push(noBucket, wrongKey);
    await expect(noBucket.read('a/seg.m4s')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(noBucket.createReadStream('a/seg.m4s')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(noBucket.list('a/')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(noBucket.writeSegment('a/seg.m4s', Buffer.from('x'))).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(wrongKey.read('a/seg.m4s')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    await expect(wrongKey.stat('a/seg.m4s')).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    await expect(wrongKey.writePlaylist('a/index.m3u8', '#EXTM3U\n')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    await expect(wrongKey.deleteObjects(['a/seg.m4s'])).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
  });

  it('refuses invalid keys before any request (a server that is not there is never contacted)', async () => {
    const offline = createS3Storage({ endpoint: 'http://127.0.0.1:1', bucket: 'b', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 'b', maxAttempts: 1 });
    open.push(offline);
    for (const call of [
      () => offline.read('../x.m4s'),
      () => offline.stat('a//b.m4s'),
      () => offline.writeSegment('/abs.m4s', Buffer.from('x')),
      () => offline.writePlaylist('a\\b.m3u8', ''),
      () => offline.createReadStream('.hidden'),
      () => offline.list('../'),
      () => offline.delete(''),
      () => offline.deleteObjects(['ok.m4s', 'a/../../b.m4s']),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(InvalidStorageKeyError);
    }
    // ...whereas a valid key does reach the (absent) server
    await expect(offline.read('ok.m4s')).rejects.not.toBeInstanceOf(InvalidStorageKeyError);
  });

  it('ensureBucket is idempotent', async () => {
    const storage = await freshStorage();
    await storage.ensureBucket();
    await storage.writeSegment('a.m4s', Buffer.from('x'));
    await storage.ensureBucket();
    expect(await storage.list('')).toEqual(['a.m4s']);
  });

  it('createObjectStorage(storageConfigFromEnv(env)) talks to the S3 server the variables name', async () => {
    const bucket = (await freshStorage()).bucket;
    const storage = createObjectStorage(
      storageConfigFromEnv({
        S3_ENDPOINT: minio.endpoint,
        S3_BUCKET: bucket,
        S3_ACCESS_KEY_ID: minio.accessKeyId,
        S3_SECRET_ACCESS_KEY: minio.secretAccessKey,
        S3_PREFIX: 'env',
        STORAGE_DIR: '/nonexistent/ignored-when-s3-is-set',
      }),
    ) as S3ObjectStorage;
    open.push(storage);
    await storage.writePlaylist('s/index.m3u8', '#EXTM3U\n');
    expect(await rawNames(bucket)).toEqual(['env/s/index.m3u8']);
    expect(await storage.stat('s/index.m3u8')).toMatchObject({ size: 8, cacheControl: 'public, max-age=1' });
  });
});

describe('startMinio (test harness)', { timeout: 90_000 }, () => {
  it('starts an independent server on another free port; stop() ends it and removes its throwaway data', async () => {
    const second = await startMinio();
    try {
      expect(second.endpoint).not.toBe(minio.endpoint);
      expect(second.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(second.accessKeyId).not.toBe(minio.accessKeyId);
      const storage = createS3Storage({ endpoint: second.endpoint, region: second.region, bucket: 'one', accessKeyId: second.accessKeyId, secretAccessKey: second.secretAccessKey });
      open.push(storage);
      await storage.ensureBucket();
      await storage.writeSegment('a.m4s', Buffer.from('x'));
      expect(await storage.list('')).toEqual(['a.m4s']);
      // the first server knows nothing of it
      const first = createS3Storage(options({ bucket: 'one' }));
      open.push(first);
      await expect(first.read('a.m4s')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    } finally {
      await second.stop();
    }
    expect(second.process.isAlive()).toBe(false);
    expect(fs.existsSync(second.dataDir)).toBe(false);
    await second.stop(); // idempotent
  });

  it('keeps an explicit dataDir: a restarted server has the same credentials, buckets and objects', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-minio-kept-'));
    try {
      const first = await startMinio({ dataDir });
      const s1 = createS3Storage({ endpoint: first.endpoint, region: first.region, bucket: 'kept', accessKeyId: first.accessKeyId, secretAccessKey: first.secretAccessKey });
      open.push(s1);
      await s1.ensureBucket();
      await s1.writePlaylist('s/index.m3u8', '#EXTM3U\n');
      await first.stop();
      expect(fs.existsSync(path.join(dataDir, 'data'))).toBe(true);

      const again = await startMinio({ dataDir });
      try {
        expect(again.accessKeyId).toBe(first.accessKeyId);
        const s2 = createS3Storage({ endpoint: again.endpoint, region: again.region, bucket: 'kept', accessKeyId: again.accessKeyId, secretAccessKey: again.secretAccessKey });
        open.push(s2);
        expect((await s2.read('s/index.m3u8'))?.toString()).toBe('#EXTM3U\n');
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
