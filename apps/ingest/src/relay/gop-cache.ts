import type { MediaMessage } from '../rtmp/media-sink.js';

/** Default bound of a GOP cache, bytes of payload. */
export const DEFAULT_MAX_GOP_BYTES = 32 * 1024 * 1024;

/**
 * The audio and video messages a new relay subscriber starts with, so it can decode at once
 * instead of waiting for the next key frame. Sequence headers and data messages are not cached
 * here (the relay keeps the latest of each).
 *
 * Until {@link keepLatestOnly} is called, it keeps everything from the publish's first key frame
 * (the publish's start): the first subscriber, the transcoder that makes the recording, gets the
 * whole broadcast even when it attaches seconds after the publish started (its workflow starts
 * on StreamPublishStarted, then spawns ffmpeg), so the recording is as long as what was
 * published. After that it keeps the current GOP only (since the latest video key frame).
 *
 * Bounded: past `maxBytes` the kept start is dropped down to the current GOP; when the current
 * GOP alone grows past it (key frames too far apart) the cache empties and stays empty until the
 * next key frame; subscribers joining meanwhile wait for that key frame.
 */
export class GopCache {
  private messages: MediaMessage[] = [];
  private bytes = 0;
  /** Index in `messages` of the current GOP's key frame. */
  private gopStart = 0;
  private overflowed = false;
  private fromStart = true;

  constructor(private readonly maxBytes: number = DEFAULT_MAX_GOP_BYTES) {}

  /** Adds one live message; a video key frame starts a new GOP. */
  push(msg: MediaMessage): void {
    if (msg.kind === 'data' || msg.sequenceHeader) return;
    if (msg.kind === 'video' && msg.keyframe) {
      if (this.fromStart && this.messages.length > 0 && !this.overflowed) {
        this.gopStart = this.messages.length;
        this.add(msg);
        return;
      }
      this.messages = [msg];
      this.bytes = msg.payload.length;
      this.gopStart = 0;
      this.overflowed = false;
      return;
    }
    if (this.messages.length === 0 || this.overflowed) return;
    this.add(msg);
  }

  private add(msg: MediaMessage): void {
    this.messages.push(msg);
    this.bytes += msg.payload.length;
    if (this.bytes <= this.maxBytes) return;
    if (this.fromStart && this.gopStart > 0) {
      // The start no longer fits: keep the current GOP, as after keepLatestOnly.
      this.fromStart = false;
      this.messages = this.messages.slice(this.gopStart);
      this.gopStart = 0;
      this.bytes = this.messages.reduce((n, m) => n + m.payload.length, 0);
      // A lone key frame stays, whatever its size: it is what a subscriber needs first.
      if (this.bytes <= this.maxBytes || this.messages.length === 1) return;
    }
    this.fromStart = false;
    this.messages = [];
    this.bytes = 0;
    this.gopStart = 0;
    this.overflowed = true;
  }

  /**
   * From now on keep only the current GOP (the relay calls it once its first subscriber has the
   * start). What is cached now stays until the next key frame.
   */
  keepLatestOnly(): void {
    this.fromStart = false;
  }

  /** The cached messages, key frame first; empty if none is complete-able yet. */
  snapshot(): readonly MediaMessage[] {
    return this.messages.slice();
  }

  /** Payload bytes currently cached. */
  get size(): number {
    return this.bytes;
  }
}
