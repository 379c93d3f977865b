/**
 * `npm start`: starts the whole platform on this machine (embedded default), prints where to
 * publish and where to watch, writes `.run/stack.json`, and stops everything on Ctrl-C.
 * Env: LOG_LEVEL (default info), DATA_DIR, STACK_FILE (default `<repo>/.run/stack.json`), and
 * NATS_URL / TEMPORAL_ADDRESS / DATABASE_URL to use external servers instead of embedded ones.
 */
import pino from 'pino';
import { relative } from 'node:path';
import { REPO_ROOT, startStack } from './stack.js';

const logger = pino({ name: 'stack', level: process.env.LOG_LEVEL ?? 'info' });
const t0 = Date.now();
logger.info('starting the platform (nats-server, Temporal, PostgreSQL, apps)…');
let stack: Awaited<ReturnType<typeof startStack>>;
try {
  stack = await startStack({
    logger, persistent: true,
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
  `  or: ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -g 60 -c:a aac -f flv ${i.rtmpUrl}/${i.demoStreamKey}`,
  '',
  `  Watch         ${i.demoWatchUrl}`,
  `  All streams   ${i.webUrl}`,
  `  Playback URL  ${i.demoPlaybackUrl}`,
  `  API           ${i.apiUrl}/api/streams`,
  ...(i.temporalUiUrl ? [`  Temporal UI   ${i.temporalUiUrl}`] : []),
  `  Stack file    ${relative(process.cwd(), process.env.STACK_FILE ?? `${REPO_ROOT}/.run/stack.json`)}`,
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
