/**
 * RTMP message type ids and builders for the protocol control and user control messages the
 * server sends (RTMP 1.0 §5.4, §6.2, §7.1).
 */
import { encodeAmf0, type AmfValue } from './amf0.js';
import type { OutboundMessage } from './chunk.js';

/** Message type ids (RTMP 1.0 §5.4 protocol control, §7.1 RTMP command messages). */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/** User control event types (RTMP 1.0 §7.1.7). */
export const UserControlEvent = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** Chunk stream ids used for outbound traffic (2 is reserved for protocol control, §5.3.1.1). */
export const OutChunkStream = { Control: 2, Command: 3, StreamStatus: 5 } as const;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

function control(typeId: number, payload: Buffer): OutboundMessage {
  return { chunkStreamId: OutChunkStream.Control, timestamp: 0, typeId, messageStreamId: 0, payload };
}

/** Set Chunk Size (RTMP 1.0 §5.4.1): `size` bytes, 1..0x7FFFFFFF. */
export function setChunkSizeMessage(size: number): OutboundMessage {
  return control(MessageType.SetChunkSize, u32(size & 0x7fffffff));
}

/** Acknowledgement (RTMP 1.0 §5.4.3): `sequenceNumber` = bytes received so far, mod 2^32. */
export function acknowledgementMessage(sequenceNumber: number): OutboundMessage {
  return control(MessageType.Acknowledgement, u32(sequenceNumber));
}

/** Window Acknowledgement Size (RTMP 1.0 §5.4.4), bytes. */
export function windowAckSizeMessage(size: number): OutboundMessage {
  return control(MessageType.WindowAckSize, u32(size));
}

/** Set Peer Bandwidth (RTMP 1.0 §5.4.5): window `size` bytes, limit type 0 hard, 1 soft, 2 dynamic. */
export function setPeerBandwidthMessage(size: number, limitType: 0 | 1 | 2): OutboundMessage {
  return control(MessageType.SetPeerBandwidth, Buffer.concat([u32(size), Buffer.from([limitType])]));
}

/** User Control message (RTMP 1.0 §6.2, §7.1.7): 16-bit event type + 32-bit event data. */
export function userControlMessage(event: number, value: number): OutboundMessage {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(event, 0);
  b.writeUInt32BE(value >>> 0, 2);
  return control(MessageType.UserControl, b);
}

/** AMF0 command message (RTMP 1.0 §7.1.1) on the given chunk stream and message stream. */
export function commandMessage(chunkStreamId: number, messageStreamId: number, ...values: AmfValue[]): OutboundMessage {
  return { chunkStreamId, timestamp: 0, typeId: MessageType.CommandAmf0, messageStreamId, payload: encodeAmf0(...values) };
}
