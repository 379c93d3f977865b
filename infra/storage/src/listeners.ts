import type { StorageLogger } from './local.js';
import type { PlaylistWrittenEvent, SegmentWrittenEvent, Unsubscribe } from './types.js';

/**
 * The write callbacks of an {@link ObjectStorage} backend (`onSegmentWritten`,
 * `onPlaylistWritten`) and the functions the backend calls after each successful write. A
 * listener that throws is logged (`warn`, with the key) and never fails the write or the other
 * listeners.
 */
export interface WriteListeners {
  /** Calls every segment listener with `event`. */
  segmentWritten(event: SegmentWrittenEvent): void;
  /** Calls every playlist listener with `event`. */
  playlistWritten(event: PlaylistWrittenEvent): void;
  /** `ObjectStorage.onSegmentWritten`. */
  onSegmentWritten(listener: (event: SegmentWrittenEvent) => void): Unsubscribe;
  /** `ObjectStorage.onPlaylistWritten`. */
  onPlaylistWritten(listener: (event: PlaylistWrittenEvent) => void): Unsubscribe;
}

/** Creates the {@link WriteListeners} of one storage instance; `logger` receives listener exceptions. */
export function createWriteListeners(logger: StorageLogger | undefined): WriteListeners {
  const segment = new Set<(e: SegmentWrittenEvent) => void>();
  const playlist = new Set<(e: PlaylistWrittenEvent) => void>();
  function emit<E extends { key: string }>(listeners: Set<(e: E) => void>, event: E, kind: string): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        logger?.warn({ err, kind, key: event.key }, 'storage listener threw');
      }
    }
  }
  return {
    segmentWritten: (event) => emit(segment, event, 'segment'),
    playlistWritten: (event) => emit(playlist, event, 'playlist'),
    onSegmentWritten(listener) {
      segment.add(listener);
      return () => void segment.delete(listener);
    },
    onPlaylistWritten(listener) {
      playlist.add(listener);
      return () => void playlist.delete(listener);
    },
  };
}
