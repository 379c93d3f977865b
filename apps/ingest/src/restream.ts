/**
 * Restreaming (simulcast) on the ingest node that holds the publisher: while a publish is live,
 * one supervised ffmpeg per enabled destination of its channel copies the relay's FLV (fed
 * through stdin, `-c copy`) to the destination's RTMP/RTMPS server, and is retried with capped
 * exponential backoff when it fails (restream-rules.ts). The node holding the publisher is the
 * only one with the media, and one node holds a channel's publish (its lease), so each
 * destination is pushed exactly once however many ingest nodes run. Each push's state is
 * appended to `evt.stream.<channelId>`: RestreamStarted (media flows to the destination),
 * RestreamReconnecting (it failed; the next attempt's delay), RestreamStopped (the session ended
 * or paused, or the destination was disabled, changed or removed).
 */
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { openSecret, type SealingKey } from '@live/auth/sealed';
import { restreamDestinationById, restreamDestinationsOf, type Db } from '@live/db';
import { restreamTargetUrl, streamEvent, systemClock, type EventDataByType, type EventOf, type RestreamStopReason } from '@live/events';
import { FfmpegError, FfmpegInputError, runFfmpeg } from '@live/media/ffmpeg';
import type { Messaging } from '@live/messaging';
import { appendWithRetry } from './publish-lifecycle.js';
import type { Relay } from './relay/index.js';
import { nextFailureCount, restreamBackoffMs, restreamFailureReason, restreamFfmpegArgs } from './restream-rules.js';

/** Dependencies and settings of {@link createRestreamer}. */
export interface RestreamerOptions {
  readonly db: Db;
  readonly messaging: Messaging;
  readonly logger: Logger;
  readonly nodeId: string;
  /** The node's relay: each push subscribes to its publish's FLV. */
  readonly relay: Pick<Relay, 'subscribe' | 'has'>;
  /** Opens the destinations' sealed keys (`RESTREAM_KEY_SECRET`); undefined: restreaming is off on this node (logged per session that has destinations). */
  readonly sealing: SealingKey | undefined;
  /** ffmpeg binary (default: `FFMPEG_PATH` or PATH). */
  readonly ffmpegPath?: string;
  readonly registry?: Registry;
}

/** A live publish of this node, as the restreamer knows it. */
export interface RestreamSession {
  readonly connectionId: string;
  readonly channelId: string;
  readonly sessionId: string;
}

/** See the module comment. */
export interface Restreamer {
  /** A publish started or resumed on this node: starts its channel's enabled destinations. Never throws (logged). */
  sessionStarted(s: RestreamSession): void;
  /** A publish of this node ended (or paused): stops its pushes, appends their RestreamStopped. Never rejects. */
  sessionStopped(connectionId: string, reason: RestreamStopReason): Promise<void>;
  /** A destination was added, changed or removed (the control listener): starts, restarts or stops its push on a live channel here. */
  destinationChanged(e: EventOf<'RestreamDestinationAdded' | 'RestreamDestinationUpdated' | 'RestreamDestinationRemoved'>): void;
  /** Stops every push (reason `node-shutdown`) and waits for their last events. */
  close(): Promise<void>;
}

interface Push {
  readonly destinationId: string;
  readonly session: RestreamSession;
  readonly url: string;
  readonly key: string;
  readonly abort: AbortController;
  stopReason: RestreamStopReason | undefined;
  done: Promise<void>;
  /** The push's events, appended one after the other (a RestreamStarted never lands after the failure that followed it). */
  events: Promise<void>;
}

const untilAborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(done, ms);
  function done() {
    clearTimeout(t);
    signal.removeEventListener('abort', done);
    resolve();
  }
  signal.addEventListener('abort', done, { once: true });
});

type DestinationChange = EventOf<'RestreamDestinationAdded' | 'RestreamDestinationUpdated' | 'RestreamDestinationRemoved'>;

/** See {@link createRestreamer}. */
class NodeRestreamer implements Restreamer {
  readonly #sessions = new Map<string, RestreamSession>();
  /** Running pushes by connection id, then destination id. */
  readonly #pushes = new Map<string, Map<string, Push>>();
  readonly #producer: string;
  readonly #attempts: Counter<'result'>;

  constructor(private readonly opts: RestreamerOptions) {
    this.#producer = `ingest:${opts.nodeId}`;
    const registers = opts.registry ? [opts.registry] : [];
    this.#attempts = new Counter({ name: 'ingest_restream_attempts_total', help: 'Restream push attempts, by result (started: media flows to the destination; failed: ffmpeg failed, retried)', labelNames: ['result'], registers });
    const pushes = this.#pushes;
    new Gauge({ name: 'ingest_restream_pushes', help: 'Restream pushes running on this node', registers, collect() { this.set([...pushes.values()].reduce((n, m) => n + m.size, 0)); } });
  }

  sessionStarted(s: RestreamSession): void {
    this.#sessions.set(s.connectionId, s);
    restreamDestinationsOf(this.opts.db, s.channelId, { enabledOnly: true }).then((rows) => {
      for (const r of rows) this.#startPush(s, { id: r.id, url: r.url, key: this.#openKey(s, r.id, r.key_sealed) });
    }, (err: unknown) => this.opts.logger.error({ err, sessionId: s.sessionId }, 'restream destinations not loaded'));
  }

  async sessionStopped(connectionId: string, reason: RestreamStopReason): Promise<void> {
    this.#sessions.delete(connectionId);
    const byDest = this.#pushes.get(connectionId);
    if (!byDest) return;
    await Promise.all([...byDest.values()].map((p) => this.#stopPush(p, reason)));
    this.#pushes.delete(connectionId);
  }

  destinationChanged(e: DestinationChange): void {
    for (const s of this.#sessions.values()) {
      if (s.channelId !== e.data.channelId) continue;
      this.#changeDestination(s, e).catch((err: unknown) => this.opts.logger.error({ err, destinationId: e.data.destinationId }, 'restream destination change not applied'));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pushes.keys()].map((c) => this.sessionStopped(c, 'node-shutdown')));
  }

  /** Appends a push's event after its earlier ones; resolves once it is appended (or given up, logged). */
  #emit<K extends 'RestreamStarted' | 'RestreamReconnecting' | 'RestreamStopped'>(p: Push, type: K, data: EventDataByType[K]): Promise<void> {
    p.events = p.events.then(async () => {
      try {
        await appendWithRetry(this.opts.messaging, streamEvent(systemClock, type, data as never, { producer: this.#producer }), this.opts.logger, 5);
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message, eventType: type, destinationId: data.destinationId }, 'restream event not appended');
      }
    });
    return p.events;
  }

  /** One ffmpeg run; resolves with how it failed, or undefined when it ended because the publish or the push stopped. */
  async #attempt(p: Push, n: number): Promise<{ reason: string; ranMs: number } | undefined> {
    const { relay, logger, nodeId } = this.opts;
    const input = new PassThrough();
    const sub = relay.subscribe(p.session.connectionId, input);
    if (!sub) return undefined;
    const base = { channelId: p.session.channelId, sessionId: p.session.sessionId, destinationId: p.destinationId, ingestNodeId: nodeId };
    const t0 = Date.now();
    let started = false;
    let exit: { code: number | null; signal: string | null; stderrTail: string };
    try {
      const r = await runFfmpeg(restreamFfmpegArgs(restreamTargetUrl(p.url, p.key)), {
        stdin: input, signal: p.abort.signal, killGraceMs: 1000, ...(this.opts.ffmpegPath ? { ffmpegPath: this.opts.ffmpegPath } : {}),
        onProgress: (pr) => {
          if (started || pr.outTimeMs <= 0) return;
          started = true;
          this.#attempts.inc({ result: 'started' });
          logger.info({ ...base, attempt: n }, 'restream started');
          void this.#emit(p, 'RestreamStarted', { ...base, attempt: n });
        },
      });
      exit = { code: r.exitCode, signal: r.signal, stderrTail: r.stderrTail };
    } catch (err) {
      if (err instanceof FfmpegError) exit = { code: err.exitCode, signal: err.signal, stderrTail: err.stderrTail };
      else if (err instanceof FfmpegInputError) exit = { code: err.result.exitCode, signal: err.result.signal, stderrTail: err.result.stderrTail };
      else exit = { code: null, signal: null, stderrTail: (err as Error).message };
    } finally {
      sub.unsubscribe();
    }
    if (p.abort.signal.aborted || !relay.has(p.session.connectionId)) return undefined;
    this.#attempts.inc({ result: 'failed' });
    return { reason: restreamFailureReason(exit.stderrTail, exit, p.key), ranMs: Date.now() - t0 };
  }

  /** Runs a push until it is stopped: attempt, back off, attempt again; then its RestreamStopped. */
  async #run(p: Push): Promise<void> {
    const base = { channelId: p.session.channelId, sessionId: p.session.sessionId, destinationId: p.destinationId, ingestNodeId: this.opts.nodeId };
    let failures = 0;
    for (let n = 1; !p.abort.signal.aborted; n++) {
      const failed = await this.#attempt(p, n);
      if (!failed) break;
      failures = nextFailureCount(failures, failed.ranMs);
      const retryInMs = restreamBackoffMs(failures);
      this.opts.logger.warn({ ...base, attempt: n, reason: failed.reason, retryInMs }, 'restream failed; reconnecting');
      await this.#emit(p, 'RestreamReconnecting', { ...base, attempt: n, reason: failed.reason, retryInMs });
      await sleep(retryInMs, p.abort.signal);
    }
    // The publish ended before anyone stopped the push: its end (sessionStopped) names the reason.
    await untilAborted(p.abort.signal);
    await this.#emit(p, 'RestreamStopped', { ...base, reason: p.stopReason ?? 'session-ended' });
  }

  /** The destination's key, or undefined (logged) when this node cannot open it. */
  #openKey(s: RestreamSession, destinationId: string, keySealed: string): string | undefined {
    if (!this.opts.sealing) {
      this.opts.logger.warn({ sessionId: s.sessionId, destinationId }, 'restream destination not pushed: RESTREAM_KEY_SECRET is not set on this node');
      return undefined;
    }
    try {
      return openSecret(this.opts.sealing, keySealed);
    } catch (err) {
      this.opts.logger.warn({ sessionId: s.sessionId, destinationId, err: (err as Error).message }, 'restream destination not pushed: its key does not open');
      return undefined;
    }
  }

  #startPush(s: RestreamSession, d: { id: string; url: string; key: string | undefined }): void {
    if (d.key === undefined || this.#sessions.get(s.connectionId) !== s) return;
    let byDest = this.#pushes.get(s.connectionId);
    if (!byDest) this.#pushes.set(s.connectionId, (byDest = new Map()));
    if (byDest.has(d.id)) return;
    const p: Push = { destinationId: d.id, session: s, url: d.url, key: d.key, abort: new AbortController(), stopReason: undefined, done: Promise.resolve(), events: Promise.resolve() };
    byDest.set(d.id, p);
    p.done = this.#run(p).catch((err: unknown) => this.opts.logger.error({ err, destinationId: d.id }, 'restream push crashed')).finally(() => {
      if (this.#pushes.get(s.connectionId)?.get(d.id) === p) this.#pushes.get(s.connectionId)!.delete(d.id);
    });
  }

  #stopPush(p: Push, reason: RestreamStopReason): Promise<void> {
    p.stopReason ??= reason;
    p.abort.abort();
    return p.done;
  }

  /** Applies a destination's change to a live session's push: stop, restart with the new settings, or start. */
  async #changeDestination(s: RestreamSession, e: DestinationChange): Promise<void> {
    const running = this.#pushes.get(s.connectionId)?.get(e.data.destinationId);
    if (e.type === 'RestreamDestinationRemoved') {
      if (running) await this.#stopPush(running, 'removed');
      return;
    }
    const sealed = e.data.keySealed;
    if (running) {
      if (e.data.enabled && running.url === e.data.url && sealed === undefined) return;
      await this.#stopPush(running, e.data.enabled ? 'updated' : 'disabled');
    }
    if (!e.data.enabled) return;
    // An update without a new key keeps the key the push had, or the one the read model holds.
    const key = sealed !== undefined ? this.#openKey(s, e.data.destinationId, sealed)
      : running ? running.key
        : await restreamDestinationById(this.opts.db, e.data.destinationId).then((r) => (r ? this.#openKey(s, r.id, r.key_sealed) : undefined));
    this.#startPush(s, { id: e.data.destinationId, url: e.data.url, key });
  }
}

/**
 * Creates the node's restreamer. Metrics (with `registry`): `ingest_restream_pushes` (running
 * pushes), `ingest_restream_attempts_total{result}` (started, failed).
 */
export function createRestreamer(opts: RestreamerOptions): Restreamer {
  return new NodeRestreamer(opts);
}
