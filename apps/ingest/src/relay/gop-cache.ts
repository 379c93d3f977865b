import type { MediaMessage } from '../rtmp/media-sink.js';

/** Default bound of a GOP cache, bytes of payload. */
export const DEFAULT_MAX_GOP_BYTES = 32 * 1024 * 1024;

/**
 * The audio and video messages since the latest video key frame (the current GOP), so a new
 * relay subscriber can start decoding at once instead of waiting for the next key frame.
 * Sequence headers and data messages are not cached here (the relay keeps the latest of each).
 *
 * Bounded: when the GOP grows past `maxBytes` (key frames too far apart), the cache empties and
 * stays empty until the next key frame; subscribers joining meanwhile wait for that key frame.
 */
export class GopCache {
  private messages: MediaMessage[] = [];
  private bytes = 0;
  private overflowed = false;

  constructor(private readonly maxBytes: number = DEFAULT_MAX_GOP_BYTES) {}

  /** Adds one live message; a video key frame starts a new GOP. */
  push(msg: MediaMessage): void {
    if (msg.kind === 'data' || msg.sequenceHeader) return;
    if (msg.kind === 'video' && msg.keyframe) {
      this.messages = [msg];
      this.bytes = msg.payload.length;
      this.overflowed = false;
      return;
    }
    if (this.messages.length === 0 || this.overflowed) return;
    this.messages.push(msg);
    this.bytes += msg.payload.length;
    if (this.bytes > this.maxBytes) {
      this.messages = [];
      this.bytes = 0;
      this.overflowed = true;
    }
  }

  /** The cached GOP, key frame first; empty if none is complete-able yet. */
  snapshot(): readonly MediaMessage[] {
    return this.messages.slice();
  }

  /** Payload bytes currently cached. */
  get size(): number {
    return this.bytes;
  }
}
