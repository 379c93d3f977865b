/**
 * Leases on a JetStream key-value bucket: of several processes that want to run the same work
 * (a projection), exactly one runs it; the others stand by and take over within seconds when
 * it stops or dies.
 *
 * Follows the NATS KV model (NATS docs "Key/Value Store"; the official client `@nats-io/kv`):
 * - a key per lease in the bucket {@link LEASE_BUCKET}, whose `max_age` is the lease's TTL: an
 *   entry not rewritten within it is removed by the server;
 * - acquire with `create` (refused while the key holds a value), renew with `update(key, value,
 *   revision)` every TTL/3 (refused when the key was rewritten or removed meanwhile), release
 *   with `delete` at the held revision;
 * - a standby watches the key and claims it as soon as it is deleted, purged or (nats-server
 *   ≥ 2.11: a `MaxAge` delete marker) expired, and otherwise tries again every TTL/3.
 * A holder whose renewals fail for {@link leaseTimings}`.giveUpAfterMs` (two thirds of the TTL)
 * gives the lease up and stops its work before the key can expire, so the old and the new
 * holder never run at once (as long as the holder's clock and event loop are not stalled for
 * longer than a third of the TTL).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { JetStreamClient, JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvOptions } from '@nats-io/kv';
import { isPermissionViolation, isStreamNotFound, isWrongLastSequence, StreamMissingError, type EnsureStreamOutcome } from './errors.js';

/** The platform's lease bucket (JetStream stream `KV_leases`). */
export const LEASE_BUCKET = 'leases';

/** Default lease TTL, ms: the bucket's `max_age` when {@link ensureLeaseBucket} creates it. */
export const DEFAULT_LEASE_TTL_MS = 6000;

/** The JetStream stream behind a KV bucket: `KV_<bucket>`. */
export function leaseBucketStream(bucket = LEASE_BUCKET): string {
  return `KV_${bucket}`;
}

/** An open lease bucket. */
export interface LeaseBucket {
  readonly kv: KV;
  /** Bucket name, e.g. `leases`. */
  readonly bucket: string;
  /** The bucket's `max_age`, ms: the TTL of every lease in it. */
  readonly ttlMs: number;
}

/** Options of {@link ensureLeaseBucket}. */
export interface EnsureLeaseBucketOptions {
  /** Default {@link LEASE_BUCKET}. */
  readonly bucket?: string;
  /** `max_age` of a new bucket, ms (at least 1000); default {@link DEFAULT_LEASE_TTL_MS}. */
  readonly ttlMs?: number;
  /** JetStream replicas (1 to 5); default 1. 3 on a three-server cluster (`NATS_REPLICAS`). */
  readonly replicas?: number;
  /** Where a configuration this user may not update is reported (warn). */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** The version of the connected nats-server as [major, minor], or [0, 0] when unknown. */
function serverVersion(js: JetStreamClient): [number, number] {
  const v = (js as unknown as { nc?: { info?: { version?: string } } }).nc?.info?.version ?? '';
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * Makes the lease bucket exist with the wanted TTL and replicas, as far as this NATS user may
 * (like `ensureStream`): creates it when missing (`Kvm.create`: history 1, file storage,
 * `max_age` = TTL; on nats-server ≥ 2.11 also delete markers on expiry, so that watchers see an
 * expired lease at once), updates `max_age` and `num_replicas` when they differ; an app's user,
 * which may only read the stream's info, just checks.
 * @returns what was done (see `EnsureStreamOutcome`).
 * @throws StreamMissingError when the bucket does not exist and this user may not create it.
 * @throws RangeError when `ttlMs` is below 1000 or `replicas` outside 1..5.
 * @throws the nats.js error when JetStream does not answer.
 */
export async function ensureLeaseBucket(jsm: JetStreamManager, opts: EnsureLeaseBucketOptions = {}): Promise<EnsureStreamOutcome> {
  const bucket = opts.bucket ?? LEASE_BUCKET;
  const ttlMs = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const replicas = opts.replicas ?? 1;
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new RangeError(`lease TTL must be an integer of at least 1000 ms, got ${ttlMs}`);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new RangeError(`replicas must be an integer from 1 to 5, got ${replicas}`);
  const stream = leaseBucketStream(bucket);
  const js = jsm.jetstream();
  let created = false;
  try {
    await jsm.streams.info(stream);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    const [major, minor] = serverVersion(js);
    const markers = major > 2 || (major === 2 && minor >= 11);
    const kvOpts: Partial<KvOptions> = { history: 1, ttl: ttlMs, replicas, ...(markers ? { markerTTL: ttlMs } : {}) };
    try {
      await new Kvm(js).create(bucket, kvOpts);
      created = true;
    } catch (addErr) {
      if (isPermissionViolation(addErr)) throw new StreamMissingError(stream, addErr);
      throw addErr;
    }
  }
  if (created) return 'created';
  const actual = (await jsm.streams.info(stream)).config;
  const wanted: Partial<StreamConfig> = { max_age: ttlMs * 1e6, num_replicas: replicas };
  const differing = (Object.keys(wanted) as Array<keyof StreamConfig>).filter((k) => actual[k] !== wanted[k]);
  if (differing.length === 0) return 'unchanged';
  try {
    // duplicate_window may not exceed max_age.
    await jsm.streams.update(stream, { ...wanted, duplicate_window: Math.min(actual.duplicate_window ?? Infinity, ttlMs * 1e6) });
    return 'updated';
  } catch (err) {
    if (!isPermissionViolation(err)) throw err;
    opts.logger?.warn({ stream, fields: differing }, `lease bucket ${bucket} differs from its definition and this NATS user may not update it; run \`pnpm cli nats-streams\` with the admin/CLI identity`);
    return 'differs';
  }
}

/**
 * Opens an existing lease bucket and reads its TTL (`$JS.API.STREAM.INFO.KV_<bucket>`). Reads go
 * through `$JS.API.STREAM.MSG.GET.KV_<bucket>` (not direct gets).
 * @throws StreamMissingError when the bucket does not exist (create it with
 *   {@link ensureLeaseBucket} as the admin identity; `ensureEventStreams` does).
 * @throws the nats.js error when JetStream does not answer.
 */
export async function openLeaseBucket(js: JetStreamClient, jsm: JetStreamManager, opts: { bucket?: string } = {}): Promise<LeaseBucket> {
  const bucket = opts.bucket ?? LEASE_BUCKET;
  const stream = leaseBucketStream(bucket);
  let maxAgeNs: number;
  try {
    maxAgeNs = (await jsm.streams.info(stream)).config.max_age;
  } catch (err) {
    if (isStreamNotFound(err)) throw new StreamMissingError(stream, err);
    throw err;
  }
  if (!maxAgeNs) throw new TypeError(`lease bucket ${bucket} has no max_age: its leases would never expire`);
  const kv = await new Kvm(js).open(bucket, { allow_direct: false });
  return { kv, bucket, ttlMs: Math.round(maxAgeNs / 1e6) };
}

/**
 * A holder id `<app>:<host>:<pid>:<random>` (6 base-36 characters of randomness), unique per
 * process start, readable in logs and in the bucket.
 */
export function leaseHolderId(app: string, at: { host?: string; pid?: number; random?: string } = {}): string {
  const random = at.random ?? randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6);
  return `${app}:${at.host ?? hostname()}:${at.pid ?? process.pid}:${random}`;
}

/** The value of a lease key: who holds it and since when. */
export interface LeaseRecord {
  readonly holder: string;
  /** ISO-8601 time of the claim. */
  readonly since: string;
}

/** JSON bytes of a {@link LeaseRecord}. */
export function encodeLeaseRecord(r: LeaseRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}

/** The {@link LeaseRecord} in a key's value, or null when it is not one (empty, not JSON, no holder). */
export function parseLeaseRecord(value: Uint8Array): LeaseRecord | null {
  try {
    const r = JSON.parse(new TextDecoder().decode(value)) as Partial<LeaseRecord>;
    return typeof r?.holder === 'string' && r.holder !== '' ? { holder: r.holder, since: typeof r.since === 'string' ? r.since : '' } : null;
  } catch {
    return null;
  }
}

/** When a holder renews and when it gives up, for a TTL. */
export interface LeaseTimings {
  /** Renew (and, as a standby, retry the claim) this often: TTL/3. */
  readonly renewEveryMs: number;
  /**
   * A holder with no successful renewal for this long (counted from when the last successful
   * renewal was sent) declares the lease lost and stops its work: TTL·2/3, a third of the TTL
   * before the key can expire and a standby can claim it.
   */
  readonly giveUpAfterMs: number;
}

/**
 * {@link LeaseTimings} of a TTL.
 * @throws RangeError when `ttlMs` is not a positive finite number.
 */
export function leaseTimings(ttlMs: number): LeaseTimings {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease TTL must be a positive number of ms, got ${ttlMs}`);
  return { renewEveryMs: Math.max(1, Math.floor(ttlMs / 3)), giveUpAfterMs: Math.max(1, Math.floor((ttlMs * 2) / 3)) };
}

/** True when `err` is JetStream's "wrong last sequence" (10071): the key changed since the revision given. */
export function isWrongRevision(err: unknown): boolean {
  return isWrongLastSequence(err);
}

/** Work that can be stopped (a projection, a consumer). */
export interface Stoppable {
  /** Stops the work; resolves when it no longer writes anything. */
  stop(): Promise<void>;
}

/** `holder`: this process runs the work; `standby`: another one does (or nobody yet); `stopped`: after `stop()`. */
export type LeaseState = 'holder' | 'standby' | 'stopped';

/** Options of {@link runUnderLease}. */
export interface RunUnderLeaseOptions {
  /** The bucket ({@link openLeaseBucket}). */
  readonly kv: KV;
  /** Lease key, e.g. `projector.readmodels` (KV key characters: letters, digits, `-_=/.`). */
  readonly key: string;
  /** This process's id ({@link leaseHolderId}). */
  readonly holder: string;
  /** The bucket's TTL, ms ({@link LeaseBucket.ttlMs}); renewals every TTL/3. */
  readonly ttlMs: number;
  /** Logs `acquired lease <key>`, `standby for <key> (held by <holder>)`, `lost lease <key>`, `released lease <key>`. */
  readonly logger: Logger;
  /**
   * Starts the work once the lease is won. Renewals run meanwhile. When it throws, the lease is
   * released and claimed again after a TTL (another process may take it meanwhile).
   */
  onAcquired(): Promise<Stoppable>;
  /** Called after the work was stopped because the lease was lost (`why` says how). The run then stands by again. */
  onLost?(why: string): void;
}

/** A lease being run: see {@link runUnderLease}. */
export interface LeaseRun {
  /** True while this process holds the lease (its work started or starting). */
  isHolder(): boolean;
  state(): LeaseState;
  /** The holder as last seen (this process's id while it holds), or null when nobody is known to hold it. */
  heldBy(): string | null;
  /** Stops the work (renewing meanwhile), then deletes the key so that a standby takes over at once. Idempotent; never throws. */
  stop(): Promise<void>;
}

/** A sleep that `wake()` cuts short. */
function sleeper(): { nap(ms: number): Promise<void>; wake(): void } {
  let wakeUp: (() => void) | null = null;
  return {
    nap: (ms) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { wakeUp = null; resolve(); }, ms);
      wakeUp = () => { clearTimeout(timer); wakeUp = null; resolve(); };
    }),
    wake: () => wakeUp?.(),
  };
}

/**
 * Runs `onAcquired`'s work only while this process holds the lease `key` (see the module
 * comment for the protocol): claims it, or stands by until it is free; while held renews it
 * every TTL/3 and, when a renewal is refused (someone else holds it: a stall longer than the
 * TTL) or none succeeded for two thirds of the TTL (NATS unreachable), stops the work, calls
 * `onLost`, and stands by again. `stop()` stops the work, then releases the key.
 * Never throws: NATS errors are logged (warn) and retried.
 */
export function runUnderLease(opts: RunUnderLeaseOptions): LeaseRun {
  return new LeaseRunner(opts);
}

/** The lease state machine behind {@link runUnderLease}: claim or stand by, hold (renew), release. */
class LeaseRunner implements LeaseRun {
  private readonly log: Logger;
  private readonly timings: LeaseTimings;
  private readonly value: Uint8Array;
  private readonly sleep = sleeper();
  private current: LeaseState = 'standby';
  private holderSeen: string | null = null;
  private stopping = false;
  private wakeStop: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((resolve) => { this.wakeStop = resolve; });
  private lastWarning = '';
  /** The holder last logged as `standby for …` (undefined: none logged since the last hold). */
  private announced: string | null | undefined;
  private readonly watching: Promise<{ stop(): void } | null>;
  private readonly loop: Promise<void>;
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: RunUnderLeaseOptions) {
    this.timings = leaseTimings(opts.ttlMs);
    this.log = opts.logger.child({ lease: opts.key });
    this.value = encodeLeaseRecord({ holder: opts.holder, since: new Date().toISOString() });
    this.watching = this.watchKey();
    this.loop = this.run().catch((err: Error) => this.log.error({ err: err.message }, `lease ${opts.key} loop ended with an error`));
  }

  isHolder(): boolean {
    return this.current === 'holder';
  }

  state(): LeaseState {
    return this.current;
  }

  heldBy(): string | null {
    return this.holderSeen;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.wakeStop();
      this.sleep.wake();
      await this.loop;
      this.current = 'stopped';
      (await this.watching)?.stop();
    })();
    return this.stopped;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const won = await this.claim();
      if (won && !this.stopping) await this.hold(won.rev, won.sentAt);
      else if (won) await this.opts.kv.delete(this.opts.key, { previousSeq: won.rev }).catch(() => undefined);
      else await this.sleep.nap(this.timings.renewEveryMs);
    }
  }

  private warnOnce(msg: string, err: unknown): void {
    const text = `${msg}: ${(err as Error)?.message ?? String(err)}`;
    if (text !== this.lastWarning) this.log.warn({ err: (err as Error)?.message }, msg);
    this.lastWarning = text;
  }

  /** Wakes the standby when the key is deleted, purged or expired; records the holder of each new value. */
  private async watchKey(): Promise<{ stop(): void } | null> {
    try {
      const iter = await this.opts.kv.watch({ key: this.opts.key, include: KvWatchInclude.UpdatesOnly });
      void (async () => {
        for await (const e of iter) {
          if (e.operation === 'PUT') {
            this.holderSeen = parseLeaseRecord(e.value)?.holder ?? this.holderSeen;
          } else {
            if (this.current !== 'holder') this.holderSeen = null;
            this.sleep.wake();
          }
        }
      })().catch((err) => this.warnOnce('lease watch ended; polling only', err));
      return iter;
    } catch (err) {
      this.warnOnce('lease watch failed; polling only', err);
      return null;
    }
  }

  /** Tries to take the key: its revision when won, null when someone else holds it (or NATS failed). */
  private async claim(): Promise<{ rev: number; sentAt: number } | null> {
    const { kv, key, holder } = this.opts;
    const sentAt = Date.now();
    try {
      return { rev: await kv.create(key, this.value), sentAt };
    } catch (err) {
      if (!isWrongRevision(err)) {
        this.warnOnce(`lease ${key} claim failed; retrying`, err);
        return null;
      }
    }
    const current = await kv.get(key).catch(() => null);
    const other = current?.operation === 'PUT' ? parseLeaseRecord(current.value)?.holder ?? 'unknown' : null;
    if (current && other === holder) return { rev: current.revision, sentAt }; // our own, from before a lost renewal
    if (other !== this.announced) this.log.info({ heldBy: other }, `standby for ${key} (held by ${other ?? 'nobody'})`);
    this.announced = other;
    this.holderSeen = other;
    return null;
  }

  /**
   * Renews the held key until the returned function is called; calls `onLost` once when a
   * renewal is refused or none succeeded for `giveUpAfterMs` (a deadline timer, so that a hung
   * request cannot delay it).
   */
  private renew(lease: { rev: number; lastOk: number }, onLost: (why: string) => void): () => void {
    const { kv, key } = this.opts;
    const { renewEveryMs, giveUpAfterMs } = this.timings;
    let busy = false;
    let deadline: NodeJS.Timeout | undefined;
    const armDeadline = () => {
      clearTimeout(deadline);
      deadline = setTimeout(() => onLost(`no renewal succeeded for ${giveUpAfterMs} ms`), Math.max(0, lease.lastOk + giveUpAfterMs - Date.now()));
    };
    armDeadline();
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      const sentAt = Date.now();
      kv.update(key, this.value, lease.rev, Math.max(1, lease.lastOk + giveUpAfterMs - sentAt)).then(
        (rev) => { lease.rev = rev; lease.lastOk = sentAt; armDeadline(); },
        (err) => (isWrongRevision(err) ? onLost('the key was taken over or expired') : this.warnOnce(`lease ${key} renewal failed; retrying`, err)),
      ).finally(() => { busy = false; });
    }, renewEveryMs);
    return () => { clearInterval(timer); clearTimeout(deadline); };
  }

  /** Holds the lease won at `rev`: runs the work until the lease is lost or `stop()` is called. */
  private async hold(rev: number, sentAt: number): Promise<void> {
    const { key, holder } = this.opts;
    this.current = 'holder';
    this.holderSeen = holder;
    this.lastWarning = '';
    this.announced = undefined;
    this.log.info(`acquired lease ${key}`);
    const lease = { rev, lastOk: sentAt };
    let lostWhy: string | null = null;
    let wakeLost: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => { wakeLost = resolve; });
    const stopRenewing = this.renew(lease, (why) => {
      if (lostWhy !== null || this.current !== 'holder') return;
      lostWhy = why;
      this.current = 'standby';
      this.holderSeen = null;
      this.log.warn({ why }, `lost lease ${key}`);
      wakeLost();
    });
    let work: Stoppable | null = null;
    try {
      work = await this.opts.onAcquired();
      await Promise.race([lost, this.stopSignal]);
    } catch (err) {
      this.log.error({ err: (err as Error)?.message }, `work under lease ${key} failed to start; releasing the lease`);
    }
    await work?.stop().catch((err: Error) => this.log.error({ err: err.message }, `stopping the work under lease ${key} failed`));
    stopRenewing();
    if (lostWhy !== null) {
      this.opts.onLost?.(lostWhy);
      return;
    }
    this.current = 'standby';
    this.holderSeen = null;
    await this.opts.kv.delete(key, { previousSeq: lease.rev }).then(
      () => this.log.info(`released lease ${key}`),
      (err: Error) => this.log.warn({ err: err.message }, `lease ${key} release failed; it expires on its own`),
    );
    if (work === null && !this.stopping) await this.sleep.nap(this.opts.ttlMs);
  }
}
