import { useCallback, useState } from 'react';
import { errorMessage } from './api';

/** State of a form's submit action: whether it runs, and the message of its last failure. */
export interface ActionState {
  readonly busy: boolean;
  readonly error: string | null;
  /** Shows a message without running anything (e.g. a client-side check failed). */
  setError(message: string | null): void;
  /**
   * Runs `action`: busy while it runs, the previous error cleared first; a failure becomes
   * `error` (the API's message via `errorMessage`) and is passed to `onError`. Never rejects.
   */
  run(action: () => Promise<void>, onError?: (err: unknown) => void): Promise<void>;
}

/** The busy / error / submit pattern every form of the app shares. */
export function useAction(): ActionState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (action: () => Promise<void>, onError?: (err: unknown) => void) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(errorMessage(err));
      onError?.(err);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}
