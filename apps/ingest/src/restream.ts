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
import { openSecret, type SealingKey } from '@live/auth';
import { restreamDestinationById, restreamDestinationsOf, type Db } from '@live/db';
import { restreamTargetUrl, streamEvent, systemClock, type EventDataByType, type EventOf, type RestreamStopReason } from '@live/events';
import { FfmpegError, FfmpegInputError, runFfmpeg } from '@live/media';
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

/**
 * Creates the node's restreamer. Metrics (with `registry`): `ingest_restream_pushes` (running
 * pushes), `ingest_restream_attempts_total{result}` (started, failed).
 */
export function createRestreamer(opts: RestreamerOptions): Restreamer {
  const { logger, nodeId } = opts;
  const sessions = new Map<string, RestreamSession>();
  /** Running pushes by connection id, then destination id. */
  const pushes = new Map<string, Map<string, Push>>();
  const producer = `ingest:${nodeId}`;
  const attempts = new Counter({ name: 'ingest_restream_attempts_total', help: 'Restream push attempts, by result (started: media flows to the destination; failed: ffmpeg failed, retried)', labelNames: ['result'], registers: opts.registry ? [opts.registry] : [] });
  new Gauge({ name: 'ingest_restream_pushes', help: 'Restream pushes running on this node', registers: opts.registry ? [opts.registry] : [], collect() { this.set([...pushes.values()].reduce((n, m) => n + m.size, 0)); } });

  const emit = async <K extends 'RestreamStarted' | 'RestreamReconnecting' | 'RestreamStopped'>(type: K, data: EventDataByType[K]): Promise<void> => {
    try {
      await appendWithRetry(opts.messaging, streamEvent(systemClock, type, data as never, { producer }), logger, 5);
    } catch (err) {
      logger.warn({ err: (err as Error).message, eventType: type, destinationId: data.destinationId }, 'restream event not appended');
    }
  };

  /** One ffmpeg run; resolves with how it failed, or undefined when it ended because the publish or the push stopped. */
  async function attempt(p: Push, n: number): Promise<{ reason: string; ranMs: number } | undefined> {
    const input = new PassThrough();
    const sub = opts.relay.subscribe(p.session.connectionId, input);
    if (!sub) return undefined;
    const base = { channelId: p.session.channelId, sessionId: p.session.sessionId, destinationId: p.destinationId, ingestNodeId: nodeId };
    const t0 = Date.now();
    let started = false;
    let exit: { code: number | null; signal: string | null; stderrTail: string };
    try {
      const r = await runFfmpeg(restreamFfmpegArgs(restreamTargetUrl(p.url, p.key)), {
        stdin: input, signal: p.abort.signal, killGraceMs: 1000, ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
        onProgress: (pr) => {
          if (started || pr.outTimeMs <= 0) return;
          started = true;
          attempts.inc({ result: 'started' });
          logger.info({ ...base, attempt: n }, 'restream started');
          void emit('RestreamStarted', { ...base, attempt: n });
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
    if (p.abort.signal.aborted || !opts.relay.has(p.session.connectionId)) return undefined;
    attempts.inc({ result: 'failed' });
    return { reason: restreamFailureReason(exit.stderrTail, exit, p.key), ranMs: Date.now() - t0 };
  }

  /** Runs a push until it is stopped: attempt, back off, attempt again. */
  async function run(p: Push): Promise<void> {
    let failures = 0;
    for (let n = 1; !p.abort.signal.aborted; n++) {
      const failed = await attempt(p, n);
      if (!failed) break;
      failures = nextFailureCount(failures, failed.ranMs);
      const retryInMs = restreamBackoffMs(failures);
      logger.warn({ destinationId: p.destinationId, sessionId: p.session.sessionId, attempt: n, reason: failed.reason, retryInMs }, 'restream failed; reconnecting');
      await emit('RestreamReconnecting', {
        channelId: p.session.channelId, sessionId: p.session.sessionId, destinationId: p.destinationId, attempt: n, reason: failed.reason, retryInMs, ingestNodeId: nodeId,
      });
      await sleep(retryInMs, p.abort.signal);
    }
    // The publish ended before anyone stopped the push: its end (sessionStopped) names the reason.
    await untilAborted(p.abort.signal);
    await emit('RestreamStopped', {
      channelId: p.session.channelId, sessionId: p.session.sessionId, destinationId: p.destinationId, reason: p.stopReason ?? 'session-ended', ingestNodeId: nodeId,
    });
  }

  /** The destination's key, or undefined (logged) when this node cannot open it. */
  function openKey(s: RestreamSession, destinationId: string, keySealed: string): string | undefined {
    if (!opts.sealing) {
      logger.warn({ sessionId: s.sessionId, destinationId }, 'restream destination not pushed: RESTREAM_KEY_SECRET is not set on this node');
      return undefined;
    }
    try {
      return openSecret(opts.sealing, keySealed);
    } catch (err) {
      logger.warn({ sessionId: s.sessionId, destinationId, err: (err as Error).message }, 'restream destination not pushed: its key does not open');
      return undefined;
    }
  }

  function startPush(s: RestreamSession, d: { id: string; url: string; key: string | undefined }): void {
    if (d.key === undefined || sessions.get(s.connectionId) !== s) return;
    let byDest = pushes.get(s.connectionId);
    if (!byDest) pushes.set(s.connectionId, (byDest = new Map()));
    if (byDest.has(d.id)) return;
    const p: Push = { destinationId: d.id, session: s, url: d.url, key: d.key, abort: new AbortController(), stopReason: undefined, done: Promise.resolve() };
    byDest.set(d.id, p);
    p.done = run(p).catch((err: unknown) => logger.error({ err, destinationId: d.id }, 'restream push crashed')).finally(() => {
      if (pushes.get(s.connectionId)?.get(d.id) === p) pushes.get(s.connectionId)!.delete(d.id);
    });
  }

  /** Applies a destination's change to a live session's push: stop, restart with the new settings, or start. */
  async function changeDestination(s: RestreamSession, e: EventOf<'RestreamDestinationAdded' | 'RestreamDestinationUpdated' | 'RestreamDestinationRemoved'>): Promise<void> {
    const running = pushes.get(s.connectionId)?.get(e.data.destinationId);
    if (e.type === 'RestreamDestinationRemoved') {
      if (running) await stopPush(running, 'removed');
      return;
    }
    const sealed = e.data.keySealed;
    if (running) {
      if (e.data.enabled && running.url === e.data.url && sealed === undefined) return;
      await stopPush(running, e.data.enabled ? 'updated' : 'disabled');
    }
    if (!e.data.enabled) return;
    // An update without a new key keeps the key the push had, or the one the read model holds.
    const key = sealed !== undefined ? openKey(s, e.data.destinationId, sealed)
      : running ? running.key
        : await restreamDestinationById(opts.db, e.data.destinationId).then((r) => (r ? openKey(s, r.id, r.key_sealed) : undefined));
    startPush(s, { id: e.data.destinationId, url: e.data.url, key });
  }

  function stopPush(p: Push, reason: RestreamStopReason): Promise<void> {
    p.stopReason ??= reason;
    p.abort.abort();
    return p.done;
  }

  const stopAll = async (connectionId: string, reason: RestreamStopReason): Promise<void> => {
    sessions.delete(connectionId);
    const byDest = pushes.get(connectionId);
    if (!byDest) return;
    await Promise.all([...byDest.values()].map((p) => stopPush(p, reason)));
    pushes.delete(connectionId);
  };

  return {
    sessionStarted(s) {
      sessions.set(s.connectionId, s);
      restreamDestinationsOf(opts.db, s.channelId, { enabledOnly: true }).then((rows) => {
        for (const r of rows) startPush(s, { id: r.id, url: r.url, key: openKey(s, r.id, r.key_sealed) });
      }, (err: unknown) => logger.error({ err, sessionId: s.sessionId }, 'restream destinations not loaded'));
    },
    sessionStopped: stopAll,
    destinationChanged(e) {
      for (const s of sessions.values()) {
        if (s.channelId !== e.data.channelId) continue;
        changeDestination(s, e).catch((err: unknown) => logger.error({ err, destinationId: e.data.destinationId }, 'restream destination change not applied'));
      }
    },
    async close() {
      await Promise.all([...pushes.keys()].map((c) => stopAll(c, 'node-shutdown')));
    },
  };
}
