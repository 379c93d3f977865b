/**
 * The media sink contract: how the RTMP server hands an accepted publish's audio, video and data
 * messages to consumers such as the HTTP-FLV relay (`src/relay`).
 */
import type { AmfValue } from './amf0.js';
import type { MediaInfo } from './media-info.js';

/**
 * One audio, video or data message of a publish, shaped as an FLV tag body (FLV spec v10.1
 * §E.4.1): for audio/video the RTMP message payload is exactly the FLV AUDIODATA/VIDEODATA.
 */
export interface MediaMessage {
  readonly kind: 'audio' | 'video' | 'data';
  /** RTMP message timestamp in milliseconds (unsigned 32-bit, wrapping; RTMP 1.0 §5.3.1.3). */
  readonly timestamp: number;
  /**
   * FLV tag body. For `data`, the AMF0 values with a leading `@setDataFrame` removed, i.e. what
   * an FLV SCRIPTDATA tag holds (`"onMetaData", {...}`).
   */
  readonly payload: Buffer;
  /** Video key frame (FLV frame type 1). Always false for audio/data. */
  readonly keyframe: boolean;
  /** AVC/HEVC/AAC sequence header (decoder configuration), or Enhanced RTMP SequenceStart. */
  readonly sequenceHeader: boolean;
  /** For `data`: the decoded AMF0 values of `payload` (e.g. `['onMetaData', {...}]`). */
  readonly values?: readonly AmfValue[];
}

/** Describes a publish when its media sink is opened (same data as `onPublishStarted`). */
export interface PublishStartInfo {
  /** UUIDv7 of the RTMP session (one TCP connection, at most one publish). */
  readonly sessionId: string;
  readonly channelId: string;
  /** RTMP application name from `connect`, e.g. `live`. */
  readonly app: string;
  readonly remoteAddress: string;
  readonly media: MediaInfo;
  /** When the publish was accepted (NetStream.Publish.Start sent). */
  readonly startedAt: Date;
}

/** Why a publish ended; see `RtmpServerOptions.onPublishEnded`. */
export type PublishEndReason = 'unpublished' | 'disconnected' | 'error' | 'kicked';

/** Receives one publish's messages. Methods must not throw (errors are logged and the sink dropped). */
export interface MediaSink {
  /** One message, in arrival order; the Buffer must not be modified. */
  write(msg: MediaMessage): void;
  /** The publish ended; no further `write` calls follow. Called exactly once. */
  end(reason: PublishEndReason): void;
}

/**
 * Opens a {@link MediaSink} per publish. The RTMP server calls `openPublish` when the media info is
 * known, just before `onPublishStarted`, then writes every message buffered since
 * NetStream.Publish.Start (metadata and sequence headers included) and everything after it.
 */
export interface MediaSinkFactory {
  openPublish(info: PublishStartInfo): MediaSink;
}

/**
 * Fans one publish out to several sink factories (e.g. the relay and a recorder). A sink that
 * throws is removed from that publish; the others keep receiving.
 */
export function combineMediaSinks(...factories: MediaSinkFactory[]): MediaSinkFactory {
  return {
    openPublish(info) {
      const sinks = new Set(factories.map((f) => f.openPublish(info)));
      return {
        write(msg) {
          for (const s of sinks) {
            try {
              s.write(msg);
            } catch {
              sinks.delete(s);
            }
          }
        },
        end(reason) {
          for (const s of sinks) {
            try {
              s.end(reason);
            } catch {
              // a sink failing at end must not stop the others from ending
            }
          }
          sinks.clear();
        },
      };
    },
  };
}
