import { watch, type FSWatcher } from 'node:fs';
import type { MediaLogger } from './publisher.js';

/**
 * Calls `onChange` whenever a file in one of `dirs` is written (Linux inotify through `fs.watch`),
 * so a publisher tailing ffmpeg's output reads a fragment as soon as it is flushed instead of at
 * its next periodic poll (issue 17: up to a poll interval, 100 ms, on every part's latency).
 * The periodic poll stays the fallback: a directory that cannot be watched (inotify limits, a
 * file system without change notification) logs one warning and is only polled.
 *
 * @param dirs existing directories (ffmpeg's per-rendition output directories).
 * @returns a function that stops watching (idempotent). Never throws.
 */
export function watchOutputDirs(dirs: readonly string[], onChange: () => void, logger?: MediaLogger): () => void {
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    try {
      const w = watch(dir, { persistent: false }, () => onChange());
      w.on('error', (err) => {
        logger?.warn?.({ err, dir }, 'output directory watch failed; polling only');
        w.close();
      });
      watchers.push(w);
    } catch (err) {
      logger?.warn?.({ err, dir }, 'output directory cannot be watched; polling only');
    }
  }
  return () => {
    for (const w of watchers.splice(0)) w.close();
  };
}
