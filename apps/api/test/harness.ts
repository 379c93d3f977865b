/**
 * The real back ends of the API's integration tests: nats-server and PostgreSQL on free ports
 * (Temporal is not needed), the migrated schema, the EVENTS streams and the read-model projector.
 */
import type { Logger } from 'pino';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, type Messaging, type RunningConsumer } from '@live/messaging';
import { startProjector } from '@live/projector';

/**
 * Running back ends; `stop()` stops the projector, closes the clients and stops the servers.
 * `projector` may be replaced by a test that stops and restarts it.
 */
export interface Backends {
  readonly services: RunningServices;
  readonly db: Db;
  readonly messaging: Messaging;
  projector: RunningConsumer;
  stop(): Promise<void>;
}

/**
 * Starts the back ends for one test file.
 * @param name distinguishes the data directory, the NATS connection and the projector's durable.
 * @param poolSize PostgreSQL pool size of the test's `db`.
 */
export async function startBackends(name: string, logger: Logger, poolSize = 6): Promise<Backends> {
  // NATS with the platform's users: the test (and the API it builds) connects as the admin, the
  // projector as its own identity.
  const services = await startServices({ logger, name, natsAuth: true, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const db = createDb(services.endpoints.databaseUrl, poolSize);
  await migrateToLatest(db);
  const messaging = await connectMessaging(services.endpoints.natsUrl, name, services.natsAuth('bootstrap'));
  await ensureEventStreams(messaging.jsm);
  const projectorMessaging = await connectMessaging(services.endpoints.natsUrl, `${name}-projector`, services.natsAuth('projector'));
  const backends: Backends = {
    services, db, messaging,
    projector: await startProjector({ db, messaging: projectorMessaging, logger, durable: `${name}-projector` }),
    async stop() {
      await backends.projector.stop();
      await projectorMessaging.close();
      await messaging.close();
      await db.destroy();
      await services.stop();
    },
  };
  return backends;
}
