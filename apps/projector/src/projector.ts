import type { Logger } from 'pino';
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, userNotificationSubject } from '@live/events';
import { projectEvent, READ_MODELS_PROJECTION, type Db, type KeptNotification } from '@live/db';
import { runDurableConsumer, type Messaging, type RunningConsumer } from '@live/messaging';

/** Durable consumer name of the Postgres read-model projection. */
export const READ_MODELS_CONSUMER = `projector-${READ_MODELS_PROJECTION}`;

/** Notifications of events older than this are kept but not pushed (a replay must not re-notify). */
export const LIVE_PUSH_MAX_AGE_MS = 5 * 60_000;

/** The JSON pushed on `notify.user.<userId>` for each kept notification. */
export type PushedNotification = KeptNotification;

/**
 * Starts the Postgres read-model projection: one durable pull consumer on every domain event
 * (`evt.>`), strictly in stream order (concurrency 1), each event applied by `projectEvent`
 * in one transaction with the projection's offset, so redelivery and replay are idempotent and
 * a replay from the start into empty tables yields the same rows.
 * After an event that made a followed channel live commits, each kept
 * `FollowedChannelWentLive` notification is pushed on core NATS `notify.user.<userId>` (the
 * API relays it to the user's Server-Sent Events stream); pushes of events older than
 * {@link LIVE_PUSH_MAX_AGE_MS} are skipped.
 * @param deps `db` (Kysely on the platform database), `messaging` (connected JetStream), `logger`.
 */
export async function startProjector(deps: { db: Db; messaging: Messaging; logger: Logger; durable?: string }): Promise<RunningConsumer> {
  return runDurableConsumer(deps.messaging.js, deps.messaging.jsm, {
    stream: EVENTS_STREAM,
    durable: deps.durable ?? READ_MODELS_CONSUMER,
    filterSubject: `${EVENTS_SUBJECT_PREFIX}.>`,
    logger: deps.logger,
    concurrency: 1,
    async handle(event, info) {
      const outcome = await projectEvent(deps.db, event, info.streamSequence);
      deps.logger.debug({ eventType: event.type, seq: info.streamSequence, applied: outcome.applied }, 'projected');
      if (outcome.notifications.length > 0 && Date.now() - Date.parse(event.occurredAt) < LIVE_PUSH_MAX_AGE_MS) {
        for (const n of outcome.notifications) {
          deps.messaging.nc.publish(userNotificationSubject(n.userId), JSON.stringify(n));
        }
        deps.logger.info({ eventType: event.type, notified: outcome.notifications.length }, 'notifications pushed');
      }
    },
  });
}
