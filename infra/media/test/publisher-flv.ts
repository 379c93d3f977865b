/**
 * The test source the media tests feed the pipeline: what a publisher such as OBS sends, made by
 * ffmpeg from its lavfi test pattern (`testsrc2`) and a 440 Hz sine.
 */
import { runFfmpeg } from '../src/index.js';

/** The publisher's stream: video size and rate as ffmpeg's lavfi takes them, length, bitrates and GOP. */
export interface PublisherFlvOptions {
  /** `WIDTHxHEIGHT`, e.g. `854x480`. */
  readonly size: string;
  /** Frames per second as lavfi takes it: `30`, `25`, `30000/1001`. */
  readonly rate: string;
  /** Length in seconds. */
  readonly seconds: number;
  readonly videoKbps: number;
  readonly audioKbps: number;
  /** Keyframe interval in frames, fixed (no scene-cut keyframes): 60 is a 2 s GOP at 30 fps. */
  readonly gopFrames: number;
}

/**
 * Writes an FLV to `file`: H.264 (libx264 veryfast, yuv420p) with a keyframe every `gopFrames`
 * frames and none between, and AAC at 48 kHz.
 */
export async function makePublisherFlv(file: string, o: PublisherFlvOptions): Promise<void> {
  await runFfmpeg([
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${o.size}:rate=${o.rate}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(o.seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-b:v', `${o.videoKbps}k`,
    '-g', String(o.gopFrames), '-keyint_min', String(o.gopFrames), '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', `${o.audioKbps}k`,
    '-f', 'flv', file,
  ]);
}
