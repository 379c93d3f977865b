import path from 'node:path';

/**
 * Thrown when a storage key is not a safe, relative, `/`-separated object key.
 *
 * Every {@link ObjectStorage} method validates its key (or prefix) before touching the
 * backend, so an HTTP edge can pass request paths through and rely on this error for
 * path-traversal safety (map it to 400/404; never echo the key into logs unredacted if it
 * may carry tokens). `reason` is a short machine-readable explanation.
 */
export class InvalidStorageKeyError extends Error {
  override readonly name = 'InvalidStorageKeyError';
  /** Stable error code for HTTP error catalogues. */
  readonly code = 'INVALID_STORAGE_KEY';
  constructor(
    /** The key (or prefix) that was refused. */
    readonly key: string,
    /** Why it was refused, e.g. `"contains .."`. */
    readonly reason: string,
  ) {
    super(`invalid storage key: ${reason}`);
  }
}

/**
 * Validates an object key and returns it unchanged.
 *
 * Rules (stricter than S3 on purpose, so the same keys work on a local file system and on
 * S3, and so no key can address anything outside the storage root):
 * - non-empty string (unless `allowEmpty`, used for `list('')`), at most 1024 bytes (the S3 limit);
 * - `/`-separated, relative: no leading `/`, no Windows drive prefix like `C:`;
 * - no backslash, no NUL or other C0 control character;
 * - no `..` anywhere, no empty segment (`a//b`), no segment starting with `.`
 *   (that namespace holds temp files and metadata sidecars of the local backend).
 * A trailing `/` is allowed only for prefixes (`allowTrailingSlash`).
 *
 * @throws {InvalidStorageKeyError} when any rule is broken.
 */
export function assertValidKey(
  key: string,
  opts: { allowEmpty?: boolean; allowTrailingSlash?: boolean } = {},
): string {
  if (typeof key !== 'string') throw new InvalidStorageKeyError(String(key), 'not a string');
  if (key === '') {
    if (opts.allowEmpty) return key;
    throw new InvalidStorageKeyError(key, 'empty');
  }
  if (Buffer.byteLength(key, 'utf8') > 1024) throw new InvalidStorageKeyError(key, 'longer than 1024 bytes');
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidStorageKeyError(key, 'contains a control character or NUL');
  if (key.includes('\\')) throw new InvalidStorageKeyError(key, 'contains a backslash');
  if (key.includes('..')) throw new InvalidStorageKeyError(key, 'contains ..');
  if (key.startsWith('/')) throw new InvalidStorageKeyError(key, 'is absolute');
  if (/^[A-Za-z]:/.test(key)) throw new InvalidStorageKeyError(key, 'has a drive prefix');
  const body = opts.allowTrailingSlash && key.endsWith('/') ? key.slice(0, -1) : key;
  for (const segment of body.split('/')) {
    if (segment === '') throw new InvalidStorageKeyError(key, 'has an empty path segment');
    if (segment.startsWith('.')) throw new InvalidStorageKeyError(key, 'has a segment starting with "."');
  }
  return key;
}

/**
 * Resolves a validated key to an absolute path below `rootDir` and checks (lexically) that
 * it does not escape it.
 *
 * @param rootDir absolute, normalised root directory.
 * @throws {InvalidStorageKeyError} when the key is invalid or resolves outside `rootDir`.
 */
export function resolveKeyPath(rootDir: string, key: string, opts: { allowEmpty?: boolean; allowTrailingSlash?: boolean } = {}): string {
  assertValidKey(key, opts);
  const resolved = path.resolve(rootDir, key);
  if (resolved !== rootDir && !resolved.startsWith(rootDir + path.sep)) {
    throw new InvalidStorageKeyError(key, 'escapes the storage root');
  }
  return resolved;
}
