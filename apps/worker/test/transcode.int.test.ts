/**
 * The REAL transcode and packageVod activities (createActivities) on a real Temporal dev
 * server and nats-server, with real ffmpeg reading an HTTP-FLV relay served by the test:
 * the default (low-latency) transcode publishes LL-HLS playlists that pass the conformance
 * checker at every write, then the VOD is packaged from the same playlists.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { startServices, type RunningServices } from '@live/dev';
import { connectMessaging, ensureEventStreams, type Messaging } from '@live/messaging';
import { createLocalStorage } from '@live/storage';
import { checkLowLatencyPlaylist, llPartUri, parseMediaPlaylist, runFfmpeg, type LlHlsViolation } from '@live/media';
import { liveStreamWorkflowId, publishEndedSignal, TRANSCODE_TASK_QUEUE, type LiveStreamResult } from '@live/workflows';
import { createActivities, LOW_LATENCY_DEFAULT } from '../src/activities.js';
import { WORKFLOWS_PATH } from '../src/workflows-path.js';

let work: string;
let services: RunningServices;
let messaging: Messaging;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let clientConnection: Connection;
let nativeConnection: NativeConnection;
let relay: Server;
let relayBase: string;
const storageRoot = () => path.join(work, 'storage');
const violations: Array<LlHlsViolation & { key: string }> = [];
let llChecks = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'worker-transcode-int-'));
  const flv = path.join(work, 'source.flv');
  // what a publisher sends: H.264 480p30, 2 s GOP, AAC; 6 s
  await runFfmpeg([
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-b:v', '1200k', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', flv,
  ]);
  // the ingest node's HTTP-FLV relay, token-checked like the real one
  relay = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('token') !== 'relay-secret' && req.headers.authorization !== 'Bearer relay-secret') {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'video/x-flv' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // paced like a live publisher: the 6 s file over ~6 s, in 100 ms steps
    const bytes = readFileSync(flv);
    const step = Math.ceil(bytes.length / 60);
    let at = 0;
    const timer = setInterval(() => {
      res.write(bytes.subarray(at, at + step));
      at += step;
      if (at >= bytes.length) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayBase = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;

  services = await startServices({ logger: pino({ level: 'silent' }), name: 'transcode-int', external: { databaseUrl: 'postgres://unused@127.0.0.1:1/x' } });
  messaging = await connectMessaging(services.endpoints.natsUrl, 'transcode-int');
  await ensureEventStreams(messaging.jsm);
  const storage = createLocalStorage({ rootDir: storageRoot() });
  storage.onPlaylistWritten(({ key }) => {
    if (!key.endsWith('/index.m3u8')) return;
    const text = readFileSync(path.join(storageRoot(), key), 'utf8');
    if (text.includes('#EXT-X-ENDLIST')) return;
    llChecks++;
    for (const v of checkLowLatencyPlaylist(text, { partUri: llPartUri, renditionReports: 1 })) if (v.severity === 'error') violations.push({ ...v, key });
  });
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  nativeConnection = await NativeConnection.connect({ address: services.endpoints.temporalAddress });
  worker = await Worker.create({
    connection: nativeConnection, taskQueue: TRANSCODE_TASK_QUEUE, workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({
      storage, js: messaging.js, workDir: path.join(work, 'work'), relayToken: 'relay-secret', logger: pino({ level: 'silent' }), preset: 'ultrafast',
    }),
  });
  running = worker.run();
  clientConnection = await Connection.connect({ address: services.endpoints.temporalAddress });
  client = new Client({ connection: clientConnection });
}, 180_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await clientConnection?.close();
  await nativeConnection?.close();
  await messaging?.close();
  await services?.stop();
  relay?.close();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('transcode activity (real ffmpeg, Temporal, NATS)', () => {
  it('publishes conforming LL-HLS playlists by default, then packages the VOD', async () => {
    expect(LOW_LATENCY_DEFAULT).toBe(true);
    const sessionId = 'll-1';
    const handle = await client.workflow.start('liveStream', {
      taskQueue: TRANSCODE_TASK_QUEUE, workflowId: liveStreamWorkflowId(sessionId),
      args: [{
        channelId: 'demo', sessionId, relayUrl: `${relayBase}/relay/${sessionId}.flv`, publishEventId: 'evt-1',
        source: {
          video: { codec: 'h264', codecString: 'avc1.64001f', width: 854, height: 480, frameRate: 30, bitrateKbps: 1200 },
          audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, bitrateKbps: 96 },
        },
      }],
    });
    // the transcode ends at the relay's EOF and closes the playlists (ENDLIST)
    const playlist = path.join(storageRoot(), 'sessions', sessionId, '480p', 'index.m3u8');
    const deadline = Date.now() + 60_000;
    for (;;) {
      let text = '';
      try {
        text = readFileSync(playlist, 'utf8');
      } catch {
        // not yet
      }
      if (text.includes('#EXT-X-ENDLIST')) break;
      if (Date.now() > deadline) throw new Error(`transcode did not finish; playlist:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-2' });
    const result = (await handle.result()) as LiveStreamResult;
    expect(result.status).toBe('vod');

    expect(violations).toEqual([]);
    expect(llChecks).toBeGreaterThan(10); // many live playlist versions were checked
    for (const name of ['480p', '240p']) {
      const pl = parseMediaPlaylist(readFileSync(path.join(storageRoot(), 'sessions', sessionId, name, 'index.m3u8'), 'utf8'));
      expect(pl.endList).toBe(true);
      expect(pl.segments.length).toBeGreaterThanOrEqual(3);
      expect(pl.segments[0]!.map).toBe('init_1.mp4');
    }
    const vod = readFileSync(path.join(storageRoot(), 'sessions', sessionId, 'vod.m3u8'), 'utf8');
    expect(vod).toContain('480p/vod.m3u8');
  }, 120_000);
});
