/**
 * RTMP ingest + HTTP-FLV relay against real ffmpeg/ffprobe processes (FFMPEG_PATH/FFPROBE_PATH or
 * PATH). Each test stays well under 30 s; the file under ~40 s on 2 cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelay, createRelayServer, type Relay } from '../src/relay/index.js';
import { createRtmpServer, type PublishEndedEvent, type PublishStartedEvent, type RtmpServer } from '../src/rtmp/index.js';
import { captureLogger, type LogLine } from './helpers/log.js';

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';
const TOKEN = 'relay-test-token';

let rtmp: RtmpServer;
let relay: Relay;
let relayHttp: Server;
let rtmpPort: number;
let relayBase: string;
let lines: LogLine[];
let started: PublishStartedEvent[] = [];
let ended: PublishEndedEvent[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  const log = captureLogger();
  lines = log.lines;
  relay = createRelay({ logger: log.logger });
  rtmp = createRtmpServer({
    logger: log.logger,
    mediaSink: relay,
    async authorizePublish({ app, streamKey }) {
      if (app !== 'live') return { ok: false, code: 'BAD_APP', description: 'Unknown application.' };
      if (streamKey === 'good-key') return { ok: true, channelId: 'channel-good' };
      return { ok: false, code: 'UNKNOWN_STREAM_KEY', description: 'Unknown stream key.' };
    },
    async onPublishStarted(s) {
      started.push(s);
    },
    async onPublishEnded(s) {
      ended.push(s);
    },
    limits: { handshakeTimeoutMs: 1500 },
  });
  rtmpPort = (await rtmp.listen(0, '127.0.0.1')).port;
  relayHttp = createRelayServer({ relay, token: TOKEN, logger: log.logger });
  await new Promise<void>((resolve) => relayHttp.listen(0, '127.0.0.1', () => resolve()));
  relayBase = `http://127.0.0.1:${(relayHttp.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  started = [];
  ended = [];
});

afterAll(async () => {
  await rtmp.close();
  relayHttp.closeAllConnections();
  await new Promise<void>((resolve) => relayHttp.close(() => resolve()));
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Publishes a 1280x720 test pattern + 440 Hz tone as H.264/AAC for `seconds` of real time. */
function publish(key: string, seconds: number): Promise<Run> {
  return run(FFMPEG, [
    '-hide_banner', '-loglevel', 'error',
    '-re', // read the input at its native frame rate, like a live encoder
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast',
    '-g', '60', // a key frame every 2 s, so the relay's GOP cache matters
    '-c:a', 'aac',
    '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
  ]);
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface ProbedStream {
  codec_name: string;
  codec_type: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  nb_read_packets?: string;
}

describe('RTMP ingest with ffmpeg', () => {
  it('accepts a publish, reports media info, relays HTTP-FLV to an authorised reader and reports unpublished once', { timeout: 30_000 }, async () => {
    const publisher = publish('good-key', 6);
    await until(() => started.length === 1, 10_000);
    const s = started[0]!;
    expect(s).toMatchObject({ channelId: 'channel-good', app: 'live' });
    expect(s.media.video).toMatchObject({ codec: 'h264', width: 1280, height: 720, frameRate: 30 });
    expect(s.media.video?.codecString).toMatch(/^avc1\.[0-9A-F]{6}$/);
    expect(s.media.audio).toMatchObject({ codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000 });

    const url = `${relayBase}/relay/${s.sessionId}.flv`;
    const unauthorized = await fetch(url);
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ code: 'UNAUTHORIZED' });

    // The token is accepted only as a Bearer header (never ?token=, which ends up in URLs and logs).
    expect((await fetch(`${url}?token=${TOKEN}`, { method: 'HEAD' })).status).toBe(401);
    // A quick probe, and a reader that consumes the whole stream until EOF (like the transcoder does).
    const bearer = `Authorization: Bearer ${TOKEN}\r\n`;
    const probe = await run(FFPROBE, ['-v', 'error', '-headers', bearer, '-show_entries', 'stream=codec_name,codec_type,width,height,sample_rate', '-of', 'json', url]);
    expect(probe.code, probe.stderr).toBe(0);
    const probed = (JSON.parse(probe.stdout) as { streams: ProbedStream[] }).streams;
    expect(probed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 1280, height: 720 }),
        expect.objectContaining({ codec_type: 'audio', codec_name: 'aac', sample_rate: '48000' }),
      ]),
    );
    const reader = run(FFPROBE, ['-v', 'error', '-headers', bearer, '-count_packets', '-show_entries', 'stream=codec_name,nb_read_packets', '-of', 'json', url]);

    const pub = await publisher;
    expect(pub.code, pub.stderr).toBe(0);
    await until(() => ended.length === 1, 5000);
    const read = await reader; // returns only because the relay response ended at unpublish
    expect(read.code, read.stderr).toBe(0);
    const counted = (JSON.parse(read.stdout) as { streams: ProbedStream[] }).streams;
    const packets = (codec: string): number => Number(counted.find((x) => x.codec_name === codec)?.nb_read_packets ?? 0);
    expect(packets('h264')).toBeGreaterThan(30);
    expect(packets('aac')).toBeGreaterThan(30);

    // The session is gone from the server: nothing can report its end a second time.
    await until(() => !rtmp.sessions().has(s.sessionId), 5000);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ sessionId: s.sessionId, channelId: 'channel-good', reason: 'unpublished' });
    expect(ended[0]!.bytesReceived).toBeGreaterThan(100_000);
    expect(relay.has(s.sessionId)).toBe(false);
    expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('refuses a wrong stream key: ffmpeg exits non-zero and onPublishStarted is never called', { timeout: 20_000 }, async () => {
    const res = await publish('wrong-key', 2);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/NetStream\.Publish\.BadName|Unknown stream key/);
    expect(started).toHaveLength(0);
    expect(ended).toHaveLength(0);
    expect(lines.some((l) => l.msg === 'publish refused' && l.code === 'UNKNOWN_STREAM_KEY')).toBe(true);
  });

  it('refuses a second concurrent publish of the same key, and bad connections do not disturb the live one', { timeout: 30_000 }, async () => {
    const warnsBefore = lines.filter((l) => l.level === 40).length;
    const first = publish('good-key', 6);
    await until(() => started.length === 1, 10_000);

    const second = await publish('good-key', 2);
    expect(second.code).not.toBe(0);
    expect(lines.some((l) => l.msg === 'publish refused' && l.code === 'ALREADY_LIVE')).toBe(true);

    const raw = (bytes: Buffer, end: boolean): Promise<void> =>
      new Promise((resolve) => {
        const sock = connect(rtmpPort, '127.0.0.1', () => {
          sock.write(bytes);
          if (end) sock.end();
        });
        sock.resume(); // discard whatever the server answers, so 'close' can fire
        sock.on('error', () => undefined);
        sock.on('close', () => resolve());
      });
    const handshakeThenHugeChunkSize = (): Buffer => {
      const c0c1 = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]);
      const c2 = Buffer.alloc(1536);
      // Set Chunk Size (type 1) of 16 MiB on chunk stream 2
      const setChunk = Buffer.from([0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x01, 0, 0, 0]);
      return Buffer.concat([c0c1, c2, setChunk]);
    };
    await Promise.all([
      raw(Buffer.from('\x16\x03\x01garbage-tls-hello'.repeat(50), 'latin1'), false), // not RTMP at all
      raw(Buffer.concat([Buffer.from([3]), Buffer.alloc(700)]), true), // truncated handshake, then FIN
      raw(Buffer.concat([Buffer.from([3]), Buffer.alloc(700)]), false), // truncated handshake, then silence
      raw(handshakeThenHugeChunkSize(), false),
      raw(Buffer.concat([handshakeThenHugeChunkSize().subarray(0, 3073), Buffer.alloc(4096, 0xff)]), false), // chunk garbage
    ]);

    const warns = lines.filter((l) => l.level === 40).slice(warnsBefore);
    const reasons = warns.map((l) => String(l.reason));
    expect(reasons.some((r) => r.includes('C0 version 22'))).toBe(true);
    expect(reasons).toContain('handshake timeout');
    expect(reasons.some((r) => r.includes('Set Chunk Size 16777216'))).toBe(true);
    expect(warns.every((l) => typeof l.remoteAddress === 'string')).toBe(true);

    const pub = await first;
    expect(pub.code, pub.stderr).toBe(0);
    await until(() => ended.length === 1, 5000);
    expect(started).toHaveLength(1);
    expect(ended).toEqual([expect.objectContaining({ channelId: 'channel-good', reason: 'unpublished' })]);
    expect(JSON.stringify(lines)).not.toContain('good-key');
  });
});
