import { useEffect, useState, type CSSProperties, type PointerEvent, type RefObject } from 'react';
import { parseThumbnailsVtt, thumbnailsVttPath } from '@live/media/formats';

/**
 * One cue of a thumbnails track: media time `[start, end)` in seconds is previewed by the region
 * `xywh` (pixels from the image's top-left corner) of the image at `url` (absolute, without the
 * fragment); `xywh` is `null` when the cue names a whole image.
 */
export interface ThumbnailCue {
  readonly start: number;
  readonly end: number;
  readonly url: string;
  readonly xywh: { readonly x: number; readonly y: number; readonly w: number; readonly h: number } | null;
}

/** Same-origin URL of a VOD's thumbnails track (written by the worker when it packages the VOD; served by the edge). */
export function thumbnailsVttUrl(sessionId: string): string {
  return thumbnailsVttPath(sessionId);
}

/**
 * Resolves a cue's image reference against the track's URL. A query on the track's URL (e.g. a
 * playback `token`) is carried over to an image URL that has none, so sprites are authorised
 * like the track itself.
 */
function resolveImage(ref: string, baseUrl: string): string {
  const base = new URL(baseUrl);
  const url = new URL(ref, base);
  url.hash = '';
  if (url.search === '' && base.search !== '' && url.origin === base.origin) url.search = base.search;
  return url.href;
}

/**
 * The cues of a WebVTT thumbnails track fetched from `baseUrl` (the track's absolute URL), read
 * by the platform's one parser (`parseThumbnailsVtt` of `@live/media/formats`, the convention of
 * JW Player, video.js and hls.js players: an image URL per cue, usually with a spatial Media
 * Fragment `#xywh=[pixel:]x,y,w,h`, W3C Media Fragments URI 1.0 §4.2.2), with image URLs
 * resolved against `baseUrl`. Never throws for the track's text: malformed cues, NOTE / STYLE /
 * REGION blocks and image references that are not URLs are left out, `percent:` regions are
 * read as whole images, and a text without the `WEBVTT` header gives `[]`. Sorted by start time.
 *
 * @throws TypeError when `baseUrl` is not an absolute URL.
 */
export function thumbnailCuesFrom(text: string, baseUrl: string): ThumbnailCue[] {
  new URL(baseUrl); // throws TypeError early for a relative base
  const cues: ThumbnailCue[] = [];
  for (const c of parseThumbnailsVtt(text, { skipInvalid: true })) {
    let url: string;
    try {
      url = resolveImage(c.uri, baseUrl);
    } catch {
      continue; // not a URL
    }
    cues.push({ start: c.start, end: c.end, url, xywh: c.xywh });
  }
  return cues.sort((x, y) => x.start - y.start);
}

/**
 * The cue previewing media time `time` (seconds): the last cue with `start <= time < end`
 * (binary search over cues sorted by start, as {@link thumbnailCuesFrom} returns them); a time
 * at or past the last cue's end gets the last cue; `null` when there are no cues or `time` is
 * before the first cue or in a gap.
 */
export function cueAt(cues: readonly ThumbnailCue[], time: number): ThumbnailCue | null {
  if (cues.length === 0 || !Number.isFinite(time)) return null;
  let lo = 0;
  let hi = cues.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cues[mid]!.start <= time) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return null;
  const cue = cues[found]!;
  if (time < cue.end || found === cues.length - 1) return cue;
  return null;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h > 0 ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

const PREVIEW_FALLBACK = { w: 160, h: 90 };

/**
 * A seek bar for a VOD with thumbnail previews: a range input bound to the video's position
 * (dragging seeks), and while the pointer is over it, the thumbnail of the hovered time (the
 * cue's sprite region as a CSS background) with that time, above the bar. Loads and parses the
 * track at `vttUrl` (same-origin or absolute; see {@link thumbnailCuesFrom}) once per URL.
 * Renders nothing while the track is loading, when it cannot be fetched (e.g. a VOD packaged
 * before thumbnails existed: 404), or when it has no cues: the video's own controls still seek.
 */
export function SeekPreview({ videoRef, vttUrl }: { videoRef: RefObject<HTMLVideoElement | null>; vttUrl: string }) {
  const [cues, setCues] = useState<readonly ThumbnailCue[]>([]);
  const [duration, setDuration] = useState(0);
  const [position, setPosition] = useState(0);
  const [hover, setHover] = useState<{ time: number; left: number; width: number } | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    setCues([]);
    const absolute = new URL(vttUrl, location.href).href;
    fetch(absolute, { signal: ctrl.signal })
      .then((res) => (res.ok ? res.text() : ''))
      .then((text) => {
        if (!ctrl.signal.aborted) setCues(thumbnailCuesFrom(text, absolute));
      })
      .catch(() => undefined); // no previews: the bar stays hidden
    return () => ctrl.abort();
  }, [vttUrl]);

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    const sync = () => {
      setDuration(Number.isFinite(video.duration) ? video.duration : 0);
      setPosition(video.currentTime);
    };
    sync();
    const events = ['timeupdate', 'durationchange', 'loadedmetadata', 'seeked', 'emptied'] as const;
    for (const e of events) video.addEventListener(e, sync);
    return () => {
      for (const e of events) video.removeEventListener(e, sync);
    };
  }, [videoRef]);

  if (cues.length === 0 || duration <= 0) return null;

  const onMove = (e: PointerEvent<HTMLInputElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    if (rect.width <= 0) return;
    const ratio = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
    setHover({ time: ratio * duration, left: e.clientX - rect.left, width: rect.width });
  };
  const cue = hover ? cueAt(cues, hover.time) : null;
  const box = cue?.xywh ?? PREVIEW_FALLBACK;
  // keep the preview inside the bar's width
  const left = hover ? Math.min(Math.max(hover.left, box.w / 2), Math.max(box.w / 2, hover.width - box.w / 2)) : 0;
  const image: CSSProperties | null = cue
    ? cue.xywh
      ? { backgroundImage: `url("${cue.url}")`, backgroundPosition: `-${cue.xywh.x}px -${cue.xywh.y}px`, backgroundRepeat: 'no-repeat' }
      : { backgroundImage: `url("${cue.url}")`, backgroundSize: 'contain', backgroundPosition: 'center', backgroundRepeat: 'no-repeat' }
    : null;

  return (
    <div className="seek-preview" style={{ position: 'relative', marginTop: 8 }} data-testid="seek-preview">
      {hover && image && (
        <div
          data-testid="seek-preview-thumb"
          data-time={hover.time.toFixed(1)}
          aria-hidden="true"
          style={{ position: 'absolute', bottom: '100%', left, transform: 'translateX(-50%)', marginBottom: 6, pointerEvents: 'none', zIndex: 2 }}
        >
          <div style={{ width: box.w, height: box.h, border: '1px solid #fff8', borderRadius: 4, background: '#000', boxShadow: '0 2px 8px #0008', ...image }} />
          <div style={{ textAlign: 'center', fontSize: '0.8rem', color: '#fff', textShadow: '0 1px 2px #000' }}>{clock(hover.time)}</div>
        </div>
      )}
      <input
        type="range"
        aria-label="Seek"
        data-testid="seek-bar"
        min={0}
        max={duration}
        step={0.1}
        value={Math.min(position, duration)}
        style={{ width: '100%', display: 'block' }}
        onChange={(e) => {
          const video = videoRef.current;
          if (video) video.currentTime = Number(e.target.value);
        }}
        onPointerMove={onMove}
        onPointerLeave={() => setHover(null)}
      />
    </div>
  );
}
