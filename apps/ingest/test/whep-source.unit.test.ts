/**
 * The WHEP source of a publish, against the real relay: what was cached before it subscribed is
 * not forwarded, live access units are packetized (SPS/PPS before each IDR, marker on the last
 * packet, 90 kHz timestamps from the FLV clock plus composition time), a malformed frame is
 * dropped without stopping the source, B-frames are flagged, and the publish's end reaches every
 * sink.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RtpPacket } from 'werift';
import { createRelay } from '../src/relay/index.js';
import type { MediaMessage, MediaSink, PublishStartInfo } from '../src/rtmp/index.js';
import { openWhepSource, type WhepFrame, type WhepSource } from '../src/whep/source.js';
import { captureLogger } from './helpers/log.js';

const SESSION = '01900000-0000-7000-8000-0000000000a1';
const info: PublishStartInfo = {
  sessionId: SESSION, channelId: 'ch-1', app: 'live', remoteAddress: '127.0.0.1', startedAt: new Date(),
  media: { video: { codec: 'h264', width: 1280, height: 720, frameRate: 30 } },
};
const SPS = Buffer.from([0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]);
const PPS = Buffer.from([0x68, 0xeb, 0xe3, 0xcb]);
const avcHeader = (): MediaMessage => {
  const rec = Buffer.concat([Buffer.from([1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, SPS.length]), SPS, Buffer.from([1, 0, PPS.length]), PPS]);
  return { kind: 'video', timestamp: 0, payload: Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), rec]), keyframe: true, sequenceHeader: true };
};
const lengthPrefixed = (nal: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(nal.length);
  return Buffer.concat([len, nal]);
};
/** A video tag body: one NAL unit (IDR for key frames), `size` bytes, composition time `cts` ms. */
const frame = (ts: number, key: boolean, size = 100, cts = 0): MediaMessage => {
  const nal = Buffer.alloc(size, 0x11);
  nal[0] = key ? 0x65 : 0x41;
  const head = Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0]);
  head.writeIntBE(cts, 2, 3);
  return { kind: 'video', timestamp: ts, payload: Buffer.concat([head, lengthPrefixed(nal)]), keyframe: key, sequenceHeader: false };
};

let source: WhepSource | undefined;
afterEach(() => source?.close('test over'));

function collector() {
  const frames: WhepFrame[] = [];
  let onEnded: (reason: string) => void = () => undefined;
  const ended = new Promise<string>((resolve) => { onEnded = resolve; });
  return { frames, ended, sink: { video: (f: WhepFrame) => frames.push(f), audio: () => undefined, ended: (r: string) => onEnded(r) } };
}

describe('WHEP source', () => {
  it('forwards live access units only, packetized with SPS/PPS before the IDR and the 90 kHz clock', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const publish: MediaSink = relay.openPublish(info);
    publish.write(avcHeader());
    publish.write(frame(0, true));
    publish.write(frame(33, false)); // the cached GOP: read, not forwarded
    source = await openWhepSource({ relay, sessionId: SESSION, logger });
    const c = collector();
    source.add(c.sink);
    expect(source.status()).toEqual({ ready: true, h264: true, bFrames: false, profileLevelId: '64001f' });
    expect(c.frames).toEqual([]);

    publish.write(frame(66, false, 3000));
    publish.write(frame(2000, true, 50));
    expect(c.frames.map((f) => f.keyframe)).toEqual([false, true]);
    const [p, k] = c.frames.map((f) => f.packets.map((b) => RtpPacket.deSerialize(b)));
    // 3000 bytes: FU-A in 3 packets, marker on the last; the first live frame is the clock's zero
    expect(p!.map((x) => [x.payload[0]! & 0x1f, x.header.marker, x.header.timestamp])).toEqual([[28, false, 0], [28, false, 0], [28, true, 0]]);
    // the IDR: SPS, PPS, then the slice, one RTP timestamp 1934 ms later
    expect(k!.map((x) => x.payload[0]! & 0x1f)).toEqual([7, 8, 5]);
    expect(k!.map((x) => x.header.timestamp)).toEqual([1934 * 90, 1934 * 90, 1934 * 90]);
    expect(k!.map((x) => x.header.marker)).toEqual([false, false, true]);
    const seqs = [...p!, ...k!].map((x) => x.header.sequenceNumber);
    expect(seqs.slice(1).every((s, i) => s === ((seqs[i]! + 1) & 0xffff))).toBe(true);
  });

  it('drops a malformed frame with a warning and goes on; flags B-frames; ends every sink with the publish', async () => {
    const { logger, lines } = captureLogger();
    const relay = createRelay({ logger });
    const publish = relay.openPublish(info);
    publish.write(avcHeader());
    source = await openWhepSource({ relay, sessionId: SESSION, logger });
    const c = collector();
    source.add(c.sink);
    const bad = frame(0, true);
    bad.payload.writeUInt32BE(9999, 5); // a NAL length past the tag
    publish.write(bad);
    publish.write(frame(33, false, 100, 66));
    expect(c.frames.length).toBe(1);
    expect(lines.some((l) => l.msg === 'WHEP source: malformed video frame dropped')).toBe(true);
    expect(source.status().bFrames).toBe(true);
    publish.end('unpublished');
    expect(await c.ended).toBe('publish ended');
  });

  it('refuses a session that is not live on the relay', async () => {
    const { logger } = captureLogger();
    await expect(openWhepSource({ relay: createRelay({ logger }), sessionId: SESSION, logger })).rejects.toThrow(/not live/);
  });
});
