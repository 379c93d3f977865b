/**
 * ffmpeg standing in for OBS with "Automatically reconnect" on: it publishes the test pattern
 * ({@link publishTestPattern}) to one RTMP URL, and when its connection dies (ffmpeg exits
 * without being asked to) a new ffmpeg publishes with the same key to the same URL, as OBS does
 * (OBS waits its retry delay, 2 s by default, before each attempt; this waits 1 s after a
 * failed attempt and none after a dropped live connection).
 */
import { publishTestPattern, type Publisher } from '../../src/testing.js';

/** Picture and bitrate of the test pattern (see {@link publishTestPattern}). */
export interface PublishFormat {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly videoKbps: number;
}

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

  /** Starts publishing (and reconnecting) until {@link stop}. */
  start(): void {
    this.supervising ??= this.supervise();
  }

  private async supervise(): Promise<void> {
    while (!this.stopping) {
      const startedAt = Date.now();
      // Long enough for any run; stop() ends it with SIGINT, a clean unpublish.
      this.current = publishTestPattern(this.rtmpUrl, { seconds: 3600, ...this.format });
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
