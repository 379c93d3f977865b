/**
 * The SRT listener (apps/ingest/src/srt/) on a real ingest node with nats-server (JetStream) and
 * PostgreSQL, published to by ffmpeg over `srt://` (Debian's libsrt on both sides): the stream key
 * in the streamid (plain and `#!::` forms), H.264 and HEVC, passphrase encryption, the gate's key
 * rules and control kicks, and bad input (wrong passphrase, a streamid in request mode, random UDP
 * datagrams, bytes that are not MPEG-TS) closing only that connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@live/dev/testing';
import { generateStreamKey, hashStreamKey, type Db } from '@live/db';
import { appendEvent, type Messaging } from '@live/messaging';
import { channelSubject, domainEvent, systemClock, type DomainEvent, type EventOf } from '@live/events';
import type { IngestNode } from '../src/node.js';
import { channelWithKey, streamEvents } from './helpers/channels.js';
import { startTestNode, type TestNode } from './helpers/node.js';

const PASSPHRASE = 'correct-horse-battery';
let t: TestNode;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  t = await startTestNode('srt', {
    srt: { port: 0, host: '127.0.0.1', latencyMs: 120, passphrase: PASSPHRASE, limits: { idleTimeoutMs: 3000, maxProbeBytes: 64 * 1024 } },
  });
  ({ db, messaging, node } = t);
}, 120_000);

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

afterAll(async () => {
  await t?.stop();
}, 60_000);

const waitEvent = <T extends DomainEvent['type']>(channelId: string, type: T) =>
  waitFor(type, async () => (await streamEvents(messaging, channelId)).find((e): e is EventOf<T> => e.type === type), 45_000, 250);

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
}

interface SrtPublish {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
}

/** ffmpeg publishing a 320x180 test pattern with AAC as MPEG-TS over SRT with `streamid`. */
function publishSrt(streamId: string, opts: { seconds?: number; passphrase?: string | null; codec?: 'h264' | 'hevc' } = {}): SrtPublish {
  // As OBS writes it: ffmpeg passes the query's values on as they are (no URL decoding).
  const passphrase = opts.passphrase === undefined ? PASSPHRASE : opts.passphrase;
  const query = `streamid=${streamId}&latency=120000${passphrase === null ? '' : `&passphrase=${passphrase}`}`;
  const video = opts.codec === 'hevc'
    ? ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error:keyint=15']
    : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15'];
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(opts.seconds ?? 60), ...video, '-c:a', 'aac', '-f', 'mpegts', `srt://127.0.0.1:${node.srt!.port}?${query}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, done: new Promise((r) => child.once('close', (code) => r({ code, stderr }))) };
}

/** Sends `count` random UDP datagrams (1–1400 bytes) to the SRT port. */
async function sprayGarbage(count: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  for (let i = 0; i < count; i++) {
    await new Promise<void>((r, j) => sock.send(randomBytes(1 + ((i * 137) % 1400)), node.srt!.port, '127.0.0.1', (err) => (err ? j(err) : r())));
  }
  sock.close();
}

describe('SRT ingest', () => {
  it('publishes with the #!:: streamid: StreamPublishStarted with H.264/AAC, then StreamPublishEnded unpublished when ffmpeg finishes', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey(db, 'srt-ac');
    const p = publishSrt(`#!::r=live/${key},m=publish`, { seconds: 8 });
    const started = await waitEvent(channelId, 'StreamPublishStarted');
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 320, height: 180 }, audio: { codec: 'aac' } });
    expect([...node.gate.sessions().keys()]).toContain(started.data.sessionId);
    expect((await p.done).code).toBe(0);
    const ended = await waitEvent(channelId, 'StreamPublishEnded');
    expect(ended.data).toMatchObject({ sessionId: started.data.sessionId, reason: 'unpublished' });
    expect(ended.data.bytesReceived).toBeGreaterThan(10_000);
    expect(await metrics()).toMatch(/ingest_publish_attempts_total\{protocol="srt",result="accepted"\} [1-9]/);
  });

  it('publishes HEVC with the plain key (transcoded to H.264 for the relay); a rotated key kicks the SRT publisher', { timeout: 120_000 }, async () => {
    const { channelId, key, keyId } = await channelWithKey(db, 'srt-hevc');
    const p = publishSrt(`m=publish,r=live/${key}`.replace(/^/, '#!::'), { codec: 'hevc' });
    const started = await waitEvent(channelId, 'StreamPublishStarted');
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 320, height: 180 }, audio: { codec: 'aac' } });
    p.child.kill('SIGKILL');
    await p.done;
    await waitEvent(channelId, 'StreamPublishEnded');

    const plain = publishSrt(key, { codec: 'hevc' });
    const second = await waitFor('second start', async () =>
      (await streamEvents(messaging, channelId)).filter((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted')[1], 45_000, 250);
    const newKey = generateStreamKey();
    await appendEvent(messaging.js, domainEvent(systemClock, 'StreamKeyRotated', channelSubject(channelId), {
      channelId, oldKeyId: keyId, keyId: crypto.randomUUID(), keyHash: hashStreamKey(newKey), keyLast4: newKey.slice(-4), label: 'OBS', expiresAt: null, allowedCidrs: [], actorUserId: 'owner-1',
    }, { producer: 'test' }));
    const exit = await plain.done;
    expect(exit.code).not.toBe(0);
    const ended = await waitFor('kicked end', async () =>
      (await streamEvents(messaging, channelId)).find((e): e is EventOf<'StreamPublishEnded'> => e.type === 'StreamPublishEnded' && e.data.sessionId === second.data.sessionId), 45_000, 250);
    expect(ended.data.reason).toBe('kicked');
    expect(await metrics()).toContain('ingest_kicks_total{reason="key_rotated"} 1');
  });

  it('refuses a wrong key (no StreamPublishStarted), a request-mode streamid, a wrong or missing passphrase, UDP garbage and non-TS bytes; a good publish works after them', { timeout: 180_000 }, async () => {
    const { channelId, key } = await channelWithKey(db, 'srt-bad');
    const wrongKey = publishSrt(`#!::r=live/${generateStreamKey()},m=publish`, { seconds: 20 });
    expect((await wrongKey.done).code).not.toBe(0);
    expect(await metrics()).toMatch(/ingest_publish_attempts_total\{protocol="srt",result="unknown_stream_key"\} [1-9]/);

    const request = publishSrt(`#!::r=live/${key},m=request`, { seconds: 20 });
    expect((await request.done).code).not.toBe(0);
    expect(await metrics()).toMatch(/ingest_srt_connections_closed_total\{reason="bad_stream_id"\} [1-9]/);

    for (const passphrase of ['wrong-passphrase', null]) {
      const bad = publishSrt(key, { seconds: 20, passphrase });
      const exit = await bad.done;
      expect(exit.code).not.toBe(0);
      expect(exit.stderr).toMatch(/Connection|failed|error/i);
    }
    await sprayGarbage(300);

    // Bytes that are not MPEG-TS over a valid SRT connection: closed once the probe budget is spent.
    const notTs = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'anoisesrc=sample_rate=48000', '-t', '20', '-f', 's16le',
      `srt://127.0.0.1:${node.srt!.port}?streamid=${encodeURIComponent(key)}&passphrase=${encodeURIComponent(PASSPHRASE)}&payload_size=1316`,
    ], { stdio: 'ignore' });
    children.add(notTs);
    const notTsExit = await new Promise<number | null>((r) => notTs.once('close', r));
    expect(notTsExit).not.toBe(0);
    expect(await metrics()).toMatch(/ingest_srt_connections_closed_total\{reason="not_mpegts"\} [1-9]/);
    expect((await streamEvents(messaging, channelId)).filter((e) => e.type === 'StreamPublishStarted')).toHaveLength(0);

    const good = publishSrt(key, { seconds: 30 });
    await sprayGarbage(300); // while it publishes
    const started = await waitEvent(channelId, 'StreamPublishStarted');
    expect(started.data.source).toMatchObject({ video: { codec: 'h264' } });
    good.child.kill('SIGKILL');
    expect((await fetch(`http://127.0.0.1:${node.httpAddress.port}/healthz`)).status).toBe(200);
  });
});
