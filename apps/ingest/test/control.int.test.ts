/**
 * The ingest node against a real nats-server (JetStream) and PostgreSQL, with real ffmpeg
 * publishers: stream-key refusals (address allow-list, expiry) and the control listener (a
 * revoked or rotated key, or a stop request, disconnects the live publisher and the log records
 * StreamPublishEnded with reason `kicked`). The kick is checked by the order of what happens (the
 * control event, the node's kick, the publisher's disconnect, StreamPublishEnded after the
 * control event in the log), not by how many milliseconds it took.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { randomBytes, randomUUID } from 'node:crypto';
import { startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor, type Publisher } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, hashStreamKey, migrateToLatest, type Db } from '@live/db';
import { appendEvent, connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { channelSubject, domainEvent, EVENTS_STREAM, streamEvent, streamSubject, systemClock, type DomainEvent, type EventOf } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';
import { captureLogger, type LogLine } from './helpers/log.js';
import { within } from './helpers/within.js';

let services: RunningServices;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
let lines: LogLine[];
const publishers = new Set<Publisher>();
const PATTERN = { seconds: 60, width: 320, height: 180, fps: 15, videoKbps: 200 };
/** Give-up bound of the waits for a kick's consequences (far above what it takes; not asserted). */
const KICK_WAIT_MS = 30_000;

beforeAll(async () => {
  const silent = pino({ level: 'silent' });
  services = await startServices({ logger: silent, name: 'ingest-control-int', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'ingest-control-test');
  await ensureEventStreams(messaging.jsm);
  const log = captureLogger();
  lines = log.lines;
  node = await startIngestNode({
    db, messaging, logger: log.logger, nodeId: 'ingest-ctl', rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'),
  });
}, 120_000);

afterEach(() => {
  for (const p of publishers) p.child.kill('SIGKILL');
  publishers.clear();
});

afterAll(async () => {
  await node?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
}, 60_000);

/** A channel with one active key; returns the channel id, the key and its `stream_keys.id`. */
async function channelWithKey(slug: string): Promise<{ channelId: string; key: string; keyId: string }> {
  const key = generateStreamKey();
  const channelId = await ensureChannelWithKey(db, { slug, displayName: slug, title: '' }, key);
  const row = await db.selectFrom('stream_keys').select('id').where('key_hash', '=', hashStreamKey(key)).executeTakeFirstOrThrow();
  return { channelId, key, keyId: row.id };
}

function publish(key: string, o: Partial<typeof PATTERN> = {}): Publisher {
  const p = publishTestPattern(`rtmp://127.0.0.1:${node.rtmpAddress.port}/live/${key}`, { ...PATTERN, ...o });
  publishers.add(p);
  return p;
}

async function streamEvents(channelId: string): Promise<DomainEvent[]> {
  return (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);
}

async function waitStarted(channelId: string, count = 1): Promise<EventOf<'StreamPublishStarted'>> {
  return waitFor(`StreamPublishStarted #${count} of ${channelId}`, async () => {
    const started = (await streamEvents(channelId)).filter((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted');
    return started.length >= count ? started[count - 1] : undefined;
  }, 20_000, 250);
}

/**
 * Appends `event` while `p` publishes session `sessionId` of `channelId`, and checks that the
 * publisher's connection ended as a consequence: the node logged the kick of that session for
 * that event before ffmpeg exited (non-zero: it was disconnected, not done), and the session's
 * StreamPublishEnded (reason `kicked`) comes after the control event in the EVENTS stream.
 * The waits are for those events; their bound is only where the test gives up.
 */
async function expectKick(p: Publisher, event: DomainEvent, channelId: string, sessionId: string): Promise<void> {
  expect(p.child.exitCode, 'the publisher is still live when the control event is appended').toBeNull();
  const from = lines.length;
  const appended = await appendEvent(messaging.js, event);
  const exit = await within(p.done, `the publisher of ${sessionId} to be disconnected after ${event.type}`, KICK_WAIT_MS);
  const linesAtExit = lines.length;
  expect(exit.code, exit.stderr).not.toBe(0);
  const kick = lines.findIndex((l, i) => i >= from && l.msg === 'kicked session on control event' && l.sessionId === sessionId);
  expect(kick, 'the node logged the kick of the session').toBeGreaterThanOrEqual(0);
  expect(kick, 'the kick was logged before the publisher exited').toBeLessThan(linesAtExit);
  expect(lines[kick]).toMatchObject({ eventId: event.id, eventType: event.type, streamId: channelId });

  const ended = await waitFor(`StreamPublishEnded of ${sessionId}`, async () =>
    (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId)))
      .find((e) => e.event.type === 'StreamPublishEnded' && (e.event as EventOf<'StreamPublishEnded'>).data.sessionId === sessionId), KICK_WAIT_MS, 200);
  expect(ended.seq, 'StreamPublishEnded follows the control event').toBeGreaterThan(appended.seq);
  expect((ended.event as EventOf<'StreamPublishEnded'>).data.reason).toBe('kicked');
}

async function kicksMetric(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`);
  return (await r.text()).split('\n').filter((l) => l.startsWith('ingest_kicks_total{')).join('\n');
}

const revoked = (channelId: string, keyId: string) =>
  domainEvent(systemClock, 'StreamKeyRevoked', channelSubject(channelId), { channelId, keyId, actorUserId: 'owner-1' }, { producer: 'test' });

describe('control listener', () => {
  it('(a) StreamKeyRevoked disconnects the publisher of that key; StreamPublishEnded follows it and says kicked; the key is refused at once', { timeout: 120_000 }, async () => {
    const { channelId, key, keyId } = await channelWithKey('ctl-revoke');
    const p = publish(key);
    const started = await waitStarted(channelId);

    await expectKick(p, revoked(channelId, keyId), channelId, started.data.sessionId);
    expect(lines.find((l) => l.msg === 'kicked session on control event' && l.sessionId === started.data.sessionId))
      .toMatchObject({ reason: 'stream key revoked', streamId: channelId, eventType: 'StreamKeyRevoked' });
    expect(await kicksMetric()).toContain('ingest_kicks_total{reason="key_revoked"} 1');

    // The read model still says `active` (no projector here): the node's deny list refuses the key anyway.
    const again = publish(key, { seconds: 5 });
    const refused = await again.done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/revoked/);
    expect((await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted')).toHaveLength(1);
  });

  it('(b) StreamKeyRotated kicks the publisher of the old key; a reconnect with the old key is refused once its row is revoked', { timeout: 120_000 }, async () => {
    const { channelId, key, keyId } = await channelWithKey('ctl-rotate');
    const p = publish(key);
    const started = await waitStarted(channelId);

    const newKey = generateStreamKey();
    const newKeyId = randomUUID();
    await expectKick(p, domainEvent(systemClock, 'StreamKeyRotated', channelSubject(channelId), {
      channelId, oldKeyId: keyId, keyId: newKeyId, keyHash: hashStreamKey(newKey), keyLast4: newKey.slice(-4), label: 'OBS', expiresAt: null, allowedCidrs: [], actorUserId: 'owner-1',
    }, { producer: 'test' }), channelId, started.data.sessionId);
    expect(lines.find((l) => l.msg === 'kicked session on control event' && l.sessionId === started.data.sessionId)).toMatchObject({ reason: 'stream key rotated' });

    // What the projector does with StreamKeyRotated, done by hand: old key revoked, new key active.
    await db.updateTable('stream_keys').set({ status: 'revoked', revoked_at: new Date(), replaced_by: newKeyId }).where('id', '=', keyId).execute();
    await db.insertInto('stream_keys').values({ id: newKeyId, channel_id: channelId, key_hash: hashStreamKey(newKey), key_last4: newKey.slice(-4), status: 'active', expires_at: null, label: 'OBS' }).execute();
    const old = await publish(key, { seconds: 5 }).done;
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/revoked|rotated/);

    const fresh = publish(newKey, { seconds: 2 });
    expect((await fresh.done).code).toBe(0);
    expect((await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted')).toHaveLength(2);
  });

  it('(c) StreamStopRequested kicks the session it names; events for another key or session kick nothing', { timeout: 120_000 }, async () => {
    const { channelId, key } = await channelWithKey('ctl-stop');
    const other = await channelWithKey('ctl-stop-other');
    const p = publish(key);
    const started = await waitStarted(channelId);
    const before = await kicksMetric();

    const irrelevant = [
      revoked(other.channelId, other.keyId),
      streamEvent(systemClock, 'StreamStopRequested', { channelId, sessionId: randomUUID(), actorUserId: 'mod-1' }, { producer: 'test' }),
    ];
    for (const e of irrelevant) await appendEvent(messaging.js, e);
    // Wait until the control listener has handled both (its debug line per event), not for a fixed time.
    const handled = await waitFor('the control listener to handle both events', async () => {
      const seen = irrelevant.map((e) => lines.find((l) => l.msg === 'control event' && l.eventId === e.id));
      return seen.every((l) => l !== undefined) ? seen : undefined;
    }, 15_000, 50);
    expect(handled.map((l) => l!.kicks)).toEqual([0, 0]);
    expect(p.child.exitCode).toBeNull();
    expect((await streamEvents(channelId)).filter((e) => e.type === 'StreamPublishEnded')).toHaveLength(0);
    expect(await kicksMetric()).toBe(before);

    await expectKick(p, streamEvent(systemClock, 'StreamStopRequested', { channelId, sessionId: started.data.sessionId, actorUserId: 'mod-1' }, { producer: 'test' }), channelId, started.data.sessionId);
    expect(lines.find((l) => l.msg === 'publish ended' && l.sessionId === started.data.sessionId)).toMatchObject({ reason: 'kicked', detail: 'stopped by mod-1' });
    expect(await kicksMetric()).toContain('ingest_kicks_total{reason="stop_requested"} 1');
  });

  it('(f) recreates its consumer when it is deleted on the server, and still kicks on the next revocation', { timeout: 120_000 }, async () => {
    const controlConsumers = async (): Promise<string[]> => {
      const names: string[] = [];
      for await (const ci of messaging.jsm.consumers.list(EVENTS_STREAM)) if (ci.config.filter_subject === 'evt.channel.*') names.push(ci.name);
      return names;
    };
    const before = await controlConsumers();
    expect(before).toHaveLength(1);
    await messaging.jsm.consumers.delete(EVENTS_STREAM, before[0]!);
    const after = await waitFor('a new evt.channel.* consumer', async () => {
      const names = await controlConsumers();
      return names.length === 1 && names[0] !== before[0] ? names : undefined;
    }, 15_000, 200);
    expect(after).toHaveLength(1);

    const { channelId, key, keyId } = await channelWithKey('ctl-recreate');
    const p = publish(key);
    const started = await waitStarted(channelId);
    await expectKick(p, revoked(channelId, keyId), channelId, started.data.sessionId);
  });
});

describe('stream key refusals', () => {
  it('(d) a key allowed only from 10.0.0.0/8 is refused from 127.0.0.1 (Denied, nothing appended); 127.0.0.0/8 is accepted', { timeout: 60_000 }, async () => {
    const { channelId, key } = await channelWithKey('ctl-cidr');
    await db.updateTable('stream_keys').set({ allowed_cidrs: ['10.0.0.0/8', 'not-a-cidr'] }).where('key_hash', '=', hashStreamKey(key)).execute();
    const refused = await publish(key, { seconds: 5 }).done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not allowed/);
    const line = lines.find((l) => l.msg === 'stream key refused' && l.code === 'ADDRESS_NOT_ALLOWED');
    expect(line).toMatchObject({ streamKey: `********${key.slice(-4)}`, remoteAddress: expect.stringContaining('127.0.0.1') });
    expect(JSON.stringify(lines)).not.toContain(key);
    expect(lines.find((l) => l.msg === 'publish refused' && l.code === 'ADDRESS_NOT_ALLOWED')).toBeDefined();
    expect(await streamEvents(channelId)).toEqual([]);

    await db.updateTable('stream_keys').set({ allowed_cidrs: ['10.0.0.0/8', '127.0.0.0/8'] }).where('key_hash', '=', hashStreamKey(key)).execute();
    const accepted = await publish(key, { seconds: 2 }).done;
    expect(accepted.code).toBe(0);
    expect((await streamEvents(channelId)).map((e) => e.type).filter((t) => t !== 'StreamIngestHealthReported')).toEqual(['StreamPublishStarted', 'StreamPublishEnded']);
  });

  it('(e) an expired key is refused (Denied) and nothing is appended', { timeout: 30_000 }, async () => {
    const { channelId, key } = await channelWithKey('ctl-expired');
    await db.updateTable('stream_keys').set({ expires_at: new Date(Date.now() - 60_000) }).where('key_hash', '=', hashStreamKey(key)).execute();
    const refused = await publish(key, { seconds: 5 }).done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/expired/);
    expect(lines.find((l) => l.msg === 'publish refused' && l.code === 'STREAM_KEY_EXPIRED')).toBeDefined();
    expect(await streamEvents(channelId)).toEqual([]);
  });
});
