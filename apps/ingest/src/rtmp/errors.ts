/**
 * Why an RTMP connection was judged malformed. Each code names the rule that was broken; the
 * connection that produced it is closed, other sessions are unaffected.
 */
export type RtmpProtocolErrorCode =
  /** AMF0 bytes end before the value they announce (AMF0 spec §2). */
  | 'AMF0_TRUNCATED'
  /** AMF0 bytes carry an unknown/unsupported marker, a stray object-end or nest too deep. */
  | 'AMF0_MALFORMED'
  /** C0 is not version 3 (RTMP 1.0 §5.2.2). */
  | 'HANDSHAKE_BAD_VERSION'
  /** A chunk header refers to state the chunk stream does not have (RTMP 1.0 §5.3.1.2). */
  | 'CHUNK_MALFORMED'
  /** Set Chunk Size outside 1..maxChunkSize (RTMP 1.0 §5.4.1). */
  | 'CHUNK_SIZE_INVALID'
  /** A message header announces more than maxMessageSize bytes (RTMP 1.0 §5.3.1.2.1). */
  | 'MESSAGE_TOO_LARGE'
  /** More chunk stream ids in use than the connection may have. */
  | 'CHUNK_STREAM_LIMIT'
  /** More bytes in partial messages than this connection may hold (its pending-bytes budget). */
  | 'PENDING_BYTES_LIMIT'
  /** The node-wide budget of partial-message bytes has no room for this connection's growth. */
  | 'NODE_PENDING_BYTES_LIMIT'
  /** A protocol control or command message whose payload is too short or of the wrong shape. */
  | 'MESSAGE_MALFORMED'
  /** Exp-Golomb / bit-level parse of an SPS or AudioSpecificConfig ran out of data or is invalid. */
  | 'BITSTREAM_MALFORMED'
  /** The peer exceeded a per-connection resource bound (e.g. media buffered before start). */
  | 'LIMIT_EXCEEDED';

/**
 * Thrown by every decoder in `src/rtmp` (AMF0, handshake, chunk stream, SPS/ASC parsers) when the
 * input is malformed, truncated or exceeds a configured bound. Decoders never read past the
 * buffer they were given; they throw this instead. The session closes the offending connection
 * and logs `code` and `message` as the reason.
 */
export class RtmpProtocolError extends Error {
  override readonly name = 'RtmpProtocolError';
  constructor(
    readonly code: RtmpProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}
