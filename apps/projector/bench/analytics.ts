/**
 * bench/analytics: the analytics projection against a real nats-server and embedded chDB.
 *
 *   npm run bench:analytics          (EVENTS=1000000 LIVE_RATE=5000 LIVE_SECONDS=30 ROWS=10000000 RUNS=3)
 *
 * 1. Replay: EVENTS synthetic player beacons are stored in TELEMETRY first, then a fresh
 *    analytics projector (new durable consumers, default batches: 1,000 rows or 1 s) reads
 *    them all into ClickHouse. Reported: events/s from the projector's start until the last
 *    beacon is inserted and acknowledged. Target: at least 100,000 events/s.
 * 2. Live lag: beacons are published at LIVE_RATE per second for LIVE_SECONDS while the
 *    projector runs; each beacon's lag is the time from its publish to the moment the
 *    projector's count of inserted-and-acknowledged beacons passed it (sampled every 5 ms).
 *    Reported: p50/p99/max. Target: p99 under 1 s.
 * 3. Query: ROWS beacons over 1,000 channels are generated inside ClickHouse, the background
 *    merges that bulk insert starts are let finish (at most 120 s: a table filled over days is
 *    not in the middle of merging its whole content), then the streamer query (`streamAnalytics` for one channel's session, 24 h, 60 s buckets) runs
 *    QUERIES times. Reported: p50/p99. Target: under 200 ms.
 * Phases 1 and 2 are repeated RUNS times (fresh durables each run); medians are printed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { beaconId, telemetrySubject, TELEMETRY_STREAM, type StoredBeacon } from '@live/events';
import { createAnalyticsClient, migrateAnalytics, streamAnalytics } from '@live/analytics';
import { startServices } from '@live/dev';
import { connectMessaging, ensureEventStreams, type Messaging } from '@live/messaging';
import { startAnalyticsProjector } from '../src/analytics.js';

const env = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const EVENTS = env('EVENTS', 1_000_000);
const LIVE_RATE = env('LIVE_RATE', 5000);
const LIVE_SECONDS = env('LIVE_SECONDS', 30);
const ROWS = env('ROWS', 10_000_000);
const RUNS = env('RUNS', 3);
const QUERIES = env('QUERIES', 20);
const CHANNELS = 1000;

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time of this process's main (JavaScript) thread so far, ms, from Linux's
 * `/proc/self/task/<pid>/stat` (utime + stime, in clock ticks of 10 ms); NaN elsewhere.
 * `process.cpuUsage()` minus this is the CPU of the other threads: chDB's insert and merge
 * threads, V8's garbage collector helpers, libuv's pool.
 */
function mainThreadCpuMs(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** A synthetic heartbeat of viewer `i % 5000` on channel `i % 50`. */
function beacon(run: string, i: number, now: number): StoredBeacon {
  const viewer = i % 5000;
  return {
    type: 'heartbeat', seq: Math.floor(i / 5000), at: now, position: i / 100, rendition: i % 3 ? '720p' : '480p', bandwidthKbps: 4200,
    liveLatencyMs: 3100, droppedFrames: 0, playingMs: 10_000,
    playbackSessionId: `${run}-p${viewer}`, channelId: `ch${i % 50}`, sessionId: `s${i % 50}`, viewerId: `v${viewer}`, userId: null, receivedAt: now,
  };
}

/** Appends one beacon with its id as `Nats-Msg-Id` (as the API does); resolves on JetStream's ack. */
function publishBeacon(m: Messaging, b: StoredBeacon): Promise<unknown> {
  return m.js.publish(telemetrySubject(b.channelId), JSON.stringify(b), { msgID: beaconId(b) });
}

/** Appends `n` beacons with up to 2,000 acknowledgements outstanding. */
async function fill(m: Messaging, run: string, n: number): Promise<void> {
  const now = Date.now();
  let inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    inFlight.push(publishBeacon(m, beacon(run, i, now)));
    if (inFlight.length >= 2000) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
}

async function main(): Promise<void> {
  const services = await startServices({ logger, name: 'bench-analytics', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const chdbDir = mkdtempSync(join(tmpdir(), 'bench-chdb-'));
  const messaging = await connectMessaging(services.endpoints.natsUrl, 'bench-analytics');
  const analytics = createAnalyticsClient({ chdbPath: chdbDir });
  const results: { replay: number[]; mainCpu: number[]; otherCpu: number[]; lagP50: number[]; lagP99: number[]; lagMax: number[] } = {
    replay: [], mainCpu: [], otherCpu: [], lagP50: [], lagP99: [], lagMax: [],
  };
  try {
    await ensureEventStreams(messaging.jsm);
    await migrateAnalytics(analytics);

    for (let run = 1; run <= RUNS; run++) {
      // ---- 1. replay ----
      await messaging.jsm.streams.purge(TELEMETRY_STREAM);
      await analytics.command({ query: 'TRUNCATE TABLE playback_beacons' });
      const t0 = Date.now();
      await fill(messaging, `r${run}`, EVENTS);
      const stored = (await messaging.jsm.streams.info(TELEMETRY_STREAM)).state.messages;
      process.stderr.write(`run ${run}: stored ${stored} beacons in TELEMETRY in ${((Date.now() - t0) / 1000).toFixed(1)} s; replaying…\n`);
      const cpu0 = { all: process.cpuUsage(), main: mainThreadCpuMs() };
      const start = performance.now();
      const projector = await startAnalyticsProjector({ messaging, analytics, logger, durablePrefix: `bench-${run}` });
      while (projector.stats().projected.telemetry < stored) await sleep(20);
      const seconds = (performance.now() - start) / 1000;
      results.replay.push(stored / seconds);
      const all = process.cpuUsage(cpu0.all);
      const mainMs = mainThreadCpuMs() - cpu0.main;
      results.mainCpu.push((mainMs * 1000) / stored);
      results.otherCpu.push((((all.user + all.system) / 1000 - mainMs) * 1000) / stored);
      process.stderr.write(`run ${run}: replayed ${stored} in ${seconds.toFixed(2)} s (${Math.round(stored / seconds)} events/s)\n`);

      // ---- 2. live lag at LIVE_RATE ----
      const base = projector.stats().projected.telemetry;
      const total = LIVE_RATE * LIVE_SECONDS;
      const publishedAt = new Float64Array(total);
      const lags: number[] = [];
      let seen = 0;
      const sampler = setInterval(() => {
        const done = projector.stats().projected.telemetry - base;
        const now = performance.now();
        for (; seen < done && seen < total; seen++) lags.push(now - publishedAt[seen]!);
      }, 5);
      const acks: Promise<unknown>[] = [];
      const tickMs = 10;
      const perTick = LIVE_RATE * tickMs / 1000;
      const liveStart = performance.now();
      for (let i = 0; i < total;) {
        const due = Math.min(total, Math.floor(((performance.now() - liveStart) / tickMs + 1) * perTick));
        for (; i < due; i++) {
          publishedAt[i] = performance.now();
          acks.push(publishBeacon(messaging, beacon(`l${run}`, EVENTS + i, Date.now())));
        }
        await sleep(tickMs);
      }
      await Promise.all(acks);
      while (seen < total) await sleep(20);
      clearInterval(sampler);
      results.lagP50.push(pct(lags, 50));
      results.lagP99.push(pct(lags, 99));
      results.lagMax.push(lags.reduce((a, b) => Math.max(a, b), 0));
      process.stderr.write(`run ${run}: live ${total} beacons at ${LIVE_RATE}/s: lag p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms\n`);
      await projector.stop();
    }

    // ---- 3. query over ROWS rows ----
    await analytics.command({ query: 'TRUNCATE TABLE playback_beacons' });
    const tGen = Date.now();
    await analytics.command({
      query: `INSERT INTO playback_beacons (channel_id, session_id, playback_session_id, beacon_seq, type, client_at, received_at, viewer_id, user_id,
                position_s, rendition, bandwidth_kbps, live_latency_ms, dropped_frames, playing_ms)
              SELECT concat('ch', toString(number % ${CHANNELS})), concat('s', toString(number % ${CHANNELS})),
                     concat('p', toString(intDiv(number, ${CHANNELS}) % 500), '-', toString(number % ${CHANNELS})), toUInt32(intDiv(number, ${CHANNELS * 500})),
                     'heartbeat', now64(3) - toIntervalSecond(number % 86400), now64(3) - toIntervalSecond(number % 86400),
                     concat('v', toString(intDiv(number, ${CHANNELS}) % 500)), '', number % 3600, if(number % 3 = 0, '480p', '720p'), 4200, 3100, 0, 10000
              FROM numbers(${ROWS})`,
    });
    const rows = Number((await (await analytics.query({ query: 'SELECT count() AS n FROM playback_beacons', format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
    // Steady state: the background merges the bulk generation started are let finish (as they
    // would long since have on a table filled over days), within 120 s.
    const tMerge = Date.now();
    while (Date.now() - tMerge < 120_000) {
      const [m] = await (await analytics.query({ query: "SELECT count() AS n FROM system.merges WHERE table = 'playback_beacons'", format: 'JSONEachRow' })).json<{ n: string }>();
      if (Number(m?.n) === 0) break;
      await sleep(500);
    }
    const [partInfo] = await (await analytics.query({ query: "SELECT count() AS parts FROM system.parts WHERE table = 'playback_beacons' AND active", format: 'JSONEachRow' })).json<{ parts: string }>();
    const parts = Number(partInfo?.parts);
    process.stderr.write(`generated ${rows} rows in ${((tMerge - tGen) / 1000).toFixed(1)} s, merges settled after ${((Date.now() - tMerge) / 1000).toFixed(1)} s (${parts} active parts); querying…\n`);
    const to = new Date(Date.now() + 60_000);
    const from = new Date(to.getTime() - 86_400_000 - 120_000);
    const times: number[] = [];
    let checked = 0;
    for (let q = 0; q < QUERIES + 2; q++) {
      const t = performance.now();
      const r = await streamAnalytics(analytics, { channelId: `ch${q % CHANNELS}`, sessionId: `s${q % CHANNELS}`, from, to, intervalSeconds: 60 });
      const ms = performance.now() - t;
      if (q >= 2) times.push(ms); // the first two warm the caches
      checked = r.playbackSessions;
    }
    if (checked === 0) throw new Error('the query found no playback sessions: the generated rows do not match it');

    const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
    const table = [
      ['measure', 'median of runs', 'runs', 'target', 'met'],
      [`replay ${fmt(EVENTS)} beacons from JetStream into chDB (events/s)`, fmt(median(results.replay)), results.replay.map((x) => fmt(x)).join(' / '), '>= 100,000', median(results.replay) >= 100_000 ? 'yes' : 'NO'],
      ['replay CPU per event: main thread / other threads (µs)', `${fmt(median(results.mainCpu), 2)} / ${fmt(median(results.otherCpu), 2)}`, '', '', ''],
      [`live projection lag p99 at ${fmt(LIVE_RATE)} events/s (ms)`, fmt(median(results.lagP99)), results.lagP99.map((x) => fmt(x)).join(' / '), '< 1,000', median(results.lagP99) < 1000 ? 'yes' : 'NO'],
      ['live projection lag p50 / max (ms)', `${fmt(median(results.lagP50))} / ${fmt(median(results.lagMax))}`, '', '', ''],
      [`streamAnalytics over ${fmt(rows)} rows in ${parts} parts, p50 (ms)`, fmt(pct(times, 50), 1), `${QUERIES} queries`, '< 200', ''],
      [`streamAnalytics over ${fmt(rows)} rows in ${parts} parts, p99 (ms)`, fmt(pct(times, 99), 1), `${QUERIES} queries`, '< 200', pct(times, 99) < 200 ? 'yes' : 'NO'],
    ];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
    for (const [i, r] of table.entries()) {
      process.stdout.write(`| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |\n`);
      if (i === 0) process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
    }
  } finally {
    await analytics.close().catch(() => undefined);
    await messaging.close().catch(() => undefined);
    await services.stop();
    rmSync(chdbDir, { recursive: true, force: true });
  }
}

await main();
