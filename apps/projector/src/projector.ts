import type { Logger } from 'pino';
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, userNotificationSubject } from '@live/events';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { projectEvents, projectedSequence, READ_MODELS_PROJECTION, type Db, type KeptNotification } from '@live/db';
import { runBatchedDurableConsumer, type Messaging, type RunningConsumer } from '@live/messaging';

/** Durable consumer name of the Postgres read-model projection. */
export const READ_MODELS_CONSUMER = `projector-${READ_MODELS_PROJECTION}`;

/** Notifications of events older than this are kept but not pushed (a replay must not re-notify). */
export const LIVE_PUSH_MAX_AGE_MS = 5 * 60_000;

/** Most events the projector applies in one transaction (when it has fallen behind). */
export const READ_MODELS_BATCH_EVENTS = 500;

/** The JSON pushed on `notify.user.<userId>` for each kept notification. */
export type PushedNotification = KeptNotification;

/**
 * Starts the Postgres read-model projection: one durable pull consumer on every domain event
 * (`evt.>`), strictly in stream order, applied by `projectEvents` in batches of what has been
 * delivered (up to {@link READ_MODELS_BATCH_EVENTS}; one event at a time while it keeps up),
 * each batch in one transaction with the projection's offset, so redelivery and replay are
 * idempotent and a replay from the start into empty tables yields the same rows.
 * After a batch that made a followed channel live commits, each kept
 * `FollowedChannelWentLive` notification is pushed on core NATS `notify.user.<userId>` (the
 * API relays it to the user's Server-Sent Events stream); pushes of events older than
 * {@link LIVE_PUSH_MAX_AGE_MS} are skipped.
 *
 * When the durable has messages delivered but not acknowledged (the process that consumed it
 * died, e.g. the previous holder of the projection's lease), it is first rewound to the event
 * after the projection's offset ({@link rewindReadModelConsumer}): the server would otherwise
 * deliver the later events first and the unacknowledged ones only after their ack wait, and
 * the offset check would then skip them.
 * @param deps `db` (Kysely on the platform database), `messaging` (connected JetStream), `logger`.
 */
export async function startProjector(deps: { db: Db; messaging: Messaging; logger: Logger; durable?: string }): Promise<RunningConsumer> {
  await rewindReadModelConsumer(deps);
  return runBatchedDurableConsumer(deps.messaging.js, deps.messaging.jsm, {
    stream: EVENTS_STREAM,
    durable: deps.durable ?? READ_MODELS_CONSUMER,
    filterSubject: `${EVENTS_SUBJECT_PREFIX}.>`,
    logger: deps.logger,
    maxBatch: READ_MODELS_BATCH_EVENTS,
    async handleBatch(batch) {
      const outcome = await projectEvents(deps.db, batch);
      deps.logger.debug({ events: batch.length, toSeq: batch[batch.length - 1]!.seq, applied: outcome.applied }, 'projected');
      const fresh = outcome.notifications.filter((n) => Date.now() - Date.parse(n.createdAt) < LIVE_PUSH_MAX_AGE_MS);
      for (const n of fresh) deps.messaging.nc.publish(userNotificationSubject(n.userId), JSON.stringify(n));
      if (fresh.length > 0) deps.logger.info({ notified: fresh.length }, 'notifications pushed');
    },
  });
}

/**
 * Recreates the read-model durable (`deps.durable`, default {@link READ_MODELS_CONSUMER}) to
 * start at the event after the projection's offset in `projection_offsets`, when it has
 * deliveries not acknowledged (`num_ack_pending` > 0); `openDurable` (runBatchedDurableConsumer) then restores the
 * rest of its settings. Does nothing when the durable does not exist or has none pending.
 * One process at a time: the caller holds the projection's lease.
 * @returns whether the durable was recreated.
 * @throws the nats.js error when JetStream does not answer; the database error.
 */
export async function rewindReadModelConsumer(deps: { db: Db; messaging: Messaging; logger: Logger; durable?: string }): Promise<boolean> {
  const durable = deps.durable ?? READ_MODELS_CONSUMER;
  const { jsm } = deps.messaging;
  const info = await jsm.consumers.info(EVENTS_STREAM, durable).catch(() => null);
  if (!info || info.num_ack_pending === 0) return false;
  const from = (await projectedSequence(deps.db)) + 1;
  await jsm.consumers.delete(EVENTS_STREAM, durable);
  await jsm.consumers.add(EVENTS_STREAM, {
    ...info.config, durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from,
  });
  deps.logger.info({ durable, fromSeq: from, ackPending: info.num_ack_pending }, 'read-model consumer rewound to the event after the projection offset');
  return true;
}
