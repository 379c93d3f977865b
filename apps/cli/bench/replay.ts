/**
 * bench/replay: `replay readmodels` (replayReadModels, as the CLI runs it: a replay pool with
 * `synchronous_commit = off`) over a synthetic EVENTS history, against a real nats-server and
 * PostgreSQL, one event per transaction beside batches of events per transaction.
 *
 *   npm run bench:replay            (EVENTS=200000 SIZES=1,2000 RUNS=3 RUNS_ONE=1)
 *
 * The history (bench/history.ts: 5,000 users and 500 channels up front, then viewer counts,
 * ingest health, follows, broadcasts, chat moderation, account and channel changes) is stored
 * in EVENTS once; each run then rebuilds every read model from it into a fresh schema
 * (`--dry-run`: built, counted, dropped; the live tables are left alone). Batch size 1 is one
 * transaction per event (the projection's shape before batching: every run of it takes
 * minutes, so it runs RUNS_ONE times); other sizes run RUNS times. Printed: events/s per run
 * and the median, and the ratio of each size's median to size 1's.
 */
import pino from 'pino';
import { startServices } from '@live/dev';
import { createDb, migrateToLatest } from '@live/db';
import { appendEvent, connectMessaging, ensureEventStreams } from '@live/messaging';
import { replayReadModels } from '../src/replay-readmodels.js';
import { withAsyncCommit } from '../src/config.js';
import { syntheticHistory } from './history.js';

const env = (name: string, dflt: string): string => process.env[name] ?? dflt;
const EVENTS = Number(env('EVENTS', '200000'));
const SIZES = env('SIZES', '1,2000').split(',').map(Number);
const RUNS = Number(env('RUNS', '3'));
const RUNS_ONE = Number(env('RUNS_ONE', '1'));
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const services = await startServices({ logger, name: 'bench-replay', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
const db = createDb(services.endpoints.databaseUrl, 4);
const replayDb = createDb(withAsyncCommit(services.endpoints.databaseUrl), 2);
const messaging = await connectMessaging(services.endpoints.natsUrl, 'bench-replay');
try {
  await migrateToLatest(db);
  await ensureEventStreams(messaging.jsm);
  const history = syntheticHistory({ events: EVENTS, users: 5000, channels: 500, seed: 42 });
  const t0 = performance.now();
  for (let i = 0; i < history.length; i += 1000) {
    await Promise.all(history.slice(i, i + 1000).map((e) => appendEvent(messaging.js, e)));
  }
  const kinds = new Map<string, number>();
  for (const e of history) kinds.set(e.type, (kinds.get(e.type) ?? 0) + 1);
  console.log(`stored ${history.length} events in ${((performance.now() - t0) / 1000).toFixed(1)} s; mix: ${[...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(100 * n / history.length).toFixed(1)}%`).join(', ')}`);

  const rows: Array<{ size: number; runs: number[] }> = [];
  for (const size of SIZES) {
    const runs: number[] = [];
    for (let r = 0; r < (size === 1 ? RUNS_ONE : RUNS); r++) {
      const report = await replayReadModels({ db, replayDb, messaging, dryRun: true, batchSize: size });
      if (report.eventsRead !== history.length) throw new Error(`replay read ${report.eventsRead} events, expected ${history.length}`);
      runs.push(report.eventsPerSecond);
      console.log(`batch ${size} run ${r + 1}: ${Math.round(report.eventsPerSecond)} events/s (${report.seconds.toFixed(1)} s, ${report.eventsApplied} applied)`);
    }
    rows.push({ size, runs });
  }
  const base = rows.find((r) => r.size === 1);
  console.log(`\nreplay readmodels over ${history.length} events (PostgreSQL ${services.endpoints.databaseUrl.replace(/\/\/[^@]*@/, '//')})`);
  console.log('| events per transaction | runs | events/s (each run) | median events/s | vs 1 per transaction |');
  console.log('|---:|---:|---|---:|---:|');
  for (const r of rows) {
    const m = median(r.runs);
    console.log(`| ${r.size} | ${r.runs.length} | ${r.runs.map((x) => Math.round(x)).join(', ')} | ${Math.round(m)} | ${base ? `${(m / median(base.runs)).toFixed(1)}x` : '-'} |`);
  }
} finally {
  await messaging.close();
  await replayDb.destroy();
  await db.destroy();
  await services.stop();
}
