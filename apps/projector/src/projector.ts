import type { Logger } from 'pino';
import { ALL_STREAM_SUBJECTS, EVENTS_STREAM } from '@live/events';
import { applySessionEvent, type Db } from '@live/db';
import { runDurableConsumer, type Messaging, type RunningConsumer } from '@live/messaging';

/** Durable consumer name of the session read-model projection. */
export const SESSIONS_PROJECTION = 'projector-sessions';

/**
 * Starts the Postgres projections: today the `stream_sessions` read model, fed by a durable
 * pull consumer on `evt.stream.*`. Handlers are idempotent (per-row last applied sequence), so
 * redelivery and replay from the start yield the same rows.
 * @param deps `db` (Kysely on the platform database), `messaging` (connected JetStream), `logger`.
 */
export async function startProjector(deps: { db: Db; messaging: Messaging; logger: Logger }): Promise<RunningConsumer> {
  return runDurableConsumer(deps.messaging.js, deps.messaging.jsm, {
    stream: EVENTS_STREAM,
    durable: SESSIONS_PROJECTION,
    filterSubject: ALL_STREAM_SUBJECTS,
    logger: deps.logger,
    concurrency: 1,
    async handle(event, info) {
      await applySessionEvent(deps.db, event, info.streamSequence);
      deps.logger.debug({ eventType: event.type, seq: info.streamSequence, sessionId: (event.data as { sessionId?: string }).sessionId }, 'projected');
    },
  });
}
