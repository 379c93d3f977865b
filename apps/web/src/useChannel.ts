/** `GET /api/channels/{channelId}` as the current user sees it (with `following` when signed in). */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, errorMessage } from './api';
import { channelApiPath, isChannelView, type ChannelView } from './platform';
import { appSession, useSession } from './useSession';

/** What {@link useChannel} returns. */
export interface ChannelHandle {
  /** null until loaded, and when the channel does not exist. */
  readonly channel: ChannelView | null;
  readonly notFound: boolean;
  readonly error: string | null;
  /** Loads the channel again (after following, editing…). */
  readonly reload: () => Promise<void>;
  /** Replaces the shown channel (optimistic updates); `reload` brings the server's truth. */
  readonly patch: (p: Partial<ChannelView>) => void;
}

/**
 * Loads a channel (null `channelId`: nothing), again whenever the signed-in user changes, so
 * `following` is always the current user's.
 */
export function useChannel(channelId: string | null): ChannelHandle {
  const { status, user } = useSession();
  const viewer = status === 'restoring' ? undefined : (user?.userId ?? null);
  const [channel, setChannel] = useState<ChannelView | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const seq = useRef(0);

  const load = useCallback(async () => {
    if (channelId === null || viewer === undefined) return;
    const mine = ++seq.current;
    try {
      const body = await appSession().request(channelApiPath(channelId), { auth: 'optional' });
      if (mine !== seq.current) return;
      if (!isChannelView(body)) throw new ApiError(`GET ${channelApiPath(channelId)}: unexpected response`, 'shape');
      setChannel(body);
      setNotFound(false);
      setError(null);
    } catch (err) {
      if (mine !== seq.current) return;
      const missing = err instanceof ApiError && err.status === 404;
      setNotFound(missing);
      if (missing) setChannel(null);
      setError(missing ? null : errorMessage(err));
    }
  }, [channelId, viewer]);

  useEffect(() => {
    void load();
    return () => {
      seq.current += 1; // drop answers for the previous channel or user
    };
  }, [load]);

  const patch = useCallback((p: Partial<ChannelView>) => setChannel((c) => (c ? { ...c, ...p } : c)), []);
  return { channel, notFound, error, reload: load, patch };
}
