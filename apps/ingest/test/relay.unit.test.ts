import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, createRelayServer, flvTag, FlvTagType, GopCache } from '../src/relay/index.js';
import { decodeAmf0, encodeAmf0, ecmaArray, type MediaMessage, type PublishStartInfo } from '../src/rtmp/index.js';
import { readFlv } from './helpers/flv.js';
import { captureLogger } from './helpers/log.js';

const SESSION = '01900000-0000-7000-8000-000000000001';
const info = (over: Partial<PublishStartInfo> = {}): PublishStartInfo => ({
  sessionId: SESSION,
  channelId: 'ch-1',
  app: 'live',
  remoteAddress: '127.0.0.1',
  media: { video: { codec: 'h264', width: 1280, height: 720, frameRate: 30 }, audio: { codec: 'aac', sampleRate: 48000, channels: 2 } },
  startedAt: new Date(),
  ...over,
});

const metadata = (): MediaMessage => {
  const payload = encodeAmf0('onMetaData', ecmaArray({ width: 1280, height: 720, encoder: 'test' }));
  return { kind: 'data', timestamp: 0, payload, keyframe: false, sequenceHeader: false, values: decodeAmf0(payload) };
};
const avcHeader = (): MediaMessage => ({ kind: 'video', timestamp: 0, payload: Buffer.from([0x17, 0, 0, 0, 0, 1, 2, 3]), keyframe: true, sequenceHeader: true });
const aacHeader = (): MediaMessage => ({ kind: 'audio', timestamp: 0, payload: Buffer.from([0xaf, 0, 0x11, 0x90]), keyframe: false, sequenceHeader: true });
const video = (ts: number, key: boolean, size = 10): MediaMessage => ({
  kind: 'video',
  timestamp: ts,
  payload: Buffer.concat([Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0]), Buffer.alloc(size, ts & 0xff)]),
  keyframe: key,
  sequenceHeader: false,
});
const audio = (ts: number): MediaMessage => ({ kind: 'audio', timestamp: ts, payload: Buffer.from([0xaf, 1, ts & 0xff]), keyframe: false, sequenceHeader: false });

function collect(stream: PassThrough): { data: () => Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()));
  return { data: () => Buffer.concat(chunks), ended };
}

describe('relay FLV output', () => {
  it('sends a later subscriber header, onMetaData, sequence headers, the GOP from the latest key frame, then live tags, rebased to 0', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const sink = relay.openPublish(info());
    for (const m of [metadata(), avcHeader(), aacHeader(), video(1000, true), audio(1010), video(1033, false)]) sink.write(m);
    relay.subscribe(SESSION, new PassThrough().resume()); // the first subscriber (the transcoder) got the start
    for (const m of [video(2000, true), audio(1995), audio(2018), video(2033, false)]) sink.write(m); // new GOP at 2000

    const out = new PassThrough();
    const got = collect(out);
    expect(relay.subscribe(SESSION, out)).toBeDefined();
    sink.write(video(2066, false));
    sink.write(audio(2040));
    sink.end('unpublished');
    await got.ended;

    const flv = readFlv(got.data());
    expect(flv.flags).toBe(0x05); // audio + video
    expect(flv.trailing).toBe(0);
    expect(flv.tags.map((t) => [t.type, t.timestamp])).toEqual([
      [FlvTagType.Script, 0],
      [FlvTagType.Video, 0], // AVC sequence header
      [FlvTagType.Audio, 0], // AAC sequence header
      [FlvTagType.Video, 0], // key frame at 2000
      [FlvTagType.Audio, 0], // 1995 is before the base: clamped to 0
      [FlvTagType.Audio, 18],
      [FlvTagType.Video, 33],
      [FlvTagType.Video, 66], // live
      [FlvTagType.Audio, 40],
    ]);
    expect(decodeAmf0(flv.tags[0]!.body)[0]).toBe('onMetaData');
    expect(flv.tags[1]!.body).toEqual(avcHeader().payload);
    expect(flv.tags[3]!.body).toEqual(video(2000, true).payload);
    expect(relay.has(SESSION)).toBe(false);
  });

  it('makes a subscriber that joins before any key frame wait for one', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const sink = relay.openPublish(info());
    sink.write(avcHeader());
    sink.write(aacHeader());
    const out = new PassThrough();
    const got = collect(out);
    relay.subscribe(SESSION, out);
    sink.write(audio(500));
    sink.write(video(510, false));
    sink.write(video(600, true));
    sink.write(audio(610));
    sink.end('disconnected');
    await got.ended;
    const tags = readFlv(got.data()).tags;
    expect(tags.map((t) => [t.type, t.timestamp])).toEqual([
      [FlvTagType.Script, 0],
      [FlvTagType.Video, 0],
      [FlvTagType.Audio, 0],
      [FlvTagType.Video, 0], // the key frame at 600
      [FlvTagType.Audio, 10],
    ]);
  });

  it('synthesizes onMetaData from the media info when the publisher sent none', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const sink = relay.openPublish(info({ media: { video: { codec: 'h264', width: 640, height: 360, frameRate: 25 } } }));
    const out = new PassThrough();
    const got = collect(out);
    relay.subscribe(SESSION, out);
    sink.end('unpublished');
    await got.ended;
    const flv = readFlv(got.data());
    expect(flv.flags).toBe(0x01); // video only
    expect(decodeAmf0(flv.tags[0]!.body)).toEqual(['onMetaData', { duration: 0, width: 640, height: 360, framerate: 25, videocodecid: 7 }]);
  });

  it('keeps timestamps rebased across the 32-bit wrap', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const sink = relay.openPublish(info());
    sink.write(video(0xfffffff0, true));
    const out = new PassThrough();
    const got = collect(out);
    relay.subscribe(SESSION, out);
    sink.write(video(0x10, false));
    sink.end('unpublished');
    await got.ended;
    expect(readFlv(got.data()).tags.slice(-2).map((t) => t.timestamp)).toEqual([0, 0x20]);
  });

  it('disconnects a slow subscriber past its buffer bound without disturbing others', async () => {
    const { logger, lines } = captureLogger();
    const relay = createRelay({ logger, maxSubscriberBufferBytes: 50_000 });
    const sink = relay.openPublish(info());
    sink.write(video(0, true));
    // A subscriber that never drains: write callbacks are never called.
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined });
    const fast = new PassThrough();
    const got = collect(fast);
    relay.subscribe(SESSION, stuck);
    relay.subscribe(SESSION, fast);
    expect(relay.sessions()[0]!.subscribers).toBe(2);
    for (let i = 1; i <= 20; i++) sink.write(video(i * 33, false, 5000));
    expect(stuck.destroyed).toBe(true);
    expect(relay.sessions()[0]!.subscribers).toBe(1);
    expect(lines.some((l) => l.reason === 'slow subscriber')).toBe(true);
    sink.end('unpublished');
    await got.ended;
    expect(readFlv(got.data()).tags.filter((t) => t.type === FlvTagType.Video)).toHaveLength(21);
  });

  it('refuses subscriptions to unknown or ended sessions', () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    expect(relay.subscribe(SESSION, new PassThrough())).toBeUndefined();
    relay.openPublish(info()).end('kicked');
    expect(relay.subscribe(SESSION, new PassThrough())).toBeUndefined();
  });
});

describe('GopCache', () => {
  it('keeps the publish from its first key frame until told to keep the latest GOP, then restarts at each key frame; ignores sequence headers and data', () => {
    const gop = new GopCache();
    gop.push(audio(0)); // nothing before the first key frame
    gop.push(video(10, true));
    gop.push(audio(12));
    gop.push(avcHeader());
    gop.push(metadata());
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([10, 12]);
    gop.push(video(20, true));
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([10, 12, 20]);
    gop.keepLatestOnly();
    gop.push(audio(22));
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([10, 12, 20, 22]);
    gop.push(video(30, true));
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([30]);
  });

  it('drops the kept start down to the current GOP when it outgrows the bound', () => {
    const gop = new GopCache(100);
    gop.push(video(0, true, 40));
    gop.push(video(33, false, 40));
    gop.push(video(66, true, 10));
    gop.push(video(99, false, 20)); // 110 bytes: the start goes
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([66, 99]);
    gop.push(video(132, true, 5)); // and from then on only the latest GOP
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([132]);
  });

  it('empties when a GOP outgrows its bound and resumes at the next key frame', () => {
    const gop = new GopCache(100);
    gop.keepLatestOnly();
    gop.push(video(0, true, 10));
    gop.push(video(33, false, 200));
    expect(gop.snapshot()).toEqual([]);
    gop.push(video(66, false, 1));
    expect(gop.snapshot()).toEqual([]);
    gop.push(video(99, true, 1));
    expect(gop.snapshot().map((m) => m.timestamp)).toEqual([99]);
  });
});

describe('relay start of a publish', () => {
  it('gives the first subscriber the publish from its start, later ones the current GOP', async () => {
    const { logger } = captureLogger();
    const relay = createRelay({ logger });
    const sink = relay.openPublish(info());
    for (const [t, key] of [[0, true], [33, false], [2000, true], [2033, false]] as const) sink.write(video(t, key));
    const first = new PassThrough();
    const firstGot = collect(first);
    relay.subscribe(SESSION, first);
    sink.write(video(4000, true));
    const second = new PassThrough();
    const secondGot = collect(second);
    relay.subscribe(SESSION, second);
    sink.end('unpublished');
    await Promise.all([firstGot.ended, secondGot.ended]);
    const times = (b: Buffer) => readFlv(b).tags.filter((t) => t.type === FlvTagType.Video).map((t) => t.timestamp);
    expect(times(firstGot.data())).toEqual([0, 33, 2000, 2033, 4000]);
    expect(times(secondGot.data())).toEqual([0]); // rebased: its first tag is the 4000 ms key frame
  });
});

describe('flvTag (FLV v10.1 §E.4.1)', () => {
  it('splits the timestamp into 24 bits plus TimestampExtended', () => {
    const t = flvTag(FlvTagType.Video, 0x12345678, Buffer.from([9]));
    expect(t.toString('hex')).toBe('09' + '000001' + '345678' + '12' + '000000' + '09' + '0000000c');
  });
});

describe('relay HTTP endpoint', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function start() {
    const { logger, lines } = captureLogger();
    const relay = createRelay({ logger });
    server = createRelayServer({ relay, token: 's3cret-token', logger });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { relay, base, lines };
  }

  it('serves /healthz', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', sessions: 0 });
  });

  it('answers 401 {code,message} without the right token, and never logs it', async () => {
    const { relay, base, lines } = await start();
    relay.openPublish(info());
    for (const [url, headers] of [
      [`${base}/relay/${SESSION}.flv`, {}],
      [`${base}/relay/${SESSION}.flv?token=wrong`, {}],
      [`${base}/relay/${SESSION}.flv`, { authorization: 'Bearer wrong' }],
      [`${base}/relay/${SESSION}.flv?token=wrong`, { authorization: 'Bearer wrong' }],
      [`${base}/relay/${SESSION}.flv`, { authorization: 'Basic czNjcmV0LXRva2Vu' }],
    ] as const) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 'UNAUTHORIZED', message: expect.any(String) });
    }
    expect(JSON.stringify(lines)).not.toContain('s3cret-token');
  });

  it('refuses the right token in ?token= (URLs end up in command lines and logs): Authorization: Bearer only', async () => {
    const { relay, base, lines } = await start();
    relay.openPublish(info());
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await fetch(`${base}/relay/${SESSION}.flv?token=s3cret-token`, { method });
      expect(res.status, method).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      if (method === 'GET') expect(await res.json()).toEqual({ code: 'UNAUTHORIZED', message: 'A valid relay token is required.' });
    }
    // the header works, with or without a stray query parameter
    for (const url of [`${base}/relay/${SESSION}.flv`, `${base}/relay/${SESSION}.flv?token=s3cret-token`]) {
      const res = await fetch(url, { method: 'HEAD', headers: { authorization: 'Bearer s3cret-token' } });
      expect(res.status, url).toBe(200);
    }
    expect(lines.filter((l) => l.msg === 'relay request refused')).toHaveLength(2);
    expect(JSON.stringify(lines)).not.toContain('s3cret-token');
  });

  it('answers 404 for unknown sessions and for paths that do not match exactly', async () => {
    const { relay, base } = await start();
    relay.openPublish(info());
    const auth = { authorization: 'Bearer s3cret-token' };
    const unknown = await fetch(`${base}/relay/01900000-0000-7000-8000-0000000000ff.flv`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('RELAY_SESSION_NOT_FOUND');
    for (const path of [`/relay/${SESSION}.flv/x`, `/relay/${SESSION}.flvx`, `/relay//${SESSION}.flv`, `/x/relay/${SESSION}.flv`, `/relay/${SESSION.replace('7000', '7ABC')}.flv`]) {
      const res = await fetch(base + path, { headers: auth });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
    }
    const post = await fetch(`${base}/relay/${SESSION}.flv`, { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
  });

  it('streams video/x-flv with a Bearer token and ends the response when the publish ends', async () => {
    const { relay, base } = await start();
    const sink = relay.openPublish(info());
    sink.write(avcHeader());
    sink.write(aacHeader());
    sink.write(video(100, true));
    for (const [url, headers] of [
      [`${base}/relay/${SESSION}.flv`, { authorization: 'Bearer s3cret-token' }],
      [`${base}/relay/${SESSION}.flv`, { authorization: 'bearer s3cret-token' }], // the scheme is case-insensitive (RFC 9110 §11.1)
    ] as const) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('video/x-flv');
      expect(res.headers.get('transfer-encoding')).toBe('chunked');
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(Buffer.from(first.value!).toString('latin1', 0, 3)).toBe('FLV');
      await reader.cancel();
    }
    const res = await fetch(`${base}/relay/${SESSION}.flv`, { headers: { authorization: 'Bearer s3cret-token' } });
    // Headers received: the relay subscribed this response in the same tick it wrote them.
    const body = res.arrayBuffer();
    sink.write(video(133, false));
    sink.end('unpublished');
    const flv = readFlv(Buffer.from(await body)); // resolves only at EOF
    expect(flv.tags.map((t) => t.timestamp)).toEqual([0, 0, 0, 0, 33]);
  });
});
