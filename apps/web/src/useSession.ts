/** The app's one {@link Session} and the React hook over it. */
import { useSyncExternalStore } from 'react';
import { createBrowserSession, type Session, type SessionState } from './auth';

let instance: Session | null = null;

/** The app's session, created (and its stored sign-in resumed) on first use. Browser only. */
export function appSession(): Session {
  if (!instance) {
    instance = createBrowserSession();
    instance.start();
  }
  return instance;
}

/** The session's state; re-renders on sign-in, sign-out and restore. */
export function useSession(): SessionState {
  const s = appSession();
  return useSyncExternalStore(s.subscribe, s.getState);
}
