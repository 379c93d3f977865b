/**
 * Keyboard shortcuts of the player page, as YouTube and Twitch viewers know them: space or k
 * play/pause, f fullscreen, m mute, t theatre mode, ← / → seek 5 s, ↑ / ↓ volume ±10 %.
 * {@link shortcutFor} is pure (unit-tested); {@link applyShortcut} acts on a video element.
 */

/** What a key does on the player page. */
export type PlayerShortcut = 'toggle-play' | 'fullscreen' | 'mute' | 'theatre' | 'seek-back' | 'seek-forward' | 'volume-up' | 'volume-down';

/** The parts of a `KeyboardEvent` {@link shortcutFor} reads. */
export interface ShortcutKey {
  readonly key: string;
  readonly ctrlKey?: boolean;
  readonly metaKey?: boolean;
  readonly altKey?: boolean;
  /** Tag name of the focused element (`INPUT`, `TEXTAREA`, `SELECT`, `BUTTON`, …), if any. */
  readonly targetTag?: string;
  /** The focused element is content-editable. */
  readonly targetEditable?: boolean;
}

const KEYS: Readonly<Record<string, PlayerShortcut>> = {
  ' ': 'toggle-play', k: 'toggle-play', f: 'fullscreen', m: 'mute', t: 'theatre',
  ArrowLeft: 'seek-back', ArrowRight: 'seek-forward', ArrowUp: 'volume-up', ArrowDown: 'volume-down',
};

/** Seconds an arrow key seeks. */
export const SEEK_STEP_SECONDS = 5;
/** Volume an arrow key changes (0..1). */
export const VOLUME_STEP = 0.1;

/**
 * The shortcut of a key press, or null: none while typing (text fields, selects,
 * content-editable: the chat box keeps its keys), none with Ctrl, Cmd or Alt (browser
 * shortcuts), and space not on a focused button or link (it activates them).
 */
export function shortcutFor(e: ShortcutKey): PlayerShortcut | null {
  if (e.ctrlKey || e.metaKey || e.altKey || e.targetEditable) return null;
  const tag = e.targetTag?.toUpperCase();
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return null;
  if (e.key === ' ' && (tag === 'BUTTON' || tag === 'A')) return null;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  return KEYS[key] ?? null;
}

/**
 * Applies a shortcut to `video` (`theatre` is the page's: `onTheatre`). Seeking stays within
 * the seekable range (a live stream's DVR window); fullscreen toggles the video's container.
 */
export function applyShortcut(s: PlayerShortcut, video: HTMLVideoElement, onTheatre: () => void): void {
  switch (s) {
    case 'toggle-play':
      if (video.paused) void video.play().catch(() => undefined);
      else video.pause();
      return;
    case 'mute':
      video.muted = !video.muted;
      return;
    case 'fullscreen': {
      const box = video.parentElement ?? video;
      if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
      else void box.requestFullscreen?.().catch(() => undefined);
      return;
    }
    case 'theatre':
      onTheatre();
      return;
    case 'seek-back':
    case 'seek-forward': {
      const r = video.seekable;
      if (r.length === 0) return;
      const to = video.currentTime + (s === 'seek-back' ? -SEEK_STEP_SECONDS : SEEK_STEP_SECONDS);
      video.currentTime = Math.min(r.end(r.length - 1), Math.max(r.start(0), to));
      return;
    }
    case 'volume-up':
    case 'volume-down':
      video.muted = false;
      video.volume = Math.min(1, Math.max(0, Math.round((video.volume + (s === 'volume-up' ? VOLUME_STEP : -VOLUME_STEP)) * 10) / 10));
      return;
  }
}
