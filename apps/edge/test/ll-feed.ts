/**
 * Test and bench helper (not a test): real LL-HLS parts written one at a time by the real
 * packager (`createLlHlsPublisher` of `@live/media`). ffmpeg encodes a short fragmented MP4
 * (0.5 s fragments, 1 s GOP) once; {@link startLlFeed} then appends one fragment at a time to the
 * file the packager tails and runs one publisher pass, so a test decides when each part is
 * written (and announced, with an announcer).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMediaAnnouncement, MAX_MEDIA_BODY_BYTES, mediaSubject } from '@live/events';
import { createLlHlsPublisher, Fmp4Splitter, type HlsPublisher, type MediaAnnouncer, type Rendition } from '@live/media';
import type { ObjectStorage } from '@live/storage';

/** The one rendition the feed publishes (a 240p Baseline rung). */
export const FEED_RENDITION: Rendition = {
  name: '240p', width: 320, height: 180, videoBitrateKbps: 400, maxrateKbps: 440, bufsizeKbps: 800, audioBitrateKbps: 128,
  passthrough: false, profile: 'baseline', level: '2.1', codecString: 'avc1.42c015',
};

/** An fMP4 stream cut into its init segment and its fragments (`moof`+`mdat`, 0.5 s each). */
export interface Fmp4Media {
  readonly init: Buffer;
  readonly fragments: readonly Buffer[];
}

/**
 * Encodes `seconds` of 320x180 30 fps test pattern (x264 ultrafast, 1 s GOP, no audio) into a
 * fragmented MP4 with one fragment per 15 frames, as the worker's low-latency ffmpeg does.
 * @throws when ffmpeg fails.
 */
export function encodeFragments(dir: string, seconds: number): Fmp4Media {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'source.mp4');
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-profile:v', 'baseline', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer', '-frag_duration', '500000', out,
  ]);
  const chunks = new Fmp4Splitter().push(readFileSync(out));
  const init = chunks.find((c) => c.kind === 'init');
  if (!init) throw new Error('ffmpeg wrote no init segment');
  return { init: Buffer.from(init.bytes), fragments: chunks.filter((c) => c.kind !== 'init').map((c) => Buffer.from(c.bytes)) };
}

/** A packager fed one fragment at a time. */
export interface LlFeed {
  readonly publisher: HlsPublisher;
  /** Appends the next fragment to the packager's input and runs one packager pass: the fragment becomes a part (and its playlist) in storage. */
  next(): Promise<void>;
  /** Fragments not fed yet. */
  remaining(): number;
}

/** Options of {@link startLlFeed}. */
export interface LlFeedOptions {
  readonly storage: ObjectStorage;
  readonly keyPrefix: string;
  /** The packager's work directory (ffmpeg's `outputDir`). */
  readonly outputDir: string;
  readonly media: Fmp4Media;
  readonly announcer?: MediaAnnouncer;
}

/** Creates the packager over `outputDir` with the init segment in place; nothing is published until {@link LlFeed.next}. */
export function startLlFeed(opts: LlFeedOptions): LlFeed {
  const dir = join(opts.outputDir, FEED_RENDITION.name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'stream.mp4');
  writeFileSync(file, opts.media.init);
  const publisher = createLlHlsPublisher({
    storage: opts.storage, outputDir: opts.outputDir, keyPrefix: opts.keyPrefix, ladder: [FEED_RENDITION], frameRate: 30,
    segmentSeconds: 1, partFrames: 15, ...(opts.announcer ? { announcer: opts.announcer } : {}),
  });
  let fed = 0;
  return {
    publisher,
    async next() {
      const f = opts.media.fragments[fed];
      if (!f) throw new Error('no fragment left to feed');
      fed++;
      appendFileSync(file, f);
      await publisher.poll();
    },
    remaining: () => opts.media.fragments.length - fed,
  };
}

/**
 * The announcer the worker wires (apps/worker/src/announcer.ts, which an edge test may not import),
 * over a NATS connection of the `worker` identity: every object and playlist on `media.<sessionId>`,
 * with its bytes when they fit (never for full segments).
 */
export function natsAnnouncer(nc: { publish(subject: string, data: Uint8Array): void }, sessionId: string): MediaAnnouncer {
  const subject = mediaSubject(sessionId);
  return {
    object(kind, path, size, bytes) {
      const body = kind !== 'segment' && bytes && bytes.length <= MAX_MEDIA_BODY_BYTES ? bytes : undefined;
      nc.publish(subject, encodeMediaAnnouncement({ kind, sessionId, path, size, at: Date.now(), ...(body ? { body } : {}) }));
    },
    playlist(path, text, live) {
      const body = new TextEncoder().encode(text);
      nc.publish(subject, encodeMediaAnnouncement({ kind: 'playlist', sessionId, path, size: body.length, at: Date.now(), live, ...(body.length <= MAX_MEDIA_BODY_BYTES ? { body } : {}) }));
    },
  };
}
