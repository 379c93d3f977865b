import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from 'react';
import { errorMessage } from './api';
import { appSession } from './useSession';

/** What {@link useApiList} returns. */
export interface ApiList<T> {
  /** The parsed answer; null until the first one arrives. */
  readonly data: T | null;
  /** Replaces the data (optimistic updates); `reload` brings the server's truth. */
  readonly setData: Dispatch<SetStateAction<T | null>>;
  /** The last load's or action's error (`errorMessage`), null after a successful load. */
  readonly error: string | null;
  readonly setError: Dispatch<SetStateAction<string | null>>;
  /** Loads `path` again. Never rejects. */
  readonly reload: () => Promise<void>;
}

/**
 * A dashboard list read from the API as the signed-in user (`auth: 'required'`): `GET path`,
 * `parse`d (a stable function; it throws on a malformed body, shown as the error). Only the
 * newest request's answer is kept: a slower, earlier one never overwrites it. With `pollMs`,
 * read again every `pollMs` milliseconds while mounted; again whenever `path` changes.
 */
export function useApiList<T>(path: string, parse: (body: unknown) => T, pollMs?: number): ApiList<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const body = await appSession().request(path, { auth: 'required' });
      if (mine !== seq.current) return;
      setData(parse(body));
      setError(null);
    } catch (err) {
      if (mine === seq.current) setError(errorMessage(err));
    }
  }, [path, parse]);
  useEffect(() => {
    void reload();
    if (pollMs === undefined) return undefined;
    const timer = setInterval(() => void reload(), pollMs);
    return () => clearInterval(timer);
  }, [reload, pollMs]);
  return { data, setData, error, setError, reload };
}
