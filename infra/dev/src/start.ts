/**
 * `npm start`: starts the whole platform on this machine (embedded default), prints where to
 * publish and where to watch, writes `.run/stack.json`, and stops everything on Ctrl-C.
 * Env: STACK_PROFILE (`single`, the default, or `cluster`: three nats-servers, MinIO, two of
 * every app behind HAProxy; see `StartStackOptions.profile`), LOG_LEVEL (default info; app logs
 * at or above it are printed), DATA_DIR, STACK_FILE
 * (default `<repo>/.run/stack.json`), RTMP_HOST, RTMP_PORT, SRT_PORT (UDP), API_PORT, EDGE_PORT, WEB_PORT, and
 * NATS_URL / TEMPORAL_ADDRESS / DATABASE_URL to use external servers instead of embedded ones.
 */
import pino from 'pino';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { REPO_ROOT, srtPublishUrl, startStack } from './stack.js';

const level = process.env.LOG_LEVEL ?? 'info';
const logger = pino({ name: 'stack', level });
const minLevel = pino.levels.values[level] ?? 30;

/**
 * The apps log pino JSON; the supervisor hands each line over wrapped in its own record. Print
 * the app records at or above LOG_LEVEL as one readable line each (`[ingest] warn publish
 * refused code=UNKNOWN_STREAM_KEY`), and any non-JSON stderr (a crash) as it is.
 */
const appConsole = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const raw of chunk.toString('utf8').split('\n')) {
      if (!raw) continue;
      let outer: { service?: string; stream?: string; msg?: string };
      try { outer = JSON.parse(raw); } catch { continue; }
      const line = outer.msg ?? '';
      let inner: Record<string, unknown> | null = null;
      try { inner = JSON.parse(line); } catch { inner = null; }
      if (inner && typeof inner.level === 'number') {
        if (inner.level < minLevel) continue;
        const { level: lvl, time: _t, pid: _p, hostname: _h, name: _n, msg, ...rest } = inner;
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        process.stdout.write(`[${outer.service}] ${pino.levels.labels[lvl as number] ?? lvl} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`);
      } else if (outer.stream === 'stderr' || minLevel <= 20) {
        process.stdout.write(`[${outer.service}] ${line}\n`);
      }
    }
    done();
  },
});
const appLogger = pino({ level: 'debug' }, appConsole);
const port = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);
const profile = process.env.STACK_PROFILE?.trim() || 'single';
if (profile !== 'single' && profile !== 'cluster') {
  logger.fatal(`STACK_PROFILE must be single or cluster; got ${JSON.stringify(profile)}`);
  process.exit(78);
}
const t0 = Date.now();
logger.info(profile === 'cluster'
  ? 'starting the platform, cluster profile (3 nats-servers, Temporal, PostgreSQL, MinIO, HAProxy, two of every app)…'
  : 'starting the platform (nats-server, Temporal, PostgreSQL, apps)…');
let stack: Awaited<ReturnType<typeof startStack>>;
try {
  stack = await startStack({
    logger, appLogger, persistent: true, profile,
    ...(process.env.RTMP_HOST ? { rtmpHost: process.env.RTMP_HOST } : {}),
    ports: { rtmp: port('RTMP_PORT'), rtmps: port('RTMPS_PORT'), srt: port('SRT_PORT'), api: port('API_PORT'), edge: port('EDGE_PORT'), web: port('WEB_PORT'), whip: port('WHIP_PORT') },
    ...(process.env.DATA_DIR ? { dataDir: process.env.DATA_DIR } : {}),
    ...(process.env.STACK_FILE ? { stackFile: process.env.STACK_FILE } : {}),
  });
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'the platform failed to start');
  process.exit(1);
}
const i = stack.info;
const lines = [
  '',
  `Live platform is running (started in ${((Date.now() - t0) / 1000).toFixed(1)} s).`,
  '',
  '  Publish from OBS: Settings → Stream → Service: Custom',
  `    Server      ${i.rtmpUrl}`,
  `    Stream Key  ${i.demoStreamKey}`,
  ...(i.rtmpsUrl ? [`    or RTMPS    ${i.rtmpsUrl} (self-signed for localhost: ${i.rtmpsCertFile})`] : []),
  `  or WHIP (OBS 30+): Service: WHIP, Server ${i.whipUrl}, Bearer Token: the stream key`,
  `  or: ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -g 60 -bf 0 -c:a aac -f flv ${i.rtmpUrl}/${i.demoStreamKey}`,
  '      (-bf 0: without B-frames the stream also plays in real time over WebRTC, WHEP)',
  '  Publish over SRT (OBS: Server below, Stream Key empty; H.264 or HEVC, AAC):',
  `    Server      ${srtPublishUrl(i.srtUrl, i.demoStreamKey)}`,
  `  or: ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -g 60 -c:a aac -f mpegts '${srtPublishUrl(i.srtUrl, i.demoStreamKey)}'`,
  '',
  `  Watch         ${i.demoWatchUrl}`,
  `  All streams   ${i.webUrl}`,
  `  Playback URL  ${i.demoPlaybackUrl}`,
  `  WHEP (WebRTC) ${i.whepUrl}`,
  `  API           ${i.apiUrl}/api/streams`,
  `  Chat          ${i.chatUrl.replace(/^http/, 'ws')}/chat/${i.demoChannelId}`,
  ...(i.temporalUiUrl ? [`  Temporal UI   ${i.temporalUiUrl}`] : []),
  ...(i.profile === 'cluster' ? [
    `  Edges         ${Object.entries(i.edgeUrls).map(([n, u]) => `${n} ${u}`).join(', ')}`,
    `  Instances     ${Object.keys(i.pids).join(', ')}`,
    `  Servers       ${Object.keys(i.servicePids).join(', ')}`,
  ] : []),
  `  Stack file    ${resolve(process.env.STACK_FILE ?? `${REPO_ROOT}/.run/stack.json`)}`,
  '',
  'Press Ctrl-C to stop.',
  '',
];
process.stdout.write(lines.join('\n'));

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping the platform…');
  await stack.stop();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
// An app that dies while running is reported; the rest keep serving.
for (const [name, proc] of stack.apps) {
  void proc.exited.then((exit) => { if (!stopping) logger.error({ app: name, exit }, `${name} exited; see its log above (LOG_LEVEL=debug shows app output)`); });
}
