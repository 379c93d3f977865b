/**
 * The webhook dispatcher: queues a delivery per event and endpoint from the event log, and sends
 * each endpoint's queue in order, signed (`signWebhook`, `@live/auth`), retried with exponential
 * backoff (webhook-schedule.ts), the endpoint disabled with the reason when the schedule runs out.
 *
 * - Queueing: a durable consumer (`webhooks`) on EVENTS `evt.>`, in log order, in batches;
 *   `renderWebhookPayload` (events) picks and renders the events webhooks carry, and
 *   `enqueueWebhookDeliveries` (db) adds them to the queues of the endpoints that receive them,
 *   idempotently (a redelivered batch queues nothing twice).
 * - Sending: every `pollMs` (and at once after a batch queued something) the process claims up
 *   to `concurrency` endpoints whose next delivery is due (`claimDueWebhookEndpoints`: a row
 *   claim, so two dispatchers never send to one endpoint at once) and sends each one's due
 *   deliveries one by one until one fails: a failing endpoint waits out its backoff alone and
 *   never holds up another.
 * One dispatcher runs per cluster (the projector's `webhooks` lease): the durable is in order
 * only with one reader.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, renderWebhookPayload, type WebhookPayload } from '@live/events';
import {
  claimDueWebhookEndpoints, enqueueWebhookDeliveries, nextDueWebhookDelivery, recordWebhookAttempt, releaseWebhookClaim, renewWebhookClaim,
  type ClaimedWebhookEndpoint, type Db,
} from '@live/db';
// The separate entry: the signature needs node:crypto only, not the access tokens' `jose`.
import { signWebhook, WEBHOOK_SIGNATURE_HEADER } from '@live/auth/webhooks';
import { runBatchedDurableConsumer, type Messaging } from '@live/messaging';
import { nextRetry, retrySchedule, type RetryPolicy } from './webhook-schedule.js';

/** Durable consumer name of the webhook queueing. */
export const WEBHOOKS_DURABLE = 'webhooks';

/** How deliveries are sent. */
export interface WebhookDeliverySettings {
  /** The retry schedule's policy (`WEBHOOK_RETRY_*`). */
  readonly retry: RetryPolicy;
  /** An attempt without a complete answer within this many ms fails (`WEBHOOK_TIMEOUT_MS`). */
  readonly timeoutMs: number;
  /** How often due deliveries are looked for, ms (`WEBHOOK_POLL_MS`); also the retries' granularity. */
  readonly pollMs: number;
  /** Endpoints sent to at once by this process (`WEBHOOK_CONCURRENCY`). */
  readonly concurrency: number;
}

/** Defaults of {@link WebhookDeliverySettings}. */
export const DEFAULT_WEBHOOK_DELIVERY: Omit<WebhookDeliverySettings, 'retry'> = { timeoutMs: 10_000, pollMs: 1000, concurrency: 8 };

/** What an attempt ended in: a 2xx, a failure with a retry scheduled, or the schedule ran out (endpoint disabled). */
export type WebhookAttemptOutcome = 'delivered' | 'retry' | 'give-up';

/** The delivery loop's counters on `/metrics`. */
export interface WebhookMetrics {
  attempt(outcome: WebhookAttemptOutcome): void;
}

/**
 * Registers `webhook_attempts_total{outcome}` (`delivered`, `retry`, `give-up`) in `registry`.
 * Once per registry (a lease re-acquired starts the dispatcher again with the same metrics).
 */
export function registerWebhookMetrics(registry: Registry): WebhookMetrics {
  const attempts = new Counter({ name: 'webhook_attempts_total', help: 'Webhook delivery attempts by outcome: delivered (2xx), retry (failed, retried later), give-up (the schedule ran out; endpoint disabled)', labelNames: ['outcome'], registers: [registry] });
  for (const o of ['delivered', 'retry', 'give-up']) attempts.inc({ outcome: o }, 0);
  return { attempt: (outcome) => attempts.inc({ outcome }) };
}

/** What the delivery loop needs. */
export interface WebhookDeliveryDeps {
  readonly db: Db;
  readonly logger: Logger;
  /** This process's id in endpoint claims (`leaseHolderId('projector')`). */
  readonly holder: string;
  readonly settings: WebhookDeliverySettings;
  /** Counters ({@link registerWebhookMetrics}); none when absent. */
  readonly metrics?: WebhookMetrics;
}

/** A running delivery loop. */
export interface WebhookDelivery {
  /** Look for due deliveries now (something was queued). */
  wake(): void;
  /** Stops claiming; lets the attempts in flight finish and releases their claims. Never throws. */
  stop(): Promise<void>;
}

/** The outcome of one HTTP attempt. */
interface SendResult {
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

/**
 * POSTs one delivery: JSON body as queued, `Live-Signature: t=…,v1=…` over the current time,
 * `Live-Event-Id`, `Live-Event-Type`, `Live-Delivery-Id`. A 2xx is success; redirects are not
 * followed (a 3xx fails: the URL must be the final one).
 */
async function send(ep: ClaimedWebhookEndpoint, d: { id: string; eventId: string; eventType: string; payload: string }, timeoutMs: number): Promise<SendResult> {
  const started = performance.now();
  try {
    const res = await fetch(ep.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'live-platform-webhooks/1',
        [WEBHOOK_SIGNATURE_HEADER]: signWebhook(ep.secret, d.payload, Math.floor(Date.now() / 1000)),
        'live-event-id': d.eventId,
        'live-event-type': d.eventType,
        'live-delivery-id': d.id,
      },
      body: d.payload,
    });
    await res.body?.cancel().catch(() => undefined);
    const ok = res.status >= 200 && res.status < 300;
    return { statusCode: res.status, error: ok ? null : `HTTP ${res.status}`, durationMs: performance.now() - started };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const error = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { statusCode: null, error: String(error).slice(0, 500), durationMs: performance.now() - started };
  }
}

/**
 * Starts the delivery loop (see the module comment). Several loops (processes) may run on one
 * database: endpoint claims keep each endpoint with one of them.
 * @throws RangeError when the retry policy is invalid.
 */
export function startWebhookDelivery(deps: WebhookDeliveryDeps): WebhookDelivery {
  const { db, logger, holder, settings } = deps;
  const schedule = retrySchedule(settings.retry);
  // A claim outlives one attempt; it is renewed before each.
  const claimMs = settings.timeoutMs * 2 + 5000;
  const active = new Map<string, Promise<void>>();
  let stopping = false;
  let wakeUp: (() => void) | null = null;
  const wake = (): void => { wakeUp?.(); };

  async function drain(ep: ClaimedWebhookEndpoint): Promise<void> {
    try {
      while (!stopping) {
        const current = await renewWebhookClaim(db, ep.id, holder, claimMs);
        if (!current) return;
        const d = await nextDueWebhookDelivery(db, ep.id);
        if (!d) return;
        const attemptedAt = new Date();
        const r = await send(current, d, settings.timeoutMs);
        const failures = d.failures + 1;
        const next = r.error === null ? null : nextRetry(schedule, failures);
        const outcome = next === null ? { kind: 'delivered' as const }
          : 'retryInMs' in next ? { kind: 'retry' as const, retryAt: new Date(Date.now() + next.retryInMs) }
          : { kind: 'give-up' as const, reason: `${failures} attempts of delivery ${d.id} failed (the retry schedule ran out); the last: ${r.error}` };
        await recordWebhookAttempt(db, { deliveryId: d.id, endpointId: ep.id, attemptedAt, statusCode: r.statusCode, error: r.error, durationMs: r.durationMs, outcome });
        deps.metrics?.attempt(outcome.kind);
        logger[r.error === null ? 'debug' : 'info']({ endpointId: ep.id, deliveryId: d.id, eventType: d.eventType, status: r.statusCode, error: r.error, outcome: outcome.kind }, 'webhook attempt');
        if (outcome.kind === 'give-up') logger.warn({ endpointId: ep.id, reason: outcome.reason }, 'webhook endpoint disabled');
        if (r.error !== null) return;
      }
    } finally {
      await releaseWebhookClaim(db, ep.id, holder).catch(() => undefined);
    }
  }

  async function tick(): Promise<void> {
    const claimed = await claimDueWebhookEndpoints(db, holder, claimMs, settings.concurrency - active.size, [...active.keys()]);
    for (const ep of claimed) {
      const p = drain(ep)
        .catch((err: Error) => logger.error({ endpointId: ep.id, err: err.message }, 'webhook delivery failed'))
        .finally(() => { active.delete(ep.id); wake(); });
      active.set(ep.id, p);
    }
  }

  const loop = (async () => {
    while (!stopping) {
      await tick().catch((err: Error) => logger.error({ err: err.message }, 'webhook claim failed'));
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, settings.pollMs);
        wakeUp = () => { clearTimeout(t); resolve(); };
      });
      wakeUp = null;
    }
  })();

  return {
    wake,
    async stop() {
      stopping = true;
      wake();
      await loop;
      await Promise.all(active.values());
    },
  };
}

/**
 * Recreates the webhook durable at the first event not acknowledged (the ack floor + 1) when it
 * has deliveries not acknowledged (its previous reader died): the server would otherwise deliver
 * later events first and those after their ack wait, out of order. Queueing is idempotent, so
 * events read again queue nothing twice. Does nothing when the durable does not exist.
 * @returns whether the durable was recreated.
 */
export async function rewindWebhookConsumer(messaging: Messaging, durable: string, logger: Logger): Promise<boolean> {
  const { jsm } = messaging;
  const info = await jsm.consumers.info(EVENTS_STREAM, durable).catch(() => null);
  if (!info || info.num_ack_pending === 0) return false;
  const from = info.ack_floor.stream_seq + 1;
  await jsm.consumers.delete(EVENTS_STREAM, durable);
  await jsm.consumers.add(EVENTS_STREAM, { ...info.config, durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
  logger.info({ durable, fromSeq: from }, 'webhook consumer rewound to its ack floor');
  return true;
}

/** What {@link startWebhookDispatcher} needs. */
export interface WebhookDispatcherDeps extends WebhookDeliveryDeps {
  readonly messaging: Messaging;
  /** Durable name (default {@link WEBHOOKS_DURABLE}; tests use their own). */
  readonly durable?: string;
}

/**
 * Starts the webhook dispatcher: the queueing consumer and the delivery loop. Run by the holder
 * of the projector's `webhooks` lease.
 * @returns `stop()`: stops the consumer, then the loop.
 * @throws JetStreamApiError when the consumer cannot be created.
 */
export async function startWebhookDispatcher(deps: WebhookDispatcherDeps): Promise<{ stop(): Promise<void> }> {
  const durable = deps.durable ?? WEBHOOKS_DURABLE;
  const delivery = startWebhookDelivery(deps);
  try {
    await rewindWebhookConsumer(deps.messaging, durable, deps.logger);
    const consumer = await runBatchedDurableConsumer(deps.messaging.js, deps.messaging.jsm, {
      stream: EVENTS_STREAM,
      durable,
      filterSubject: `${EVENTS_SUBJECT_PREFIX}.>`,
      logger: deps.logger,
      maxBatch: 500,
      async handleBatch(batch) {
        const events: Array<{ payload: WebhookPayload; seq: number }> = [];
        for (const { event, seq } of batch) {
          const payload = renderWebhookPayload(event);
          if (payload) events.push({ payload, seq });
        }
        if ((await enqueueWebhookDeliveries(deps.db, events)) > 0) delivery.wake();
      },
    });
    return {
      async stop() {
        await consumer.stop();
        await delivery.stop();
      },
    };
  } catch (err) {
    await delivery.stop();
    throw err;
  }
}
