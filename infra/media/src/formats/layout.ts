/**
 * The one storage key and URL layout of a session: where the packager, the VOD packager and the
 * thumbnailer write a session's objects, and the paths the edge serves them at. Every app that
 * names a session's objects (worker, edge, API, web app) uses these functions instead of
 * spelling the paths itself.
 *
 * Storage (`<prefix>` is {@link sessionKeyPrefix}, `sessions/<sessionId>`):
 * `<prefix>/master.m3u8` and `<prefix>/<rendition>/index.m3u8` (live), `<rendition>/init_<n>.mp4`,
 * `<rendition>/seg_<msn>.m4s` and its parts `seg_<msn>.part<i>[.a<attempt>].m4s`,
 * `<rendition>/archive_<chunk>.m3u8` (segments that slid out of the DVR window),
 * `<prefix>/vod.m3u8`, `<prefix>/<rendition>/vod.m3u8`, `<prefix>/vod.mp4`, `<prefix>/poster.jpg`,
 * `<prefix>/thumbs/thumbnails.vtt` and `<prefix>/thumbs/sprite_<n>.jpg`.
 *
 * Edge paths: `/sessions/<sessionId>/<rest>` serves `<prefix>/<rest>`; `/live/<channelId>/<rest>`
 * serves the same object of the channel's current live session. The MPEG-DASH manifests are not
 * stored: the edge renders `/live/<channelId>/manifest.mpd` and `/sessions/<sessionId>/vod.mpd`
 * from the playlists beside them, and their segment URLs are the same objects' paths.
 */

/** Storage key prefix of a session's objects: `sessions/<sessionId>`. */
export function sessionKeyPrefix(sessionId: string): string {
  return `sessions/${sessionId}`;
}

/**
 * Storage key of archive playlist `chunk` of a rendition: `<prefix>/<name>/archive_<chunk>.m3u8`,
 * a plain media playlist (no ENDLIST) of the segments with MSN in
 * `[chunk * ARCHIVE_CHUNK_SEGMENTS, (chunk + 1) * ARCHIVE_CHUNK_SEGMENTS)` that slid out of the
 * DVR window. Read by `loadPublisherState` before the live playlist.
 */
export function archivePlaylistKey(keyPrefix: string, name: string, chunk: number): string {
  return `${keyPrefix}/${name}/archive_${chunk}.m3u8`;
}

/** Storage key of a rendition's live media playlist: `<prefix>/<name>/index.m3u8`. */
export function mediaPlaylistKey(keyPrefix: string, name: string): string {
  return `${keyPrefix}/${name}/index.m3u8`;
}

/** Storage key of the live master playlist: `<prefix>/master.m3u8`. */
export function masterPlaylistKey(keyPrefix: string): string {
  return `${keyPrefix}/master.m3u8`;
}

/** Storage key of a rendition's VOD playlist: `<prefix>/<name>/vod.m3u8`. */
export function vodPlaylistKey(keyPrefix: string, name: string): string {
  return `${keyPrefix}/${name}/vod.m3u8`;
}

/** Storage key of the VOD master playlist: `<prefix>/vod.m3u8`. */
export function vodMasterKey(keyPrefix: string): string {
  return `${keyPrefix}/vod.m3u8`;
}

/** Storage key of the progressive download: `<prefix>/vod.mp4`. */
export function vodMp4Key(keyPrefix: string): string {
  return `${keyPrefix}/vod.mp4`;
}

/** Storage key of a session's live poster: `<prefix>/poster.jpg` (e.g. `sessions/<sessionId>/poster.jpg`). */
export function posterKey(keyPrefix: string): string {
  return `${keyPrefix}/poster.jpg`;
}

/** Storage key of a VOD's thumbnails track: `<prefix>/thumbs/thumbnails.vtt`. */
export function thumbnailsVttKey(keyPrefix: string): string {
  return `${keyPrefix}/thumbs/thumbnails.vtt`;
}

/** File name of sprite sheet `n` (0-based), as the cues name it (relative to the track): `sprite_<n>.jpg`. */
export function spriteName(n: number): string {
  return `sprite_${n}.jpg`;
}

/** Storage key of sprite sheet `n` (0-based): `<prefix>/thumbs/sprite_<n>.jpg`. */
export function spriteKey(keyPrefix: string, n: number): string {
  return `${keyPrefix}/thumbs/${spriteName(n)}`;
}

/**
 * The packager's part URI: `seg_<msn, 5 digits>.part<index>.m4s` (e.g. `seg_00012.part3.m4s`),
 * next to the segment `seg_00012.m4s` it is a byte range of; a resumed attempt's parts carry
 * `.a<attempt>` before `.m4s` (`attempt` 2: `seg_00012.part3.a2.m4s`), so no name is reused.
 * `attempt` 0 (the default) means no suffix. {@link parseLlPartUri} reads it back.
 */
export function llPartUri(msn: number, index: number, attempt = 0): string {
  return `seg_${String(msn).padStart(5, '0')}.part${index}${attempt > 0 ? `.a${attempt}` : ''}.m4s`;
}

/**
 * Reads a part URI of the packager's naming back: {@link llPartUri}'s `seg_00012.part3.m4s`, or
 * a resumed attempt's `seg_00012.part3.a2.m4s` (`attempt` 2; 0 without the suffix). Null for
 * any other name (segments, playlists, foreign names).
 */
export function parseLlPartUri(uri: string): { msn: number; index: number; attempt: number } | null {
  const m = /^seg_(\d{5,9})\.part(\d{1,4})(?:\.a([1-9]\d{0,5}))?\.m4s$/.exec(uri);
  return m ? { msn: Number(m[1]), index: Number(m[2]), attempt: m[3] ? Number(m[3]) : 0 } : null;
}

/** The packager's segment URI: `seg_<msn, 5 digits>.m4s` (the same names ffmpeg's hls muxer used). */
export function llSegmentUri(msn: number): string {
  return `seg_${String(msn).padStart(5, '0')}.m4s`;
}

/** Edge path of a channel's live master playlist: `/live/<channelId>/master.m3u8` (the session live now). */
export function liveMasterPath(channelId: string): string {
  return `/live/${encodeURIComponent(channelId)}/master.m3u8`;
}

/** Edge path of a channel's live poster: `/live/<channelId>/poster.jpg` (rewritten every 10 s while live). */
export function livePosterPath(channelId: string): string {
  return `/live/${encodeURIComponent(channelId)}/poster.jpg`;
}

/** Edge path of a session's VOD master playlist: `/sessions/<sessionId>/vod.m3u8`. */
export function vodMasterPath(sessionId: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}/vod.m3u8`;
}

/** Edge path of a session's poster (its last live poster): `/sessions/<sessionId>/poster.jpg`. */
export function sessionPosterPath(sessionId: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}/poster.jpg`;
}

/** Edge path of a VOD's thumbnails track (`thumbnailsVttKey`): `/sessions/<sessionId>/thumbs/thumbnails.vtt`. */
export function thumbnailsVttPath(sessionId: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}/thumbs/thumbnails.vtt`;
}

/** Name of a live session's MPEG-DASH manifest beside `master.m3u8` (rendered by the edge, not stored). */
export const LIVE_MANIFEST_MPD = 'manifest.mpd';

/** Name of a finished session's MPEG-DASH manifest beside `vod.m3u8` (rendered by the edge, not stored). */
export const VOD_MANIFEST_MPD = 'vod.mpd';

/** Edge path of a channel's live MPEG-DASH manifest: `/live/<channelId>/manifest.mpd` (the session live now). */
export function liveManifestPath(channelId: string): string {
  return `/live/${encodeURIComponent(channelId)}/${LIVE_MANIFEST_MPD}`;
}

/** Edge path of a session's VOD MPEG-DASH manifest: `/sessions/<sessionId>/vod.mpd`. */
export function vodManifestPath(sessionId: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}/${VOD_MANIFEST_MPD}`;
}
