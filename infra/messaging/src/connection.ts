import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { CHAT_STREAM_DEFINITION, EVENTS_STREAM_DEFINITION, LEASES_STREAM_DEFINITION, TELEMETRY_STREAM_DEFINITION, type StreamDefinition } from '@live/events';

/** An open NATS connection with its JetStream client and manager. */
export interface Messaging {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Drains subscriptions and closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to NATS and opens JetStream.
 * @param url e.g. `nats://127.0.0.1:4222` (comma-separated for a cluster).
 * @param name connection name shown in the server's monitoring, e.g. `ingest`.
 * @throws the nats.js connection error when no server answers within its timeout.
 */
export async function connectMessaging(url: string, name: string): Promise<Messaging> {
  const nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  return {
    nc, js, jsm,
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}

/**
 * Creates the stream, or updates it when it exists (idempotent; safe for every process to call
 * at start). Maps {@link StreamDefinition} onto JetStream's `StreamConfig`.
 * @throws JetStreamApiError when the server refuses the configuration.
 */
export async function ensureStream(jsm: JetStreamManager, def: StreamDefinition): Promise<void> {
  const config = {
    name: def.name,
    subjects: [...def.subjects],
    retention: RetentionPolicy.Limits,
    storage: def.storage === 'file' ? StorageType.File : StorageType.Memory,
    discard: DiscardPolicy.Old,
    duplicate_window: def.duplicateWindowNs,
    max_age: def.maxAgeNs,
    max_msgs_per_subject: def.maxMsgsPerSubject,
    max_msg_size: def.maxMsgSize,
    num_replicas: def.replicas,
  };
  try {
    await jsm.streams.info(def.name);
    await jsm.streams.update(def.name, config);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}

/** Ensures every stream the platform needs: EVENTS (the log), LEASES (claims), CHAT (room history) and TELEMETRY (player beacons). */
export async function ensureEventStreams(jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, EVENTS_STREAM_DEFINITION);
  await ensureStream(jsm, LEASES_STREAM_DEFINITION);
  await ensureStream(jsm, CHAT_STREAM_DEFINITION);
  await ensureStream(jsm, TELEMETRY_STREAM_DEFINITION);
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string };
  return e?.name === 'StreamNotFoundError' || e?.code === 10059 || /stream not found/i.test(e?.message ?? '');
}
