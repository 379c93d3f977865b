/** Small display helpers shared by the pages. */

/** "3 min ago" style relative time for an ISO timestamp, relative to `now` (ms since epoch). */
export function timeAgo(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  return new Date(t).toLocaleDateString();
}

/** "1:02:03" / "4:05" duration between two ISO timestamps; '' when either is missing/invalid. */
export function duration(startIso: string, endIso: string | null): string {
  if (endIso === null) return '';
  const ms = Date.parse(endIso) - Date.parse(startIso);
  if (!Number.isFinite(ms) || ms < 0) return '';
  return clockDuration(ms / 1000);
}

/** "1:02:03" / "4:05" for a duration in seconds (rounded to the second); '' when negative or not finite. */
export function clockDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
