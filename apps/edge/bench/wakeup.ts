/**
 * bench/edge, second table (issue 18): how long after a part is written a parked blocking
 * playlist reload (RFC 8216bis §6.2.5.2) is answered, by an edge fed by the packager's NATS
 * announcements and by an edge polling storage (`stat` every 50 ms per watched playlist), side by
 * side in one run.
 *
 * The real LL-HLS packager (`createLlHlsPublisher`, test/ll-feed.ts) writes one 0.5 s part at a
 * time into the same storage directory both edges serve, and announces it on core NATS as the
 * worker does. Per part: `clients` blocking reloads for that part are parked on each edge (each
 * edge's `edge_blocking_reloads_parked` says so), then after a random 0–100 ms (the polling edge's
 * poll phase is then uniform) the part is written. Latency of one reload: from the moment the
 * part's storage write resolved (a wrapper around the packager's storage) to the moment its
 * answer was received, both on this process's clock. Per run: p50 and p99 of every reload of
 * every part; the table gives the median of the runs' p50s and p99s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ObjectStorage } from '@live/storage';
import { encodeFragments, FEED_RENDITION, natsAnnouncer, startLlFeed } from '../test/ll-feed.js';

/** An edge under test: its base URL and the query string that carries a token. */
export interface WakeupEdge {
  readonly name: string;
  readonly url: string;
}

/** Options of {@link measureWakeups}. */
export interface WakeupOptions {
  /** The storage both edges serve (the packager writes through it). */
  readonly storage: ObjectStorage;
  /** NATS connection of the `worker` identity (the packager's announcements). */
  readonly nc: { publish(subject: string, data: Uint8Array): void };
  /** The live session (its channel's current one) and channel. */
  readonly sessionId: string;
  readonly channelId: string;
  /** `&token=…` (or empty). */
  readonly tokenQuery: string;
  readonly edges: readonly WakeupEdge[];
  readonly runs: number;
  readonly partsPerRun: number;
  /** Parked reloads per edge per part. */
  readonly clients: number;
  /** Parts published before measuring (subscriptions, caches). */
  readonly warmupParts: number;
}

/** One edge's result: per-run p50 and p99, ms, and the reloads measured. */
export interface WakeupResult {
  readonly name: string;
  readonly p50s: number[];
  readonly p99s: number[];
  readonly reloads: number;
  readonly errors: number;
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

async function parkedOn(edge: WakeupEdge): Promise<number> {
  const text = await (await fetch(`${edge.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('edge_blocking_reloads_parked '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Runs the measurement (see the module header). */
export async function measureWakeups(opts: WakeupOptions): Promise<WakeupResult[]> {
  const work = mkdtempSync(join(os.tmpdir(), 'bench-wakeup-'));
  const writtenAt = new Map<string, number>();
  // The packager's storage, timestamping the moment each part's write resolved.
  const storage = new Proxy(opts.storage, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'writeSegment') {
        return async (key: string, body: Uint8Array | string) => {
          await target.writeSegment(key, body);
          writtenAt.set(key, performance.now());
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  try {
    const total = opts.warmupParts + opts.runs * opts.partsPerRun + 1;
    const media = encodeFragments(join(work, 'enc'), Math.ceil(total / 2) + 1);
    const keyPrefix = `sessions/${opts.sessionId}`;
    const feed = startLlFeed({ storage, keyPrefix, outputDir: join(work, 'out'), media, announcer: natsAnnouncer(opts.nc, opts.sessionId) });
    const playlistPath = `/live/${opts.channelId}/${FEED_RENDITION.name}/index.m3u8`;
    const hint = async (): Promise<{ uri: string; msn: number; part: number }> => {
      const text = (await opts.storage.read(`${keyPrefix}/${FEED_RENDITION.name}/index.m3u8`))?.toString('utf8') ?? '';
      const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(seg_(\d+)\.part(\d+)\.m4s)"/.exec(text);
      if (!m) throw new Error('no preload hint in the live playlist');
      return { uri: m[1]!, msn: Number(m[2]), part: Number(m[3]) };
    };
    // One reload per client per edge for the hinted part; resolves with each answer's arrival time.
    const onePart = async (): Promise<Map<string, number[]> & { errors: Map<string, number> }> => {
      const next = await hint();
      const url = `${playlistPath}?_HLS_msn=${next.msn}&_HLS_part=${next.part}${opts.tokenQuery}`;
      const answers = opts.edges.flatMap((e) => Array.from({ length: opts.clients }, async () => {
        const r = await fetch(`${e.url}${url}`);
        const body = await r.text();
        return { edge: e.name, at: performance.now(), ok: r.status === 200 && body.includes(next.uri) };
      }));
      for (const e of opts.edges) {
        const deadline = Date.now() + 30_000;
        while ((await parkedOn(e)) < opts.clients) {
          if (Date.now() > deadline) throw new Error(`${e.name}: reloads not parked within 30 s`);
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      await new Promise((r) => setTimeout(r, Math.random() * 100));
      await feed.next();
      const t0 = writtenAt.get(`${keyPrefix}/${FEED_RENDITION.name}/${next.uri}`);
      if (t0 === undefined) throw new Error(`the packager did not write ${next.uri}`);
      const out = Object.assign(new Map<string, number[]>(opts.edges.map((e) => [e.name, []])), { errors: new Map<string, number>() });
      for (const a of await Promise.all(answers)) {
        if (a.ok) out.get(a.edge)!.push(a.at - t0);
        else out.errors.set(a.edge, (out.errors.get(a.edge) ?? 0) + 1);
      }
      return out;
    };
    for (let i = 0; i < opts.warmupParts; i++) await (i < 2 ? feed.next() : onePart());
    const results = opts.edges.map((e) => ({ name: e.name, p50s: [] as number[], p99s: [] as number[], reloads: 0, errors: 0 }));
    for (let run = 0; run < opts.runs; run++) {
      const byEdge = new Map<string, number[]>(opts.edges.map((e) => [e.name, []]));
      for (let p = 0; p < opts.partsPerRun; p++) {
        const one = await onePart();
        for (const [name, xs] of one) byEdge.get(name)!.push(...xs);
        for (const [name, n] of one.errors) results.find((r) => r.name === name)!.errors += n;
      }
      for (const r of results) {
        const xs = byEdge.get(r.name)!;
        r.p50s.push(quantile(xs, 0.5));
        r.p99s.push(quantile(xs, 0.99));
        r.reloads += xs.length;
        console.log(`wake-up, run ${run + 1}, ${r.name}: p50 ${quantile(xs, 0.5).toFixed(1)} ms, p99 ${quantile(xs, 0.99).toFixed(1)} ms (${xs.length} reloads)`);
      }
    }
    await feed.publisher.stop();
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
