import { randomBytes } from 'node:crypto';
import { promises as fsp, type Dirent } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createWriteListeners } from './listeners.js';
import { InvalidStorageKeyError, assertValidKey, resolveKeyPath } from './keys.js';
import {
  CACHE_CONTROL,
  assertCacheControl,
  contentTypeFor,
  defaultCacheControlFor,
  playlistCacheControl,
  type ObjectStorage,
  type StorageObjectInfo,
} from './types.js';

/** Minimal structured logger (pino-compatible subset) used for listener failures. */
export interface StorageLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Options of {@link createLocalStorage}. */
export interface LocalStorageOptions {
  /** Directory holding the objects; created on first write. Relative paths resolve against `process.cwd()`. */
  rootDir: string;
  /** Receives listener exceptions (which never fail a write). Defaults to silence. */
  logger?: StorageLogger;
}

interface Sidecar {
  cacheControl: string;
}

const SIDECAR_SUFFIX = '.meta.json';

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

function maxAge(cacheControl: string): number {
  const m = /max-age=(\d+)/.exec(cacheControl);
  return m ? Number(m[1]) : 0;
}

/**
 * Object storage on a local directory: the embedded default of the platform, and what
 * `apps/edge` serves from in development.
 *
 * Layout: the object `a/b/c.m4s` is the file `<rootDir>/a/b/c.m4s`. Every write goes to a
 * hidden temp file in the same directory and is `rename(2)`d into place, so readers see
 * either the old or the new object, never a torn one (POSIX rename atomicity). A
 * Cache-Control that differs from the key's default ({@link defaultCacheControlFor}), e.g.
 * an ended live playlist, is kept in a hidden sidecar `.<name>.meta.json`; hidden names
 * (starting with `.`) are never valid keys and never listed.
 *
 * Concurrency: safe for many readers and one writer per key; concurrent writers of one key
 * end with one of the written versions.
 */
export function createLocalStorage(options: LocalStorageOptions): ObjectStorage {
  const rootDir = path.resolve(options.rootDir);
  const listeners = createWriteListeners(options.logger);

  const sidecarPath = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}${SIDECAR_SUFFIX}`);
  const tempPath = (file: string) =>
    path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  async function atomicWrite(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = tempPath(file);
    try {
      await write(tmp);
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Writes the content and records its Cache-Control. The sidecar is changed before the
   * content when the new policy is shorter-lived, after it otherwise, so that the window
   * between the two renames can only ever pair content with a SHORTER cache lifetime than
   * it deserves (harmless), never a longer one (a CDN caching a live playlist for a minute).
   */
  async function writeWithCacheControl(key: string, file: string, desired: string, writeContent: () => Promise<void>) {
    const fallback = defaultCacheControlFor(key);
    const side = sidecarPath(file);
    if (desired !== fallback) {
      const writeSidecar = () =>
        atomicWrite(side, (tmp) => fsp.writeFile(tmp, JSON.stringify({ cacheControl: desired } satisfies Sidecar)));
      if (maxAge(desired) < maxAge(fallback)) {
        await writeSidecar();
        await writeContent();
      } else {
        await writeContent();
        await writeSidecar();
      }
    } else if (maxAge(fallback) <= maxAge(CACHE_CONTROL.vodPlaylist)) {
      await fsp.rm(side, { force: true });
      await writeContent();
    } else {
      await writeContent();
      await fsp.rm(side, { force: true });
    }
  }

  async function cacheControlOf(key: string, file: string): Promise<string> {
    try {
      const side = JSON.parse(await fsp.readFile(sidecarPath(file), 'utf8')) as Partial<Sidecar>;
      if (typeof side.cacheControl === 'string') return side.cacheControl;
    } catch {
      // no sidecar (the common case) or an unreadable one: fall back to the default
    }
    return defaultCacheControlFor(key);
  }


  /**
   * Walks the tree below `dir` (whose key prefix is `dirKey`, '' or ending in '/'),
   * descending only into directories that can contain keys starting with `prefix`.
   */
  async function walk(
    dir: string,
    dirKey: string,
    prefix: string,
    onFile: (key: string, file: string) => Promise<void> | void,
    onWholeDir?: (key: string, dirPath: string) => Promise<boolean>,
  ): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue; // temp files, sidecars, anything not a key
      const key = dirKey + entry.name;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        const childPrefix = key + '/';
        if (childPrefix.startsWith(prefix)) {
          if (onWholeDir && (await onWholeDir(key, full))) continue;
          await walk(full, childPrefix, prefix, onFile, onWholeDir);
        } else if (prefix.startsWith(childPrefix)) {
          await walk(full, childPrefix, prefix, onFile, onWholeDir);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        await onFile(key, full);
      }
      // symlinks and other special files are not objects: ignored (and never followed)
    }
  }

  const storage: ObjectStorage = {
    async writeSegment(key, body) {
      const file = resolveKeyPath(rootDir, key);
      let size = 0;
      await writeWithCacheControl(key, file, CACHE_CONTROL.segment, () =>
        atomicWrite(file, async (tmp) => {
          if (typeof body === 'string') {
            await fsp.copyFile(body, tmp);
            size = (await fsp.stat(tmp)).size;
          } else {
            await fsp.writeFile(tmp, body);
            size = body.byteLength;
          }
        }),
      );
      listeners.segmentWritten({ key, size });
    },

    async writePlaylist(key, text, opts) {
      const file = resolveKeyPath(rootDir, key);
      const live = opts?.live ?? true;
      const bytes = Buffer.from(text, 'utf8');
      await writeWithCacheControl(key, file, playlistCacheControl(key, live), () =>
        atomicWrite(file, (tmp) => fsp.writeFile(tmp, bytes)),
      );
      listeners.playlistWritten({ key, size: bytes.byteLength, live });
    },

    async writeObject(key, body, opts) {
      const file = resolveKeyPath(rootDir, key);
      const cacheControl = assertCacheControl(opts?.cacheControl);
      // the sidecar ordering of writeWithCacheControl keeps a poster (max-age=10) from ever
      // being paired with the immutable default of its .jpg extension
      await writeWithCacheControl(key, file, cacheControl, () => atomicWrite(file, (tmp) => fsp.writeFile(tmp, body)));
    },

    async read(key) {
      const file = resolveKeyPath(rootDir, key);
      try {
        return await fsp.readFile(file);
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    },

    async createReadStream(key, range) {
      const file = resolveKeyPath(rootDir, key);
      if (range) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
          throw new RangeError(`invalid byte range ${start}-${end}`);
        }
      }
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(file, 'r');
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
      try {
        const st = await handle.stat();
        if (!st.isFile()) {
          await handle.close();
          return null;
        }
        if (range && (st.size === 0 || range.start >= st.size)) {
          await handle.close();
          return Readable.from([]);
        }
        return handle.createReadStream(
          range ? { start: range.start, end: Math.min(range.end, st.size - 1), autoClose: true } : { autoClose: true },
        );
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw err;
      }
    },

    async stat(key) {
      const file = resolveKeyPath(rootDir, key);
      let st: import('node:fs').Stats;
      try {
        st = await fsp.stat(file);
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
      if (!st.isFile()) return null;
      const info: StorageObjectInfo = {
        key,
        size: st.size,
        lastModified: st.mtime,
        contentType: contentTypeFor(key),
        cacheControl: await cacheControlOf(key, file),
        // inode changes on every atomic (rename) write, so the tag changes with the content
        etag: `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      };
      return info;
    },

    async list(prefix) {
      assertValidKey(prefix, { allowEmpty: true, allowTrailingSlash: true });
      const keys: string[] = [];
      await walk(rootDir, '', prefix, (key) => {
        keys.push(key);
      });
      return keys.sort();
    },

    async delete(prefix) {
      if (prefix === '') throw new InvalidStorageKeyError(prefix, 'empty prefix would delete everything');
      assertValidKey(prefix, { allowTrailingSlash: true });
      await walk(
        rootDir,
        '',
        prefix,
        async (_key, file) => {
          await fsp.rm(file, { force: true });
          await fsp.rm(sidecarPath(file), { force: true });
        },
        async (_key, dirPath) => {
          // every key below this directory matches: remove it with temp files and sidecars
          await fsp.rm(dirPath, { recursive: true, force: true });
          return true;
        },
      );
      // an exact directory prefix without trailing slash ("sessions/abc") is covered by the
      // walk above; nothing else to prune.
    },

    async deleteObjects(keys) {
      // validate everything first: one bad key means nothing is deleted
      const files = [...new Set(keys)].map((key) => resolveKeyPath(rootDir, key));
      const removeOne = async (file: string) => {
        try {
          await fsp.unlink(file); // a directory is not an object: EISDIR counts as missing
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
        await fsp.rm(sidecarPath(file), { force: true });
      };
      // a retention sweep deletes a few dozen segments; 16 at a time keeps file descriptors bounded
      for (let i = 0; i < files.length; i += 16) await Promise.all(files.slice(i, i + 16).map(removeOne));
    },

    onSegmentWritten: listeners.onSegmentWritten,
    onPlaylistWritten: listeners.onPlaylistWritten,
  };
  return storage;
}
