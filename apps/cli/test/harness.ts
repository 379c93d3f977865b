/**
 * Real back ends of the CLI's integration tests: nats-server and PostgreSQL on free ports (no
 * Temporal), the migrated schema, the JetStream streams and the live read-model projector, and
 * helpers to write history into the log the way the apps do.
 */
import type { Logger } from 'pino';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, migrateToLatest, waitForProjection, type Db } from '@live/db';
import {
  channelSubject, domainEvent, streamEvent, systemClock, userSubject, type DomainEvent,
} from '@live/events';
import { appendEvent, connectMessaging, ensureEventStreams, type Messaging, type RunningConsumer } from '@live/messaging';
import { startProjector } from '@live/projector';

/** Running back ends; `stop()` stops the projector, closes the clients and stops the servers. */
export interface Backends {
  readonly services: RunningServices;
  readonly db: Db;
  readonly messaging: Messaging;
  readonly projector: RunningConsumer;
  /** Appends events in order and waits until the live projector has applied the last one. */
  append(...events: DomainEvent[]): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the back ends for one test file.
 * @param name distinguishes the data directory, the NATS connection and the projector's durable.
 */
export async function startBackends(name: string, logger: Logger): Promise<Backends> {
  const services = await startServices({ logger, name, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const db = createDb(services.endpoints.databaseUrl, 6);
  await migrateToLatest(db);
  const messaging = await connectMessaging(services.endpoints.natsUrl, name);
  await ensureEventStreams(messaging.jsm);
  const projector = await startProjector({ db, messaging, logger, durable: `${name}-projector` });
  return {
    services, db, messaging, projector,
    async append(...events) {
      let seq = 0;
      for (const e of events) seq = (await appendEvent(messaging.js, e)).seq;
      if (!(await waitForProjection(db, seq, 15_000))) throw new Error(`the projector did not reach sequence ${seq}`);
      return seq;
    },
    async stop() {
      await projector.stop();
      await messaging.close();
      await db.destroy();
      await services.stop();
    },
  };
}

const producer = 'cli-test';

/** The events of a user registering (`evt.user.<id>`). */
export function userRegistered(userId: string, username: string): DomainEvent {
  return domainEvent(systemClock, 'UserRegistered', userSubject(userId), {
    userId, username, email: `${username.toLowerCase()}@example.com`, displayName: username,
    passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$${username}`, roles: [],
  }, { producer });
}

/** A channel with an owner, metadata and a stream key (`evt.channel.<id>`). */
export function channelEvents(channelId: string, ownerUserId: string): DomainEvent[] {
  const subject = channelSubject(channelId);
  return [
    domainEvent(systemClock, 'ChannelCreated', subject, { channelId, ownerUserId, displayName: `${channelId} plays` }, { producer }),
    domainEvent(systemClock, 'ChannelMetadataUpdated', subject, { channelId, title: `Speedrun of ${channelId}`, category: 'gaming', tags: ['speedrun'], language: 'en', mature: false }, { producer }),
    domainEvent(systemClock, 'StreamKeyIssued', subject, {
      channelId, keyId: `key-${channelId}`, keyHash: `${'ab'.repeat(31)}${channelId.length.toString(16).padStart(2, '0')}`, keyLast4: 'wxyz', label: 'OBS',
      expiresAt: null, allowedCidrs: [], actorUserId: ownerUserId,
    }, { producer }),
  ];
}

/** `userId` follows `channelId` (`evt.user.<userId>`, as the API writes it). */
export function followed(userId: string, channelId: string): DomainEvent {
  return domainEvent(systemClock, 'ChannelFollowed', userSubject(userId), { userId, channelId }, { producer });
}

/** A whole broadcast session on `evt.stream.<channelId>`: publish start, renditions ready, end. */
export function broadcast(channelId: string, sessionId: string): DomainEvent[] {
  return [
    streamEvent(systemClock, 'StreamPublishStarted', {
      channelId, sessionId, ingestNodeId: 'ingest-a', relayUrl: `http://127.0.0.1:9/relay/${sessionId}.flv`, app: 'live',
      source: { video: { codec: 'h264', width: 1280, height: 720, frameRate: 30 }, audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } },
    }, { producer: 'ingest:ingest-a' }),
    streamEvent(systemClock, 'RenditionsReady', {
      channelId, sessionId, masterPlaylistKey: `live/${channelId}/master.m3u8`,
      renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', passthrough: true }],
    }, { producer: 'worker:w1' }),
    streamEvent(systemClock, 'StreamPublishEnded', { channelId, sessionId, reason: 'unpublished', bytesReceived: 1_000_000, durationMs: 60_000 }, { producer: 'ingest:ingest-a' }),
  ];
}
