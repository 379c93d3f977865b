/**
 * The shared ObjectStorage contract (contract.ts) against the local directory backend; the same
 * suite runs against S3 on a real MinIO in s3.int.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalStorage } from '../src/index.js';
import { describeObjectStorageContract } from './contract.js';

describeObjectStorageContract('local', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'live-storage-local-'));
  return {
    storage: createLocalStorage({ rootDir: path.join(root, 'store') }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
