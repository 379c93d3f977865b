/**
 * ffmpeg standing in for OBS with "Automatically reconnect" on: it publishes the test pattern
 * (encoded once beforehand, {@link encodeTestClip}, then sent looped without re-encoding,
 * {@link publishClip}: the publisher's encoder would otherwise take a third of a core of the
 * machine under test at 1080p) to one RTMP URL, and when its connection dies (ffmpeg exits
 * without being asked to) a new ffmpeg publishes with the same key to the same URL, as OBS does
 * (OBS waits its retry delay, 2 s by default, before each attempt; this waits 1 s after a
 * failed attempt and none after a dropped live connection).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTestClip, publishClip, type Publisher, type TestPatternFormat } from '../../src/testing.js';

/** Picture and bitrate of the test pattern. */
export type PublishFormat = TestPatternFormat;

/** Length of the looped clip, s (a multiple of the 2 s GOP). */
const CLIP_SECONDS = 20;

/** One ffmpeg that ended without being asked to: when, its exit code and stderr tail. */
export interface PublisherDrop {
  readonly at: number;
  readonly code: number | null;
  readonly stderr: string;
}

/** An attempt that ran at least this long (ms) had a live connection: reconnect at once. */
const LIVE_CONNECTION_MS = 5_000;
/** Wait after a short-lived attempt (refused, or no ingest node up), ms. */
const RETRY_DELAY_MS = 1_000;

/** A publisher that reconnects (see the module comment). */
export class ReconnectingPublisher {
  /** Every unrequested exit, in order. */
  readonly drops: PublisherDrop[] = [];
  /** ffmpeg processes started so far (1 + reconnect attempts). */
  connections = 0;
  private current: Publisher | undefined;
  private stopping = false;
  private supervising: Promise<void> | undefined;

  constructor(private readonly rtmpUrl: string, private readonly format: PublishFormat) {}

  /**
   * Encodes the clip, then publishes (and reconnects) until {@link stop}; resolves once the
   * first ffmpeg is started.
   * @throws Error when the clip cannot be encoded.
   */
  async start(): Promise<void> {
    if (this.supervising) return;
    const clip = await encodeTestClip(await mkdtemp(join(tmpdir(), 'obs-clip-')), { ...this.format, seconds: CLIP_SECONDS });
    this.supervising = this.supervise(clip);
  }

  private async supervise(clip: string): Promise<void> {
    while (!this.stopping) {
      const startedAt = Date.now();
      // Looped for ever; stop() ends it with SIGINT, a clean unpublish.
      this.current = publishClip(this.rtmpUrl, clip);
      this.connections += 1;
      const exit = await this.current.done;
      if (this.stopping) return;
      this.drops.push({ at: Date.now(), code: exit.code, stderr: exit.stderr.trim().split('\n').slice(-3).join(' / ') });
      if (Date.now() - startedAt < LIVE_CONNECTION_MS) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }

  /** The pid of the ffmpeg publishing now (undefined between attempts). */
  get pid(): number | undefined {
    return this.current?.child.exitCode === null ? this.current.child.pid : undefined;
  }

  /**
   * Stops publishing cleanly: SIGINT makes ffmpeg finish the FLV stream and unpublish
   * (`FCUnpublish`, `deleteStream`), which ends the session at once.
   * @returns the last ffmpeg's exit.
   */
  async stop(): Promise<{ code: number | null; stderr: string } | undefined> {
    this.stopping = true;
    const cur = this.current;
    if (!cur) return undefined;
    if (cur.child.exitCode === null) cur.child.kill('SIGINT');
    const exit = await cur.done;
    await this.supervising;
    return exit;
  }
}
