/**
 * The real back ends of the API's integration tests: nats-server and PostgreSQL on free ports
 * (Temporal is not needed), the migrated schema, the EVENTS streams and the read-model projector.
 */
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
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

/** A registered user as the tests use them: id and access token. */
export interface TestUser {
  readonly userId: string;
  readonly accessToken: string;
}

/**
 * Registers `username` through `POST /api/users/register` (email `<username>@example.com`).
 * @throws when the API does not answer 201 (the body in the message).
 */
export async function registerUser(app: Pick<FastifyInstance, 'inject'>, username: string): Promise<TestUser> {
  const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  if (r.statusCode !== 201) throw new Error(`register ${username}: HTTP ${r.statusCode} ${r.body}`);
  const b = r.json() as { user: { userId: string }; accessToken: string };
  return { userId: b.user.userId, accessToken: b.accessToken };
}

/** The `Authorization` header of `user` (none for null: anonymous). */
export function bearer(user: TestUser | null): Record<string, string> {
  return user ? { authorization: `Bearer ${user.accessToken}` } : {};
}
