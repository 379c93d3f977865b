import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createObjectStorage, storageConfigFromEnv, type S3ObjectStorage } from '../src/index.js';

const creds = { S3_ACCESS_KEY_ID: 'AKIDEXAMPLE', S3_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

describe('storageConfigFromEnv', () => {
  it('reads the local directory from STORAGE_DIR, or nothing', () => {
    expect(storageConfigFromEnv({ STORAGE_DIR: '/var/lib/live/storage' })).toEqual({ rootDir: '/var/lib/live/storage' });
    expect(storageConfigFromEnv({})).toEqual({});
    expect(storageConfigFromEnv({ STORAGE_DIR: '  ', S3_BUCKET: '' })).toEqual({});
  });

  it('reads S3 settings, defaulting the region, and S3 wins over STORAGE_DIR', () => {
    expect(storageConfigFromEnv({ ...creds, S3_BUCKET: 'media', S3_ENDPOINT: 'http://127.0.0.1:9000', STORAGE_DIR: '/x' })).toEqual({
      s3: { bucket: 'media', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', ...{ accessKeyId: creds.S3_ACCESS_KEY_ID, secretAccessKey: creds.S3_SECRET_ACCESS_KEY } },
    });
    expect(storageConfigFromEnv({ ...creds, S3_BUCKET: 'media', S3_REGION: 'eu-central-1', S3_PREFIX: 'prod' })).toEqual({
      s3: { bucket: 'media', region: 'eu-central-1', prefix: 'prod', accessKeyId: creds.S3_ACCESS_KEY_ID, secretAccessKey: creds.S3_SECRET_ACCESS_KEY },
    });
  });

  it('refuses half an S3 configuration with a message naming the variable, never the secret', () => {
    expect(() => storageConfigFromEnv({ S3_BUCKET: 'media' })).toThrow(/S3_BUCKET=media is set but S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are not/);
    expect(() => storageConfigFromEnv({ S3_BUCKET: 'media', S3_ACCESS_KEY_ID: 'AKID' })).toThrow(/S3_SECRET_ACCESS_KEY is not/);
    expect(() => storageConfigFromEnv({ S3_BUCKET: 'media', S3_SECRET_ACCESS_KEY: creds.S3_SECRET_ACCESS_KEY })).toThrow(/S3_ACCESS_KEY_ID is not/);
    expect(() => storageConfigFromEnv({ S3_ENDPOINT: 'http://127.0.0.1:9000', STORAGE_DIR: '/x' })).toThrow(/S3_BUCKET is required when S3_ENDPOINT is set/);
    expect(() => storageConfigFromEnv({ ...creds, S3_BUCKET: 'media', S3_ENDPOINT: '127.0.0.1:9000' })).toThrow(/S3_ENDPOINT must be an http/);
    for (const env of [{ ...creds, S3_ENDPOINT: 'x' }, { ...creds, S3_BUCKET: 'b', S3_ENDPOINT: 'ftp://x' }]) {
      try {
        storageConfigFromEnv(env);
        expect.unreachable();
      } catch (err) {
        expect((err as Error).message).not.toContain(creds.S3_SECRET_ACCESS_KEY);
      }
    }
  });
});

describe('createObjectStorage', () => {
  it('creates the local backend from rootDir', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'live-storage-config-'));
    try {
      const storage = createObjectStorage(storageConfigFromEnv({ STORAGE_DIR: root }));
      await storage.writeSegment('a/seg.m4s', Buffer.from('x'));
      expect(await storage.list('')).toEqual(['a/seg.m4s']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('creates the S3 backend from s3 settings (no request is made until used)', async () => {
    const storage = createObjectStorage({ s3: { bucket: 'media', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', accessKeyId: 'a', secretAccessKey: 'b', prefix: 'prod' } }) as S3ObjectStorage;
    expect(storage.bucket).toBe('media');
    expect(storage.prefix).toBe('prod/');
    storage.close();
    storage.close(); // idempotent
    await expect(storage.read('a/seg.m4s')).rejects.toThrow(/closed/);
  });

  it('refuses an empty config and an invalid S3 prefix', () => {
    expect(() => createObjectStorage({})).toThrow(/STORAGE_DIR .* S3_BUCKET/);
    expect(() => createObjectStorage({ s3: { bucket: 'b', region: 'r', accessKeyId: 'a', secretAccessKey: 's', prefix: '../x' } })).toThrow(/invalid storage key/);
  });
});
