/**
 * The RTMP server over real TCP, driven by a scripted client (no ffmpeg): command flow, status
 * codes, publish lifecycle callbacks, limits, and isolation of bad connections.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay } from '../src/relay/index.js';
import {
  createRtmpServer,
  encodeAmf0,
  ecmaArray,
  type AuthorizePublishRequest,
  type PublishEndedEvent,
  type PublishStartedEvent,
  type RtmpLimitEvent,
  type RtmpServer,
  type RtmpServerOptions,
} from '../src/rtmp/index.js';
import { captureLogger, type LogLine } from './helpers/log.js';
import { TestRtmpClient } from './helpers/rtmp-client.js';

const SPS = Buffer.from('674d401feca02802dd8088000003000800000301e078c18cb0', 'hex'); // main 1280x720
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AVC_SEQUENCE_HEADER = Buffer.concat([
  Buffer.from([0x17, 0, 0, 0, 0, 1, SPS[1]!, SPS[2]!, SPS[3]!, 0xff, 0xe1, 0, SPS.length]),
  SPS,
  Buffer.from([1, 0, PPS.length]),
  PPS,
]);
const AAC_SEQUENCE_HEADER = Buffer.from([0xaf, 0, 0x11, 0x90]);
const KEYS: Record<string, string> = { 'good-key': 'ch-good', 'other-key': 'ch-other', 'long-secret-key-1234': 'ch-long' };

let servers: RtmpServer[] = [];
let clients: TestRtmpClient[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

async function startServer(over: Partial<RtmpServerOptions> = {}) {
  const { logger, lines } = captureLogger();
  const started: PublishStartedEvent[] = [];
  const ended: PublishEndedEvent[] = [];
  const authorized: AuthorizePublishRequest[] = [];
  const relay = createRelay({ logger });
  const server = createRtmpServer({
    logger,
    mediaSink: relay,
    async authorizePublish(req) {
      authorized.push(req);
      const channelId = KEYS[req.streamKey];
      return channelId ? { ok: true, channelId } : { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'Unknown stream key.' };
    },
    async onPublishStarted(s) {
      started.push(s);
    },
    async onPublishEnded(s) {
      ended.push(s);
    },
    limits: { mediaInfoTimeoutMs: 400, handshakeTimeoutMs: 500 },
    ...over,
  });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, started, ended, authorized, lines, relay };
}

async function client(port: number, handshake = true): Promise<TestRtmpClient> {
  const c = await TestRtmpClient.open(port, handshake);
  clients.push(c);
  return c;
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** connect + createStream + publish; returns the message stream id and the onStatus info. */
async function publish(c: TestRtmpClient, key = 'good-key') {
  const sid = await c.connectAndCreateStream('live', key);
  c.streamCommand(sid, 'publish', 5, null, key, 'live');
  return { sid, status: await c.waitForStatus() };
}

function sendSequenceHeaders(c: TestRtmpClient, sid: number, withMetadata = true): void {
  if (withMetadata) {
    c.send(18, encodeAmf0('@setDataFrame', 'onMetaData', ecmaArray({ width: 1280, height: 720, framerate: 30, videocodecid: 7, audiocodecid: 10, videodatarate: 2500 })), { csid: 4, streamId: sid });
  }
  c.send(9, AVC_SEQUENCE_HEADER, { csid: 6, streamId: sid });
  c.send(8, AAC_SEQUENCE_HEADER, { csid: 4, streamId: sid });
}

const warnReasons = (lines: LogLine[]): unknown[] => lines.filter((l) => l.level === 40).map((l) => l.reason);

describe('RTMP session', () => {
  it('answers connect with Window Ack Size, Set Peer Bandwidth, Set Chunk Size 4096 and NetConnection.Connect.Success', async () => {
    const { port } = await startServer();
    const c = await client(port);
    c.command('connect', 1, { app: 'live', objectEncoding: 0 });
    const res = await c.waitForCommand('_result', 1);
    expect(res[2]).toMatchObject({ fmsVer: expect.stringMatching(/^FMS\//), capabilities: expect.any(Number) });
    expect(res[3]).toMatchObject({ level: 'status', code: 'NetConnection.Connect.Success', objectEncoding: 0 });
    const types = c.messages.map((m) => m.typeId);
    expect(types.slice(0, 3)).toEqual([5, 6, 1]);
    expect(c.messages[2]!.payload.readUInt32BE(0)).toBe(4096);
  });

  it('runs a publish: authorizer input, media info, relay, FCUnpublish → onPublishEnded(unpublished) once', async () => {
    const { server, port, started, ended, authorized, relay, lines } = await startServer();
    const c = await client(port);
    const { sid, status } = await publish(c, 'good-key?secret=1');
    expect(status).toMatchObject({ level: 'status', code: 'NetStream.Publish.Start' });
    expect(authorized).toEqual([{ sessionId: expect.any(String), app: 'live', streamKey: 'good-key', remoteAddress: expect.stringContaining('127.0.0.1') }]);
    sendSequenceHeaders(c, sid);
    await until(() => started.length === 1);
    expect(started[0]).toMatchObject({
      channelId: 'ch-good',
      app: 'live',
      media: {
        video: { codec: 'h264', codecString: 'avc1.4D401F', width: 1280, height: 720, frameRate: 30, bitrateKbps: 2500 },
        audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2 },
      },
    });
    expect(started[0]!.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(authorized[0]!.sessionId).toBe(started[0]!.sessionId);
    expect(relay.has(started[0]!.sessionId)).toBe(true);
    c.send(9, Buffer.from([0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]), { csid: 6, streamId: sid, timestamp: 40 });
    c.streamCommand(sid, 'FCUnpublish', 6, null, 'good-key');
    c.streamCommand(sid, 'deleteStream', 7, null, sid);
    await until(() => ended.length === 1);
    c.close();
    // Once the server has dropped the session, nothing can report its end a second time.
    await until(() => !server.sessions().has(started[0]!.sessionId));
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ sessionId: started[0]!.sessionId, channelId: 'ch-good', reason: 'unpublished' });
    expect(ended[0]!.bytesReceived).toBeGreaterThan(3000);
    expect(relay.has(started[0]!.sessionId)).toBe(false);
    expect(JSON.stringify(lines)).not.toContain('good-key');
  });

  it('answers unknown commands with _error and their transaction id, and keeps going', async () => {
    const { port } = await startServer();
    const c = await client(port);
    c.command('createStream', 9, null); // before connect
    expect((await c.waitForCommand('_error', 9))[3]).toMatchObject({ level: 'error' });
    await c.connectAndCreateStream();
    c.command('getStreamLength', 0, null, 'x'); // transaction id 0: no answer expected
    c.command('someVendorExtension', 42, null, { a: 1 });
    const err = await c.waitForCommand('_error', 42);
    expect(err[3]).toMatchObject({ level: 'error', code: 'NetConnection.Call.Failed' });
    c.command('createStream', 43, null);
    expect((await c.waitForCommand('_result', 43))[3]).toBe(2);
    expect(c.messages.filter((m) => m.typeId === 20).length).toBeGreaterThan(0);
  });

  it('refuses an unknown stream key with NetStream.Publish.BadName and closes the connection', async () => {
    const { port, started, lines } = await startServer();
    const c = await client(port);
    const { status } = await publish(c, 'long-wrong-key-abcd');
    expect(status).toMatchObject({ level: 'error', code: 'NetStream.Publish.BadName', description: 'Unknown stream key.' });
    await c.closed;
    expect(started).toHaveLength(0);
    const refused = lines.find((l) => l.msg === 'publish refused');
    expect(refused).toMatchObject({ code: 'UNKNOWN_STREAM_KEY', streamKey: '********abcd' });
  });

  it('maps authorizer refusals to NetStream statuses (Denied for disabled keys, Failed when it throws)', async () => {
    let mode: 'disabled' | 'throw' = 'disabled';
    const { port } = await startServer({
      async authorizePublish() {
        if (mode === 'throw') throw new Error('database down');
        return { ok: false, code: 'STREAM_KEY_DISABLED', description: 'Stream key disabled.' };
      },
    });
    const a = await client(port);
    expect((await publish(a)).status).toMatchObject({ level: 'error', code: 'NetStream.Publish.Denied' });
    mode = 'throw';
    const b = await client(port);
    expect((await publish(b)).status).toMatchObject({ level: 'error', code: 'NetStream.Publish.Failed' });
  });

  it('remembers the keyId the authorizer accepted a publish with, in sessions(), and kick() by it ends the publish', async () => {
    const { server, port, started, ended } = await startServer({
      async authorizePublish(req) {
        return req.streamKey === 'good-key' ? { ok: true, channelId: 'ch-good', keyId: 'key-1' } : { ok: false, code: 'ADDRESS_NOT_ALLOWED', description: 'Not from here.' };
      },
    });
    const a = await client(port);
    const { sid } = await publish(a);
    sendSequenceHeaders(a, sid);
    await until(() => started.length === 1);
    const info = server.sessions().get(started[0]!.sessionId);
    expect(info).toMatchObject({ keyId: 'key-1', channelId: 'ch-good', publish: 'live' });
    const refused = await client(port);
    expect((await publish(refused, 'other-key')).status).toMatchObject({ level: 'error', code: 'NetStream.Publish.Denied', description: 'Not from here.' });
    const byKey = [...server.sessions().values()].filter((s) => s.keyId === 'key-1');
    expect(byKey.map((s) => s.sessionId)).toEqual([started[0]!.sessionId]);
    expect(server.kick(byKey[0]!.sessionId, 'stream key revoked')).toBe(true);
    await until(() => ended.length === 1);
    expect(ended[0]).toMatchObject({ reason: 'kicked', detail: 'stream key revoked' });
  });

  it('refuses a second publish of a channel already live on this node, even when authorized', async () => {
    const { port, started, ended, lines } = await startServer();
    const a = await client(port);
    const { sid } = await publish(a);
    sendSequenceHeaders(a, sid);
    await until(() => started.length === 1);
    const b = await client(port);
    const second = await publish(b);
    expect(second.status).toMatchObject({ level: 'error', code: 'NetStream.Publish.BadName' });
    expect(lines.find((l) => l.msg === 'publish refused')).toMatchObject({ code: 'ALREADY_LIVE', channelId: 'ch-good' });
    await b.closed;
    expect(started).toHaveLength(1);
    expect(ended).toHaveLength(0);
    // Once the first publish ends, the channel can go live again.
    a.close();
    await until(() => ended.length === 1);
    expect(ended[0]!.reason).toBe('disconnected');
    const c = await client(port);
    const third = await publish(c);
    expect(third.status.code).toBe('NetStream.Publish.Start');
  });

  it('disconnects with NetStream.Publish.Failed when onPublishStarted throws, without onPublishEnded', async () => {
    let fail = true;
    const ended: PublishEndedEvent[] = [];
    const { port, relay } = await startServer({
      async onPublishStarted() {
        if (fail) throw new Error('event store unavailable');
      },
      async onPublishEnded(e) {
        ended.push(e);
      },
    });
    const a = await client(port);
    const { sid } = await publish(a);
    sendSequenceHeaders(a, sid);
    await a.waitFor((m) => m.typeId === 20 && m.payload.includes(Buffer.from('NetStream.Publish.Failed')));
    await a.closed;
    expect(relay.sessions()).toHaveLength(0);
    fail = false;
    const b = await client(port);
    expect((await publish(b)).status.code).toBe('NetStream.Publish.Start'); // channel was released
    // The first session closed (server side) before b's publish was even authorized.
    expect(ended).toHaveLength(0);
  });

  it('reports what is known after mediaInfoTimeoutMs when a sequence header never comes', async () => {
    const { port, started, lines } = await startServer();
    const c = await client(port);
    const { sid } = await publish(c);
    c.send(9, AVC_SEQUENCE_HEADER, { csid: 6, streamId: sid }); // video only, no metadata
    await until(() => started.length === 1, 5000);
    expect(started[0]!.media).toEqual({ video: { codec: 'h264', codecString: 'avc1.4D401F', width: 1280, height: 720 } });
    // Started by the media-info timeout, not by the (incomplete) sequence headers.
    expect(lines.find((l) => l.msg === 'publish started')).toMatchObject({ trigger: 'timeout' });
  });

  it('kick(sessionId) ends the publish with reason kicked and the given detail', async () => {
    const { port, server, started, ended } = await startServer();
    const c = await client(port);
    const { sid } = await publish(c);
    sendSequenceHeaders(c, sid);
    await until(() => started.length === 1);
    expect(server.sessions().get(started[0]!.sessionId)).toMatchObject({ publish: 'live', channelId: 'ch-good', app: 'live' });
    expect(server.kick(started[0]!.sessionId, 'stream key rotated')).toBe(true);
    await c.closed;
    await until(() => ended.length === 1);
    expect(ended[0]).toMatchObject({ reason: 'kicked', detail: 'stream key rotated' });
    expect(server.kick(started[0]!.sessionId, 'again')).toBe(false);
  });

  it('ends a publish still waiting for onPublishStarted only after it resolves, exactly once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    let startedSession: string | undefined;
    const { port, server } = await startServer({
      async onPublishStarted(s) {
        startedSession = s.sessionId;
        await gate;
        order.push('started');
      },
      async onPublishEnded(e) {
        order.push(`ended:${e.reason}`);
      },
    });
    const c = await client(port);
    const { sid } = await publish(c);
    sendSequenceHeaders(c, sid);
    await until(() => startedSession !== undefined); // onPublishStarted is in flight
    c.close();
    await until(() => !server.sessions().has(startedSession!)); // the server saw the disconnect
    expect(order).toEqual([]);
    release();
    await until(() => order.length === 2);
    expect(order).toEqual(['started', 'ended:disconnected']);
  });

  it('does not hold the channel when the publisher leaves during authorization', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const asked: string[] = [];
    const { port, server, started } = await startServer({
      async authorizePublish(req) {
        asked.push(req.sessionId);
        await gate;
        return { ok: true, channelId: 'ch-good' };
      },
    });
    const a = await client(port);
    const sid = await a.connectAndCreateStream();
    a.streamCommand(sid, 'publish', 5, null, 'good-key', 'live');
    await until(() => asked.length === 1); // authorization in flight
    a.close();
    await until(() => !server.sessions().has(asked[0]!)); // gone before its authorization answers
    release();
    const b = await client(port);
    const { sid: sid2, status } = await publish(b);
    expect(status.code).toBe('NetStream.Publish.Start');
    sendSequenceHeaders(b, sid2);
    await until(() => started.length === 1);
  });

  it('acknowledges the peer window (§5.4.3) and answers ping requests (§7.1.7)', async () => {
    const { port } = await startServer();
    const c = await client(port);
    await c.connectAndCreateStream();
    const win = Buffer.alloc(4);
    win.writeUInt32BE(2000, 0);
    c.send(5, win, { csid: 2 });
    // Handshake and connect already exceed 2000 bytes: the first ack comes at once.
    const first = (await c.waitFor((m) => m.typeId === 3)).payload.readUInt32BE(0);
    expect(first).toBeGreaterThan(2 * 1537);
    c.send(9, Buffer.alloc(3000, 1), { csid: 6, streamId: 1 }); // media before publish: ignored
    const second = await c.waitFor((m) => m.typeId === 3 && m.payload.readUInt32BE(0) > first);
    expect(second.payload.readUInt32BE(0)).toBeGreaterThanOrEqual(first + 3000);
    const ping = Buffer.alloc(6);
    ping.writeUInt16BE(6, 0);
    ping.writeUInt32BE(123456, 2);
    c.send(4, ping, { csid: 2 });
    const pong = await c.waitFor((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 7);
    expect(pong.payload.readUInt32BE(2)).toBe(123456);
  });

  it('ends live publishes with reason kicked when the server closes', async () => {
    const { port, server, started, ended } = await startServer();
    const c = await client(port);
    const { sid } = await publish(c);
    sendSequenceHeaders(c, sid);
    await until(() => started.length === 1);
    await server.close();
    expect(ended).toEqual([expect.objectContaining({ reason: 'kicked', detail: 'ingest server shutting down' })]);
    servers = [];
  });
});

describe('bad connections are closed alone, with a warn reason', () => {
  it('handles a bad version byte, a handshake timeout, malformed AMF0, an oversized chunk size and message', async () => {
    const { port, started, ended, lines } = await startServer({ limits: { mediaInfoTimeoutMs: 400, handshakeTimeoutMs: 300, maxMessageSize: 64 * 1024 } });
    const good = await client(port);
    const { sid } = await publish(good);
    sendSequenceHeaders(good, sid);
    await until(() => started.length === 1);

    const http = await client(port, false);
    http.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await http.closed;

    const silent = await client(port, false);
    silent.write(Buffer.from([3, 1, 2, 3]));
    await silent.closed;

    const amf = await client(port);
    amf.send(20, Buffer.from('0200076f6e537461747573' + '03000161', 'hex')); // object never ends
    await amf.closed;

    const chunky = await client(port);
    chunky.setChunkSize(0x7fffffff);
    await chunky.closed;

    const huge = await client(port);
    huge.write(Buffer.from([0x06, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0])); // 1 MiB video message header
    await huge.closed;

    const reasons = warnReasons(lines);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringContaining('C0 version 71'),
        'handshake timeout',
        expect.stringContaining('AMF0'),
        expect.stringContaining('Set Chunk Size 2147483647'),
        expect.stringContaining('exceeds 65536'),
      ]),
    );
    expect(lines.filter((l) => l.level === 40).every((l) => typeof l.remoteAddress === 'string' && typeof l.sessionId === 'string')).toBe(true);

    // The good publish never noticed.
    good.send(9, Buffer.from([0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]), { csid: 6, streamId: sid, timestamp: 33 });
    good.streamCommand(sid, 'FCUnpublish', 6, null, 'good-key');
    await until(() => ended.length === 1);
    expect(ended[0]!.reason).toBe('unpublished');
  });
});

describe('server-wide bounds', () => {
  it('refuses connections over the total cap at accept, reports each to onLimit and logs the offender once', async () => {
    const events: RtmpLimitEvent[] = [];
    const { server, port, lines } = await startServer({ limits: { maxConnections: 2, maxConnectionsPerAddress: 10 }, onLimit: (e) => events.push(e) });
    const a = await client(port);
    const b = await client(port);
    expect(server.stats().connections).toBe(2);
    const over = [await client(port, false), await client(port, false)];
    await Promise.all(over.map((c) => c.closed));
    expect(over.every((c) => c.messages.length === 0)).toBe(true);
    expect(events).toEqual([
      { reason: 'total', action: 'refused', remoteAddress: '127.0.0.1', transport: 'rtmp' },
      { reason: 'total', action: 'refused', remoteAddress: '127.0.0.1', transport: 'rtmp' },
    ]);
    expect(lines.filter((l) => l.msg === 'RTMP connection refused: limit')).toEqual([expect.objectContaining({ reason: 'total', limit: 2, remoteAddress: '127.0.0.1' })]);
    expect(server.sessions().size).toBe(2);
    // The connections already admitted are served as usual.
    expect((await publish(a)).status.code).toBe('NetStream.Publish.Start');
    b.close();
    await until(() => server.stats().connections === 1);
  });

  it('closes the connection whose partial message would exceed the node budget, not the one holding bytes', async () => {
    const events: RtmpLimitEvent[] = [];
    const { server, port, lines } = await startServer({ limits: { maxPendingBytes: 96 * 1024 }, onLimit: (e) => events.push(e) });
    const header = (csid: number, len: number): Buffer => Buffer.from([csid, 0, 0, 0, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 9, 1, 0, 0, 0]);
    const holder = await client(port);
    holder.setChunkSize(65536);
    // 60 KiB of a 61 KiB message: under its own 64 KiB pre-publish budget.
    holder.write(Buffer.concat([header(6, 61 * 1024), Buffer.alloc(60 * 1024, 1)]));
    await until(() => server.stats().pendingBytes === 60 * 1024);
    const grower = await client(port);
    grower.setChunkSize(65536);
    grower.write(Buffer.concat([header(6, 61 * 1024), Buffer.alloc(40 * 1024, 2)]));
    await grower.closed;
    expect(events).toEqual([{ reason: 'node_pending_bytes', action: 'closed', remoteAddress: '127.0.0.1', transport: 'rtmp' }]);
    expect(lines.filter((l) => l.msg === 'closing RTMP connection: limit')).toEqual([expect.objectContaining({ reason: 'node_pending_bytes', limit: 96 * 1024 })]);
    // The holder finishes its message and keeps talking; nothing stays reserved.
    holder.write(Buffer.alloc(1024, 1));
    await until(() => server.stats().pendingBytes === 0);
    holder.command('connect', 1, { app: 'live' });
    await holder.waitForCommand('_result', 1);
  });
});
