/**
 * Periodic ingest health reports: a media sink that feeds each publish's messages to an
 * {@link IngestHealthMeter}, and the timer that appends `StreamIngestHealthReported` every
 * `INGEST_HEALTH_INTERVAL_MS` while the publish is live.
 */
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { INGEST_HEALTH_INTERVAL_MS, streamEvent, systemClock, type EventClock } from '@live/events';
import { appendEvent, type Messaging } from '@live/messaging';
import { IngestHealthMeter } from './health.js';
import type { MediaSinkFactory } from './rtmp/media-sink.js';

/** Dependencies and settings of {@link createHealthReporter}. */
export interface HealthReporterOptions {
  readonly messaging: Messaging;
  readonly logger: Logger;
  /** Producer of the events: `ingest:<nodeId>`. */
  readonly nodeId: string;
  /** Registry of the node's `/metrics`. */
  readonly registry: Registry;
  /** Report period, ms (default {@link INGEST_HEALTH_INTERVAL_MS}). */
  readonly intervalMs?: number;
  /** Time and randomness of the events (default the system clock); `now()` also times the intervals. */
  readonly clock?: EventClock;
}

/** Ingest health reports of every publish on a node; also the media sink that measures them. */
export interface HealthReporter extends MediaSinkFactory {
  /**
   * Starts the periodic reports of a publish whose media sink is open and whose
   * `StreamPublishStarted` (or `StreamPublishResumed`) is appended (`causationId`: that event's
   * id). `sessionId` is the publish's own id (its media sink's); the reports name
   * `reportAs` (default `sessionId`): the broadcast session a reconnected publish continues.
   * No-op when the publish already ended.
   */
  start(sessionId: string, causationId: string, reportAs?: string): void;
  /**
   * Stops the reports of a publish and resolves once a report still being appended is stored,
   * so that the caller's `StreamPublishEnded` follows every health event of the session.
   * Called by the sink's `end` too; idempotent.
   */
  stop(sessionId: string): Promise<void>;
  /** Stops every publish's reports. */
  close(): Promise<void>;
}

interface Publish {
  readonly channelId: string;
  readonly meter: IngestHealthMeter;
  timer: ReturnType<typeof setInterval> | undefined;
  inflight: Promise<void>;
  ended: boolean;
}

/**
 * Creates the reporter. Each report appends `StreamIngestHealthReported` (data: the
 * {@link IngestHealthMeter} sample of the interval that just ended, plus `channelId` and
 * `sessionId`) on `evt.stream.<channelId>` with producer `ingest:<nodeId>`, once (a lost report
 * is logged, not retried: the next one follows in 5 s), and sets the per-publish gauges
 * `ingest_session_bitrate_kbps{channel_id}` and `ingest_session_frame_rate{channel_id}`
 * (removed when the publish ends). Reports stop when the publish ends (its sink's `end`).
 */
export function createHealthReporter(opts: HealthReporterOptions): HealthReporter {
  const clock = opts.clock ?? systemClock;
  const intervalMs = opts.intervalMs ?? INGEST_HEALTH_INTERVAL_MS;
  const producer = `ingest:${opts.nodeId}`;
  const bitrate = new Gauge({ name: 'ingest_session_bitrate_kbps', help: 'Received RTMP audio+video bitrate of each live publish over the last health interval, kbit/s', labelNames: ['channel_id'], registers: [opts.registry] });
  const frameRate = new Gauge({ name: 'ingest_session_frame_rate', help: 'Received video frames per second of each live publish over the last health interval', labelNames: ['channel_id'], registers: [opts.registry] });
  const publishes = new Map<string, Publish>();

  function report(sessionId: string, p: Publish, causationId: string): void {
    const sample = p.meter.take(clock.now());
    bitrate.set({ channel_id: p.channelId }, sample.bitrateKbps);
    frameRate.set({ channel_id: p.channelId }, sample.frameRate);
    const event = streamEvent(clock, 'StreamIngestHealthReported', { channelId: p.channelId, sessionId, ...sample }, { producer, causationId });
    p.inflight = p.inflight.then(() => appendEvent(opts.messaging.js, event)).then(
      () => undefined,
      (err: unknown) => opts.logger.warn({ err: (err as Error).message, sessionId, streamId: p.channelId }, 'ingest health report not appended'),
    );
  }

  const reporter: HealthReporter = {
    openPublish(info) {
      const p: Publish = { channelId: info.channelId, meter: new IngestHealthMeter(clock.now()), timer: undefined, inflight: Promise.resolve(), ended: false };
      publishes.set(info.sessionId, p);
      return {
        write: (msg) => p.meter.observe(msg),
        end: () => void reporter.stop(info.sessionId),
      };
    },
    start(sessionId, causationId, reportAs = sessionId) {
      const p = publishes.get(sessionId);
      if (!p || p.ended || p.timer) return;
      p.timer = setInterval(() => report(reportAs, p, causationId), intervalMs);
      p.timer.unref();
    },
    async stop(sessionId) {
      const p = publishes.get(sessionId);
      if (!p) return;
      if (!p.ended) {
        p.ended = true;
        clearInterval(p.timer);
        bitrate.remove({ channel_id: p.channelId });
        frameRate.remove({ channel_id: p.channelId });
      }
      await p.inflight;
      if (publishes.get(sessionId) === p) publishes.delete(sessionId);
    },
    async close() {
      await Promise.all([...publishes.keys()].map((id) => reporter.stop(id)));
    },
  };
  return reporter;
}
