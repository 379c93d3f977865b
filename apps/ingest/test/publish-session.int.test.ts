/**
 * The protocol-neutral publish path (publish-gate.ts, publish-session.ts, remux/) on a real ingest
 * node, nats-server (JetStream) and PostgreSQL, with ffmpeg producing MPEG-TS (as an SRT
 * publisher sends it) that the remux turns into the relay's FLV: the same key rules, events and
 * one-publisher-per-channel rule as RTMP, and the control listener kicks such a publish too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { publishTestPattern, waitFor, type Publisher } from '@live/dev/testing';
import { generateStreamKey, type Db } from '@live/db';
import { appendEvent, type Messaging } from '@live/messaging';
import { streamEvent, systemClock, type EventOf } from '@live/events';
import type { IngestNode } from '../src/node.js';
import { createPublishSessions, type PublishSessions } from '../src/publish-session.js';
import { startFlvRemux } from '../src/remux/ffmpeg-remux.js';
import type { PublishRefusalCode } from '../src/rtmp/index.js';
import { channelWithKey, streamEvents } from './helpers/channels.js';
import { startTestNode, type TestNode } from './helpers/node.js';

let t: TestNode;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
let sessions: PublishSessions;
const children = new Set<ChildProcess>();
const publishers = new Set<Publisher>();
const aborts = new Set<AbortController>();

beforeAll(async () => {
  t = await startTestNode('publish-session');
  ({ db, messaging, node } = t);
  sessions = createPublishSessions(node.gate);
}, 120_000);

afterEach(() => {
  for (const a of aborts) a.abort();
  aborts.clear();
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const p of publishers) p.child.kill('SIGKILL');
  publishers.clear();
});

afterAll(async () => {
  await t?.stop();
}, 60_000);

/** ffmpeg writing 60 s of a 320x180 test pattern with AAC as MPEG-TS to stdout, as an SRT encoder sends it. */
function mpegtsSource(): ChildProcess {
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '60', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-c:a', 'aac', '-f', 'mpegts', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(child);
  return child;
}

interface Opened {
  refused: Promise<{ code: PublishRefusalCode; description: string }>;
  disconnected: Promise<string>;
  session: ReturnType<PublishSessions['open']>;
}

/** Opens a session for `key` fed by an MPEG-TS source through the FLV remux. */
function publishTs(key: string): Opened {
  const connectionId = crypto.randomUUID();
  const abort = new AbortController();
  aborts.add(abort);
  let refused!: (r: { code: PublishRefusalCode; description: string }) => void;
  let disconnected!: (reason: string) => void;
  const o = {
    refused: new Promise<{ code: PublishRefusalCode; description: string }>((r) => (refused = r)),
    disconnected: new Promise<string>((r) => (disconnected = r)),
  };
  const session = sessions.open({
    protocol: 'srt', connectionId, remoteAddress: '127.0.0.1', streamKey: key, logger: pino({ level: 'silent' }),
    onRefused: (code, description) => { refused({ code, description }); abort.abort(); },
    disconnect: (reason) => { disconnected(reason); abort.abort(); },
  });
  session.start();
  const source = mpegtsSource();
  source.stdout!.on('data', (c: Buffer) => session.received(c.length));
  const remux = startFlvRemux({ inputArgs: ['-analyzeduration', '1000000', '-f', 'mpegts', '-i', 'pipe:0'], stdin: source.stdout!, signal: abort.signal, logger: pino({ level: 'silent' }), onMessage: (m) => session.write(m) });
  void remux.done.then(() => session.end('unpublished'), (err: Error) => session.end('error', err.message));
  return { ...o, session };
}

describe('a publish over a non-RTMP protocol', () => {
  it('starts a session with the media info of the remuxed stream; a stop request kicks it and StreamPublishEnded says kicked', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey(db, 'ps-start');
    const p = publishTs(key);
    const started = await waitFor('StreamPublishStarted', async () =>
      (await streamEvents(messaging, channelId)).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted'), 30_000, 250);
    expect(started.data.sessionId).toBe(p.session.connectionId);
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 320, height: 180 }, audio: { codec: 'aac' } });
    expect(p.session.phase()).toBe('live');
    expect([...node.gate.sessions().keys()]).toContain(p.session.connectionId);

    // One publisher per channel, whatever the protocol: RTMP with the same key is refused.
    const rtmp = publishTestPattern(`rtmp://127.0.0.1:${node.rtmpAddress.port}/live/${key}`, { seconds: 5, width: 160, height: 90, fps: 10, videoKbps: 100 });
    publishers.add(rtmp);
    const rtmpExit = await rtmp.done;
    expect(rtmpExit.code).not.toBe(0);

    const stop = streamEvent(systemClock, 'StreamStopRequested', { channelId, sessionId: started.data.sessionId, actorUserId: 'owner-1' }, { producer: 'test' });
    await appendEvent(messaging.js, stop);
    expect(await p.disconnected).toMatch(/stopped by owner-1/);
    const ended = await waitFor('StreamPublishEnded', async () =>
      (await streamEvents(messaging, channelId)).find((e): e is EventOf<'StreamPublishEnded'> => e.type === 'StreamPublishEnded'), 30_000, 250);
    expect(ended.data).toMatchObject({ sessionId: started.data.sessionId, reason: 'kicked' });
    expect(p.session.phase()).toBe('ended');
  });

  it('refuses a wrong key with UNKNOWN_STREAM_KEY and appends nothing', { timeout: 60_000 }, async () => {
    const { channelId } = await channelWithKey(db, 'ps-wrong');
    const p = publishTs(generateStreamKey());
    expect((await p.refused).code).toBe('UNKNOWN_STREAM_KEY');
    expect(p.session.phase()).toBe('ended');
    expect(await streamEvents(messaging, channelId)).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
    expect(metrics).toMatch(/ingest_publish_attempts_total\{protocol="srt",result="unknown_stream_key"\} [1-9]/);
  });
});
