/**
 * The REAL transcode and packageVod activities (createActivities) on a real Temporal dev
 * server and nats-server, with real ffmpeg fed from the ingest node's REAL HTTP-FLV relay
 * (apps/ingest/src/relay), itself fed from an FLV file as the RTMP server feeds it:
 *
 * - the default (low-latency) transcode publishes LL-HLS playlists that pass the conformance
 *   checker at every write, then the VOD is packaged from the same playlists;
 * - the worker fetches the relay stream itself (`Authorization: Bearer`) and pipes it into
 *   ffmpeg's stdin: the relay token is in no ffmpeg command line (`/proc/<pid>/cmdline`),
 *   environment (`/proc/<pid>/environ`) or log line of the worker or the relay;
 * - a relay connection that breaks mid-stream while the publish goes on is a failure the
 *   workflow retries: the retry continues the playlists after a discontinuity.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { startServices, type RunningServices } from '@live/dev';
import { connectMessaging, ensureEventStreams, type Messaging } from '@live/messaging';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import { checkLowLatencyPlaylist, llPartUri, parseMediaPlaylist, runFfmpeg, type LlHlsViolation } from '@live/media';
import { liveStreamWorkflowId, publishEndedSignal, TRANSCODE_TASK_QUEUE, type LiveStreamResult } from '@live/workflows';
import { createActivities, LOW_LATENCY_DEFAULT } from '../src/activities.js';
import { WORKFLOWS_PATH } from '../src/workflows-path.js';
import { captureLogger, startRealRelay, type CapturedLog, type RealRelay } from './helpers/real-relay.js';

/** The relay token of this run: random, so finding it anywhere is a leak, not a coincidence. */
const TOKEN = `relay-${randomBytes(12).toString('hex')}`;
const savedEnv = { RELAY_TOKEN: process.env.RELAY_TOKEN, INTERNAL_TOKEN: process.env.INTERNAL_TOKEN };

let work: string;
let flv: Buffer;
let services: RunningServices;
let messaging: Messaging;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let clientConnection: Connection;
let nativeConnection: NativeConnection;
let relay: RealRelay;
let storage: ObjectStorage;
let workerLog: CapturedLog;
const storageRoot = () => path.join(work, 'storage');
const violations: Array<LlHlsViolation & { key: string }> = [];
let llChecks = 0;

const SOURCE = {
  video: { codec: 'h264', codecString: 'avc1.64001f', width: 854, height: 480, frameRate: 30, bitrateKbps: 1200 },
  audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, bitrateKbps: 96 },
};

beforeAll(async () => {
  // what main.ts has in its environment (infra/dev/src/stack.ts passes both): ffmpeg must not inherit them
  process.env.RELAY_TOKEN = TOKEN;
  process.env.INTERNAL_TOKEN = TOKEN;
  work = await mkdtemp(path.join(tmpdir(), 'worker-transcode-int-'));
  const flvPath = path.join(work, 'source.flv');
  // what a publisher sends: H.264 480p30, 2 s GOP, AAC; 6 s
  await runFfmpeg([
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-b:v', '1200k', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', flvPath,
  ]);
  flv = readFileSync(flvPath);
  // the ingest node's HTTP-FLV relay, the real one: Bearer token only
  relay = await startRealRelay(TOKEN);

  services = await startServices({ logger: pino({ level: 'silent' }), name: 'transcode-int', external: { databaseUrl: 'postgres://unused@127.0.0.1:1/x' } });
  messaging = await connectMessaging(services.endpoints.natsUrl, 'transcode-int');
  await ensureEventStreams(messaging.jsm);
  storage = createLocalStorage({ rootDir: storageRoot() });
  storage.onPlaylistWritten(({ key }) => {
    if (!key.endsWith('/index.m3u8')) return;
    const text = readFileSync(path.join(storageRoot(), key), 'utf8');
    if (text.includes('#EXT-X-ENDLIST')) return;
    llChecks++;
    for (const v of checkLowLatencyPlaylist(text, { partUri: llPartUri, renditionReports: 1 })) if (v.severity === 'error') violations.push({ ...v, key });
  });
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  nativeConnection = await NativeConnection.connect({ address: services.endpoints.temporalAddress });
  // debug: ffmpeg's stderr lines are logged too, and checked for the token
  workerLog = captureLogger();
  worker = await Worker.create({
    connection: nativeConnection, taskQueue: TRANSCODE_TASK_QUEUE, workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({
      storage, js: messaging.js, workDir: path.join(work, 'work'), relayToken: TOKEN, logger: workerLog.logger, preset: 'ultrafast',
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
  await relay?.close();
  if (work) await rm(work, { recursive: true, force: true });
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}, 60_000);

/** Resolves with the playlist's text at the first write (or the current version) that satisfies `ok`. */
function waitForPlaylist(key: string, ok: (text: string) => boolean, timeoutMs: number): Promise<string> {
  const read = () => {
    try {
      return readFileSync(path.join(storageRoot(), key), 'utf8');
    } catch {
      return '';
    }
  };
  return new Promise((resolve, reject) => {
    const now = read();
    if (ok(now)) return resolve(now);
    const off = storage.onPlaylistWritten((e) => {
      if (e.key !== key) return;
      const text = read();
      if (!ok(text)) return;
      clearTimeout(timer);
      off();
      resolve(text);
    });
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${key} not as expected after ${timeoutMs} ms:\n${read()}`));
    }, timeoutMs);
  });
}

const segmentCount = (text: string) => (text.match(/^#EXTINF:/gm) ?? []).length;

/** The ffmpeg processes this test process started (ppid = us; setpriv execs ffmpeg in place). */
function ffmpegChildren(): Array<{ pid: number; cmdline: string[]; environ: string }> {
  const found: Array<{ pid: number; cmdline: string[]; environ: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8'); // "pid (comm) state ppid ..."
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!path.basename(cmdline[0] ?? '').startsWith('ffmpeg')) continue;
      found.push({ pid: Number(entry), cmdline, environ: readFileSync(`/proc/${entry}/environ`, 'utf8') });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function startSession(sessionId: string) {
  return client.workflow.start('liveStream', {
    taskQueue: TRANSCODE_TASK_QUEUE, workflowId: liveStreamWorkflowId(sessionId),
    args: [{ channelId: 'demo', sessionId, relayUrl: `${relay.base}/relay/${sessionId}.flv`, publishEventId: `evt-${sessionId}`, source: SOURCE }],
  });
}

describe('transcode activity (real ffmpeg, real relay, Temporal, NATS)', () => {
  it('publishes conforming LL-HLS playlists by default, then packages the VOD', async () => {
    expect(LOW_LATENCY_DEFAULT).toBe(true);
    const sessionId = '01900000-0000-7000-8000-0000000011a1';
    const handle = await startSession(sessionId);
    const published = relay.publish(sessionId, flv);
    // the transcode ends at the relay's EOF and closes the playlists (ENDLIST)
    await waitForPlaylist(`sessions/${sessionId}/480p/index.m3u8`, (t) => t.includes('#EXT-X-ENDLIST'), 60_000);
    await published;
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

  it.runIf(process.platform === 'linux')('the relay token is in no ffmpeg command line, environment or log line; the stream is transcoded from stdin', async () => {
    const sessionId = '01900000-0000-7000-8000-0000000011a2';
    const handle = await startSession(sessionId);
    const published = relay.publish(sessionId, flv);
    const playlist = `sessions/${sessionId}/480p/index.m3u8`;
    // ffmpeg is running: it has cut a segment, and the 6 s publish goes on
    await waitForPlaylist(playlist, (t) => segmentCount(t) >= 1, 60_000);
    const children = ffmpegChildren();
    const transcoder = children.filter((c) => c.cmdline.includes('pipe:0'));
    expect(transcoder, JSON.stringify(children.map((c) => c.cmdline))).toHaveLength(1);
    expect(transcoder[0]!.cmdline.join(' ')).toContain('-f flv -i pipe:0');
    for (const c of children) {
      const argv = c.cmdline.join(' ');
      expect(argv).not.toContain(TOKEN);
      expect(argv).not.toMatch(/token=|Bearer|Authorization|\/relay\//i);
      expect(c.environ).not.toContain(TOKEN);
      expect(c.environ).not.toMatch(/(^|\0)(RELAY_TOKEN|INTERNAL_TOKEN)=/);
    }
    expect(process.env.RELAY_TOKEN).toBe(TOKEN); // it was there to be inherited

    // and the stream was transcoded: the playlists end with segments from the whole publish
    const text = await waitForPlaylist(playlist, (t) => t.includes('#EXT-X-ENDLIST'), 60_000);
    expect(segmentCount(text)).toBeGreaterThanOrEqual(3);
    await published;
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-3' });
    expect(((await handle.result()) as LiveStreamResult).status).toBe('vod');

    expect(relay.log.lines.some((l) => l.msg === 'relay subscriber attached' && l.sessionId === sessionId)).toBe(true);
    expect(relay.log.text()).not.toContain(TOKEN);
    expect(workerLog.lines.some((l) => l.msg === 'transcode started' && l.sessionId === sessionId)).toBe(true);
    expect(workerLog.text()).not.toContain(TOKEN);
  }, 120_000);

  it('a relay connection that breaks mid-stream is retried: the retry continues the playlists after a discontinuity', async () => {
    const sessionId = '01900000-0000-7000-8000-0000000011a3';
    const handle = await startSession(sessionId);
    const published = relay.publish(sessionId, flv, { loops: 2 }); // 12 s
    const playlist = `sessions/${sessionId}/480p/index.m3u8`;
    await waitForPlaylist(playlist, (t) => segmentCount(t) >= 1, 60_000);
    // the ingest node drops the connection (as it does to a slow subscriber); the publish goes on
    relay.server.closeAllConnections();
    const text = await waitForPlaylist(playlist, (t) => t.includes('#EXT-X-ENDLIST'), 90_000);
    await published;
    const maps = [...text.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)].map((m) => m[1]);
    expect(text).toContain('#EXT-X-DISCONTINUITY');
    expect(maps).toEqual(['init_1.mp4', 'init_2.mp4']);
    expect(segmentCount(text.split('#EXT-X-DISCONTINUITY')[1]!)).toBeGreaterThanOrEqual(1);
    const retried = workerLog.lines.find((l) => l.msg === 'transcode failed while the source is live; will retry' && l.sessionId === sessionId);
    expect(String(retried?.err)).toMatch(/input failed: relay stream http:\/\/127\.0\.0\.1:\d+\/relay\/[0-9a-f-]+\.flv failed/);
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-4' });
    expect(((await handle.result()) as LiveStreamResult).status).toBe('vod');
    expect(workerLog.text()).not.toContain(TOKEN);
    expect(relay.log.text()).not.toContain(TOKEN);
  }, 150_000);
});
