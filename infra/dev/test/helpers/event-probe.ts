/**
 * A steady writer of the event log for the chaos test: it appends a harmless event (the demo
 * channel's unchanged `ChannelMetadataUpdated`) every `periodMs`, each with its own id, and
 * retries a failed append with the same envelope (deduplicated by `Nats-Msg-Id`) as the apps
 * do, for up to `giveUpMs`. Afterwards the stored copies, counted by id, show whether an event
 * that was written was lost or stored twice while servers were being killed.
 */
import { channelSubject, domainEvent, EVENTS_STREAM, systemClock, type DomainEvent } from '@live/events';
import { appendEvent, readEvents, type Messaging } from '@live/messaging';

type JetStreamClient = Messaging['js'];

/** One probe event: its id, when it was made, and when (if ever) JetStream acknowledged it. */
export interface ProbeRecord {
  readonly id: string;
  readonly createdAt: number;
  ackedAt: number | null;
  attempts: number;
}

/** Options of {@link EventProbe}. */
export interface EventProbeOptions {
  readonly channelId: string;
  /** The metadata the channel already has (the probe changes nothing a viewer sees). */
  readonly metadata: { title: string; category: string; tags: string[]; language: string; mature: boolean };
  readonly periodMs: number;
  /** Stop retrying one event after this long (ms); it then counts as lost unless stored. */
  readonly giveUpMs: number;
}

/** Appends probe events until stopped (see the module comment). */
export class EventProbe {
  readonly records: ProbeRecord[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly js: JetStreamClient, private readonly o: EventProbeOptions) {}

  /** Starts appending, one event every `periodMs`. */
  start(): void {
    this.timer ??= setInterval(() => this.appendOne(), this.o.periodMs);
  }

  private appendOne(): void {
    const event = domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject(this.o.channelId), { channelId: this.o.channelId, ...this.o.metadata }, { producer: 'chaos-e2e' });
    const rec: ProbeRecord = { id: event.id, createdAt: Date.now(), ackedAt: null, attempts: 0 };
    this.records.push(rec);
    const p = (async () => {
      while (Date.now() - rec.createdAt < this.o.giveUpMs) {
        rec.attempts += 1;
        try {
          await appendEvent(this.js, event, { timeoutMs: 2_000 });
          rec.ackedAt = Date.now();
          return;
        } catch {
          // no leader yet, or the server we talk to died: the same envelope again
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })();
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Stops making new events and waits for the appends under way (at most `giveUpMs`). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }

  /** Every stored event of the probe's subject (the channel's), in log order. */
  async stored(): Promise<DomainEvent[]> {
    return (await readEvents(this.js, EVENTS_STREAM, channelSubject(this.o.channelId))).map((e) => e.event);
  }
}
