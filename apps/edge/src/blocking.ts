import type { ObjectStorage } from '@live/storage';

/**
 * Tells waiting blocking playlist reloads (RFC 8216bis §6.2.5.2) that a playlist changed. One
 * poller per playlist key, shared by every request waiting on it: while anyone waits, the key's
 * metadata (`stat`) is read every `pollMs`, and each waiter whose known ETag differs from the
 * stored one is woken. The edge runs apart from the packager (which writes through its own
 * storage client, possibly to S3), so polling the shared store is how it learns of a new part.
 */
export interface PlaylistWatcher {
  /**
   * Resolves once `key`'s ETag is no longer `knownEtag` (the ETag of the version the caller
   * read; null when it did not exist), or after `maxWaitMs` at the latest. Never rejects: a
   * failing `stat` wakes the waiter (the caller's next read reports the error).
   */
  changed(key: string, knownEtag: string | null): Promise<void>;
  /** Waiters currently registered, all keys together (for tests and metrics). */
  waiting(): number;
}

/**
 * Creates a {@link PlaylistWatcher} over `storage`.
 * @param pollMs how often a watched key is stat'ed, ms (default 50: a tenth of a 0.5 s part).
 * @param maxWaitMs longest a `changed()` call waits, ms (default 1000).
 */
export function createPlaylistWatcher(storage: ObjectStorage, pollMs = 50, maxWaitMs = 1000): PlaylistWatcher {
  const watched = new Map<string, Map<() => void, string | null>>();
  let count = 0;

  function remove(key: string, wake: () => void): void {
    const waiters = watched.get(key);
    if (waiters?.delete(wake)) count--;
  }

  function poll(key: string): void {
    const timer = setTimeout(() => {
      storage.stat(key).then((info) => info?.etag ?? null, () => undefined).then((etag) => {
        const waiters = watched.get(key);
        if (!waiters) return;
        for (const [wake, known] of [...waiters]) if (etag === undefined || etag !== known) wake();
        if (waiters.size === 0) watched.delete(key);
        else poll(key);
      }, () => undefined);
    }, pollMs);
    timer.unref();
  }

  return {
    changed(key, knownEtag) {
      return new Promise<void>((resolve) => {
        let waiters = watched.get(key);
        const start = !waiters;
        if (!waiters) {
          waiters = new Map();
          watched.set(key, waiters);
        }
        const wake = (): void => {
          clearTimeout(timer);
          remove(key, wake);
          resolve();
        };
        const timer = setTimeout(wake, maxWaitMs);
        timer.unref();
        waiters.set(wake, knownEtag);
        count++;
        if (start) poll(key);
      });
    },
    waiting: () => count,
  };
}
