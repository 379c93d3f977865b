/**
 * The ABR ladder: which renditions a live session is transcoded into.
 *
 * Rung sizes and bitrates follow the usual live-streaming ladders (Apple HLS Authoring
 * Specification, Twitch/Owncast defaults), trimmed to what two CPU cores can sustain with
 * x264 `veryfast` while the top rung is a passthrough copy of the source.
 */

/**
 * Name of a rendition: the short side of the picture in pixels + `p`. The standard rungs are
 * `1080p`, `720p`, `480p`, `240p`; a passthrough rendition of an off-ladder source is named after
 * its own size (e.g. `360p`, `900p`).
 */
export type RenditionName = `${number}p`;

/** H.264 profile of a rendition (ITU-T H.264 Annex A.2). */
export type H264Profile = 'high' | 'main' | 'baseline';

/**
 * One output variant of the ladder.
 *
 * - `width`/`height`: output picture size in pixels (even numbers; for passthrough, the
 *   source size).
 * - `videoBitrateKbps`: target average video bitrate (kbit/s, 1000 bit/s); `maxrateKbps` and
 *   `bufsizeKbps`: x264 VBV peak rate and buffer (kbit/s; `-maxrate`/`-bufsize`).
 * - `audioBitrateKbps`: AAC bitrate (kbit/s) of the audio muxed into this variant.
 * - `passthrough`: the video is the source stream copied (`-c:v copy`), not re-encoded.
 * - `profile`/`level`: H.264 profile and level (`"3.1"`), `codecString`: RFC 6381 §3.3
 *   `avc1.PPCCLL` value for the master playlist `CODECS` attribute.
 */
export interface Rendition {
  name: RenditionName;
  width: number;
  height: number;
  videoBitrateKbps: number;
  maxrateKbps: number;
  bufsizeKbps: number;
  audioBitrateKbps: number;
  passthrough: boolean;
  profile: H264Profile;
  level: string;
  codecString: string;
}

/**
 * What is known about the published source (usually from {@link sourceInfoFromProbe}).
 * `codec` is the ffmpeg codec name (`h264`, `hevc`, `aac`, `mp3`, ...); `codecString` the
 * RFC 6381 value when known; `frameRate` in frames/s; bitrates in kbit/s; `sampleRate` in Hz.
 */
export interface SourceInfo {
  video?: { codec: string; codecString?: string; width?: number; height?: number; frameRate?: number; bitrateKbps?: number };
  audio?: { codec: string; codecString?: string; sampleRate?: number; channels?: number; bitrateKbps?: number };
}

/** A rung of the ladder before it is fitted to a source. `shortSide` is the output height for landscape video. */
export interface LadderRung {
  name: RenditionName;
  shortSide: number;
  videoBitrateKbps: number;
  audioBitrateKbps: number;
  profile: H264Profile;
}

/**
 * The standard ladder, highest first: 1080p 6000k High, 720p 3000k Main, 480p 1200k Main,
 * 240p 400k Baseline (the most compatible profile for the smallest rung, which old and
 * low-end devices pick); AAC 128k everywhere so switching variants never changes audio.
 */
export const STANDARD_LADDER: readonly LadderRung[] = [
  { name: '1080p', shortSide: 1080, videoBitrateKbps: 6000, audioBitrateKbps: 128, profile: 'high' },
  { name: '720p', shortSide: 720, videoBitrateKbps: 3000, audioBitrateKbps: 128, profile: 'main' },
  { name: '480p', shortSide: 480, videoBitrateKbps: 1200, audioBitrateKbps: 128, profile: 'main' },
  { name: '240p', shortSide: 240, videoBitrateKbps: 400, audioBitrateKbps: 128, profile: 'baseline' },
];

/** Peak (VBV maxrate) as a multiple of the average: 10% headroom for complex scenes. */
export const MAXRATE_FACTOR = 1.1;
/** VBV buffer as a multiple of the average: 2 s of video, i.e. one segment (`-bufsize`). */
export const BUFSIZE_FACTOR = 2;

/** Passthrough is refused above this source bitrate (kbit/s): viewers could not play it. */
export const MAX_PASSTHROUGH_BITRATE_KBPS = 12_000;

const PROFILE_IDC: Record<H264Profile, number> = { baseline: 66, main: 77, high: 100 };
/**
 * constraint_set flags byte as x264 writes it (verified from x264's avcC): Baseline sets
 * constraint_set0+1 (0xC0, "Constrained Baseline"), Main sets constraint_set1 (0x40), High none.
 */
const CONSTRAINT_FLAGS: Record<H264Profile, number> = { baseline: 0xc0, main: 0x40, high: 0x00 };

/** H.264 Table A-1: level -> max macroblocks/s, max frame size (macroblocks), max video bitrate (kbit/s, Baseline/Main). */
const LEVELS: ReadonlyArray<{ level: string; mbps: number; fs: number; br: number }> = [
  { level: '1.0', mbps: 1485, fs: 99, br: 64 },
  { level: '1.1', mbps: 3000, fs: 396, br: 192 },
  { level: '1.2', mbps: 6000, fs: 396, br: 384 },
  { level: '1.3', mbps: 11880, fs: 396, br: 768 },
  { level: '2.0', mbps: 11880, fs: 396, br: 2000 },
  { level: '2.1', mbps: 19800, fs: 792, br: 4000 },
  { level: '2.2', mbps: 20250, fs: 1620, br: 4000 },
  { level: '3.0', mbps: 40500, fs: 1620, br: 10000 },
  { level: '3.1', mbps: 108000, fs: 3600, br: 14000 },
  { level: '3.2', mbps: 216000, fs: 5120, br: 20000 },
  { level: '4.0', mbps: 245760, fs: 8192, br: 20000 },
  { level: '4.1', mbps: 245760, fs: 8192, br: 50000 },
  { level: '4.2', mbps: 522240, fs: 8704, br: 50000 },
  { level: '5.0', mbps: 589824, fs: 22080, br: 135000 },
  { level: '5.1', mbps: 983040, fs: 36864, br: 240000 },
  { level: '5.2', mbps: 2073600, fs: 36864, br: 240000 },
];

/**
 * The lowest H.264 level (ITU-T H.264 Table A-1) that allows `width`x`height` at
 * `frameRate` fps with a VBV peak of `maxrateKbps` in the given profile (High may use 1.25x
 * the Baseline/Main bitrate, Table A-1 note / A.3.3). Returns e.g. `"3.1"`.
 *
 * @throws {RangeError} when even level 5.2 is not enough.
 */
export function h264Level(width: number, height: number, frameRate: number, maxrateKbps: number, profile: H264Profile): string {
  const frameMbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const mbPerSecond = frameMbs * frameRate;
  const brFactor = profile === 'high' ? 1.25 : 1;
  const found = LEVELS.find((l) => frameMbs <= l.fs && mbPerSecond <= l.mbps && maxrateKbps <= l.br * brFactor);
  if (!found) throw new RangeError(`no H.264 level fits ${width}x${height}@${frameRate} ${maxrateKbps}k`);
  return found.level;
}

/**
 * RFC 6381 §3.3 codec string for H.264 as x264 signals it: `avc1.` + profile_idc,
 * constraint flags and level_idc as two hex digits each. `h264CodecString('main', '3.1')`
 * is `"avc1.4d401f"`.
 */
export function h264CodecString(profile: H264Profile, level: string): string {
  const levelIdc = Math.round(Number(level) * 10);
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(PROFILE_IDC[profile])}${hex(CONSTRAINT_FLAGS[profile])}${hex(levelIdc)}`;
}

/**
 * Parses an `avc1.PPCCLL` / `avc3.PPCCLL` codec string (RFC 6381 §3.3).
 * Returns `undefined` when it is not one.
 */
export function parseAvcCodecString(codecString: string): { profileIdc: number; constraintFlags: number; levelIdc: number } | undefined {
  const m = /^avc[13]\.([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(codecString);
  if (!m) return undefined;
  return { profileIdc: parseInt(m[1]!, 16), constraintFlags: parseInt(m[2]!, 16), levelIdc: parseInt(m[3]!, 16) };
}

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);

/** Output size for a rung: the short side set to `shortSide`, the long side keeping the source aspect ratio (even). */
function fitSize(shortSide: number, srcW: number, srcH: number): { width: number; height: number } {
  if (srcW >= srcH) return { width: even((shortSide * srcW) / srcH), height: shortSide };
  return { width: shortSide, height: even((shortSide * srcH) / srcW) };
}

/**
 * Thrown by {@link selectLadder} for a source the pipeline cannot transcode (no video).
 */
export class UnsupportedSourceError extends Error {
  override readonly name = 'UnsupportedSourceError';
}

/** Options of {@link selectLadder}. */
export interface SelectLadderOptions {
  /** The rungs to fit, highest first. Default {@link STANDARD_LADDER}. */
  rungs?: readonly LadderRung[];
  /** Refuse passthrough above this source bitrate (kbit/s). Default {@link MAX_PASSTHROUGH_BITRATE_KBPS}. */
  maxPassthroughBitrateKbps?: number;
}

/**
 * True when the source video can be the top rendition as is (`-c:v copy`): H.264 in
 * 8-bit 4:2:0 profiles browsers decode (Baseline/Main/High, judged from `codecString` when
 * known), short side <= 1080 and long side <= 1920, <= 60 fps and a sane bitrate.
 */
export function canPassthrough(source: SourceInfo, maxBitrateKbps = MAX_PASSTHROUGH_BITRATE_KBPS): boolean {
  const v = source.video;
  if (!v || v.codec !== 'h264' || !v.width || !v.height) return false;
  if (Math.min(v.width, v.height) > 1080 || Math.max(v.width, v.height) > 1920) return false;
  if (v.frameRate !== undefined && v.frameRate > 60) return false;
  if (v.bitrateKbps !== undefined && v.bitrateKbps > maxBitrateKbps) return false;
  if (v.codecString) {
    const parsed = parseAvcCodecString(v.codecString);
    // 66 Baseline, 77 Main, 100 High; 110 (High 10), 122, 244 are not browser-safe
    if (!parsed || ![66, 77, 100].includes(parsed.profileIdc)) return false;
  }
  return true;
}

/**
 * Fits the ladder to a source, highest rendition first.
 *
 * - Sizes keep the source aspect ratio: the rung's number is the SHORT side, so a portrait
 *   1080x1920 phone stream gets 720x1280, 480x854, ... (16:9 landscape defaults when the
 *   source size is unknown).
 * - Passthrough ({@link canPassthrough}): the top rendition is the source copied, at the
 *   source size, named after the source's short side (a 1080p source -> `1080p`, a 360p source
 *   -> `360p`); every rung shorter than the source is encoded below it.
 * - Otherwise every rung not taller than the source is encoded (1080p @ 6000k for a 4K or
 *   HEVC source).
 * - Never upscales: rungs taller than the source are skipped; when that leaves nothing (a
 *   source smaller than 240p) the smallest rung is kept at the source size.
 * - `level` is the lowest H.264 level for size x frame rate x maxrate ({@link h264Level});
 *   `codecString` is what x264 will signal ({@link h264CodecString}), or the source's for
 *   passthrough.
 *
 * @throws {UnsupportedSourceError} when the source has no video stream.
 */
export function selectLadder(source: SourceInfo, options: SelectLadderOptions = {}): Rendition[] {
  const rungs = options.rungs ?? STANDARD_LADDER;
  const v = source.video;
  if (!v) throw new UnsupportedSourceError('source has no video stream');
  if (rungs.length === 0) throw new RangeError('empty ladder');
  const srcW = v.width ?? 1920;
  const srcH = v.height ?? 1080;
  const srcShort = Math.min(srcW, srcH);
  const fps = v.frameRate && v.frameRate > 0 ? v.frameRate : 30;
  const audioKbps = (rung: LadderRung) =>
    source.audio?.codec === 'aac' && source.audio.bitrateKbps ? source.audio.bitrateKbps : rung.audioBitrateKbps;

  const encoded = (rung: LadderRung, size: { width: number; height: number }): Rendition => {
    const maxrateKbps = Math.round(rung.videoBitrateKbps * MAXRATE_FACTOR);
    const level = h264Level(size.width, size.height, fps, maxrateKbps, rung.profile);
    return {
      name: rung.name,
      width: size.width,
      height: size.height,
      videoBitrateKbps: rung.videoBitrateKbps,
      maxrateKbps,
      bufsizeKbps: Math.round(rung.videoBitrateKbps * BUFSIZE_FACTOR),
      audioBitrateKbps: audioKbps(rung),
      passthrough: false,
      profile: rung.profile,
      level,
      codecString: h264CodecString(rung.profile, level),
    };
  };

  const fitting = rungs.filter((r) => r.shortSide <= srcShort);
  const out: Rendition[] = [];
  if (canPassthrough(source, options.maxPassthroughBitrateKbps)) {
    const top = fitting[0] ?? rungs[rungs.length - 1]!;
    // Off-ladder sources (360p, 900p, …) keep their own size and name; the rungs below are encoded.
    const below = fitting.filter((r) => r.shortSide < srcShort);
    const parsed = v.codecString ? parseAvcCodecString(v.codecString) : undefined;
    const profile: H264Profile = parsed?.profileIdc === 66 ? 'baseline' : parsed?.profileIdc === 77 ? 'main' : 'high';
    const bitrate = v.bitrateKbps ?? top.videoBitrateKbps;
    const maxrateKbps = Math.round(bitrate * MAXRATE_FACTOR);
    const level = parsed ? (parsed.levelIdc / 10).toFixed(1) : h264Level(srcW, srcH, fps, maxrateKbps, profile);
    out.push({
      name: `${srcShort}p`,
      width: srcW,
      height: srcH,
      videoBitrateKbps: bitrate,
      maxrateKbps,
      bufsizeKbps: Math.round(bitrate * BUFSIZE_FACTOR),
      audioBitrateKbps: audioKbps(top),
      passthrough: true,
      profile,
      level,
      codecString: v.codecString ?? h264CodecString(profile, level),
    });
    for (const rung of below) out.push(encoded(rung, fitSize(rung.shortSide, srcW, srcH)));
    return out;
  }
  if (fitting.length === 0) {
    const smallest = rungs[rungs.length - 1]!;
    return [encoded(smallest, { width: even(srcW), height: even(srcH) })];
  }
  for (const rung of fitting) out.push(encoded(rung, fitSize(rung.shortSide, srcW, srcH)));
  return out;
}
