/** One ingest node on its own nats-server and PostgreSQL, as the ingest integration tests start it. */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, type Messaging } from '@live/messaging';
import { startIngestNode, type IngestNode, type IngestNodeOptions } from '../../src/node.js';
import { captureLogger, type LogLine } from './log.js';

/** A started node and what it runs on; {@link TestNode.stop} closes them all. */
export interface TestNode {
  readonly services: RunningServices;
  readonly db: Db;
  readonly messaging: Messaging;
  readonly node: IngestNode;
  /** The node's log lines (captured). */
  readonly lines: LogLine[];
  stop(): Promise<void>;
}

/**
 * Starts nats-server and PostgreSQL (no Temporal) named `name`, migrates, creates the event
 * streams, and starts an ingest node `ingest-<name>` on loopback with free ports and `extra`
 * options (SRT, WHIP, limits…).
 */
export async function startTestNode(name: string, extra: Partial<IngestNodeOptions> = {}): Promise<TestNode> {
  const services = await startServices({ logger: pino({ level: 'silent' }), name: `ingest-${name}-int`, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  const messaging = await connectMessaging(services.endpoints.natsUrl, `ingest-${name}-test`);
  await ensureEventStreams(messaging.jsm);
  const log = captureLogger();
  const node = await startIngestNode({
    db, messaging, logger: log.logger, nodeId: `ingest-${name}`, rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'), ...extra,
  });
  return {
    services, db, messaging, node, lines: log.lines,
    async stop() {
      await node.close();
      await messaging.close();
      await db.destroy();
      await services.stop();
    },
  };
}
