/** Polling hook for `GET /api/streams`. */
import { useEffect, useState } from 'react';
import { fetchStreams, type StreamItem } from './api';

/** How often the list is refreshed, in milliseconds. */
export const POLL_INTERVAL_MS = 5000;

/**
 * State of the polled list. `items` is null until the first successful load and keeps the
 * last good list while later polls fail; `error` is the last poll's error message, or null
 * when the last poll succeeded.
 */
export interface StreamsState {
  readonly items: readonly StreamItem[] | null;
  readonly error: string | null;
  readonly loading: boolean;
}

/**
 * Loads `/api/streams` (only `channelId`'s sessions when given) now and then every
 * {@link POLL_INTERVAL_MS} (the next poll is scheduled after the previous one settles, so slow
 * responses never overlap). Stops on unmount; starts over when `channelId` changes.
 */
export function useStreams(channelId?: string): StreamsState {
  const [state, setState] = useState<StreamsState>({ items: null, error: null, loading: true });

  useEffect(() => {
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const items = await fetchStreams(ctrl.signal, channelId);
        setState({ items, error: null, loading: false });
      } catch (err) {
        if (ctrl.signal.aborted) return;
        const message = err instanceof Error ? err.message : String(err);
        setState((s) => ({ items: s.items, error: message, loading: false }));
      }
      if (!ctrl.signal.aborted) timer = setTimeout(() => void poll(), POLL_INTERVAL_MS);
    };
    void poll();
    return () => {
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [channelId]);

  return state;
}
