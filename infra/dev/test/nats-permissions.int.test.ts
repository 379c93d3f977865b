/**
 * NATS authentication and per-service permissions against a real nats-server 2.9+ started with
 * the generated configuration (`startServices({ natsAuth: true })`: the users and permissions of
 * `@live/messaging` permissions.ts, bcrypt-hashed passwords, no anonymous user).
 *
 * Refusals: anonymous and wrong-password connections; ingest appending `evt.user.*`; api, chat and
 * worker reading `evt.user.*` (consumer, message get, direct get, core subscription, another's
 * inbox, the projector's durable); apps creating, updating, purging or deleting streams. And what
 * each identity needs, with the messaging functions the apps use (the whole apps run with these
 * users in the e2e tests of this folder).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import {
  chatSubject, CHAT_STREAM, domainEvent, EVENTS_STREAM, LEASES_STREAM, publishLeaseSubject, streamEvent, streamSubject, channelSubject,
  systemClock, TELEMETRY_STREAM, uniqueClaimSubject, userNotificationSubject, userSubject, type DomainEvent, type EventOf,
} from '@live/events';
import {
  appendChatMessage, appendEvent, connectMessaging, createLeaseStore, deleteChatMessage, ensureEventStreams, followSubject, isPermissionViolation,
  lastSubjectMessage, openLeaseBucket, runUnderLease, readChatHistory, readEvents, runDurableConsumer, StreamMissingError, subjectHasMessages, type Messaging, type NatsService,
} from '@live/messaging';
import { startServices, type RunningServices } from '../src/services/index.js';
import { waitFor } from '../src/testing.js';

const clock = systemClock;
const silent = pino({ level: process.env.TEST_LOG ?? 'silent' });
let services: RunningServices;
let url: string;
/** One connection per identity, plus the warn lines each one's connectMessaging logged. */
const conns = new Map<NatsService, Messaging>();
const warnings = new Map<NatsService, Array<{ msg: string; subject?: string; operation?: string }>>();

async function as(service: NatsService): Promise<Messaging> {
  const lines: Array<{ msg: string; subject?: string; operation?: string }> = [];
  warnings.set(service, lines);
  const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  const m = await connectMessaging(url, `perm-${service}`, services.natsAuth(service), { logger });
  conns.set(service, m);
  return m;
}
const admin = (): Messaging => conns.get('bootstrap')!;
const count = async (): Promise<number> => (await admin().jsm.streams.info(EVENTS_STREAM)).state.messages;

function userRegistered(userId: string): EventOf<'UserRegistered'> {
  return domainEvent(clock, 'UserRegistered', userSubject(userId), {
    userId, username: userId.replace(/-/g, '_'), email: `${userId}@example.test`, displayName: userId, passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$secret', roles: [],
  }, { producer: 'test' });
}
function publishStarted(channelId: string, sessionId: string): DomainEvent {
  return streamEvent(clock, 'StreamPublishStarted', { channelId, sessionId, ingestNodeId: 'n1', relayUrl: 'http://x/relay/s.flv', app: 'live', source: {} }, { producer: 'test' });
}
/** Resolves with the rejection of `p` (fails the test when it resolves). */
async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal, but the operation succeeded');
}

beforeAll(async () => {
  services = await startServices({ logger: silent, name: 'nats-perm-int', natsAuth: true, external: { temporalAddress: '127.0.0.1:1', databaseUrl: 'postgres://unused@127.0.0.1:1/x', temporalUiUrl: null } });
  url = services.endpoints.natsUrl;
  for (const s of ['bootstrap', 'ingest', 'worker', 'api', 'chat', 'projector', 'cli'] as const) await as(s);
}, 90_000);
afterAll(async () => {
  for (const m of conns.values()) await m.close().catch(() => undefined);
  await services?.stop();
});

describe('authentication', { timeout: 60_000 }, () => {
  it('refuses anonymous connections and wrong passwords (Authorization Violation)', async () => {
    const anon = await refusal(connectMessaging(url, 'anonymous', undefined, { logger: silent }));
    expect((anon as Error).name).toBe('AuthorizationError');
    expect(String((anon as Error).message)).toMatch(/authorization violation/i);
    const wrong = await refusal(connectMessaging(url, 'wrong', { user: 'api', pass: 'not-the-password' }, { logger: silent }));
    expect((wrong as Error).name).toBe('AuthorizationError');
  });

  it('writes the users into a 0600 config file of the data directory', async () => {
    const { statSync, readFileSync } = await import('node:fs');
    const file = `${services.dataDir}/nats.conf`;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('authorization {');
    expect(text).not.toContain('no_auth_user');
    for (const c of Object.values(services.natsCredentials!)) expect(text).not.toContain(c.password);
  });
});

describe('streams: created by the admin, only checked by the apps', { timeout: 60_000 }, () => {
  it('an app cannot create a missing stream (StreamMissingError), the admin can', async () => {
    const err = await refusal(ensureEventStreams(conns.get('ingest')!.jsm, { logger: silent }));
    expect(err).toBeInstanceOf(StreamMissingError);
    expect(await ensureEventStreams(admin().jsm)).toEqual({ EVENTS: 'created', LEASES: 'created', CHAT: 'created', TELEMETRY: 'created', KV_leases: 'created' });
    expect((await admin().jsm.streams.info(EVENTS_STREAM)).config.allow_direct).toBe(true);
    for (const s of ['ingest', 'worker', 'api', 'chat', 'projector'] as const) {
      expect(await ensureEventStreams(conns.get(s)!.jsm, { logger: silent })).toEqual({ EVENTS: 'unchanged', LEASES: 'unchanged', CHAT: 'unchanged', TELEMETRY: 'unchanged', KV_leases: 'unchanged' });
    }
  });

  it('an app cannot update, purge or delete EVENTS: configuration and messages unchanged', async () => {
    await appendEvent(admin().js, publishStarted('keep', 's-keep'));
    const before = await admin().jsm.streams.info(EVENTS_STREAM);
    for (const s of ['ingest', 'worker', 'api', 'chat', 'projector'] as const) {
      const jsm = conns.get(s)!.jsm;
      expect(isPermissionViolation(await refusal(jsm.streams.update(EVENTS_STREAM, { max_msgs_per_subject: 1, subjects: ['evt.>', 'x.>'] }))), `${s} update`).toBe(true);
      expect(isPermissionViolation(await refusal(jsm.streams.purge(EVENTS_STREAM))), `${s} purge`).toBe(true);
      expect(isPermissionViolation(await refusal(jsm.streams.delete(EVENTS_STREAM))), `${s} delete`).toBe(true);
      expect(isPermissionViolation(await refusal(jsm.streams.deleteMessage(EVENTS_STREAM, before.state.last_seq))), `${s} erase`).toBe(true);
    }
    const after = await admin().jsm.streams.info(EVENTS_STREAM);
    expect(after.config).toEqual(before.config);
    expect(after.state.messages).toBe(before.state.messages);
  });

  it('a differing configuration is reported by an app and fixed by the CLI identity', async () => {
    await admin().jsm.streams.update(TELEMETRY_STREAM, { max_msg_size: 1000 });
    const lines: Array<{ msg: string; stream?: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    expect((await ensureEventStreams(conns.get('api')!.jsm, { logger })).TELEMETRY).toBe('differs');
    expect(lines.some((l) => l.stream === TELEMETRY_STREAM && /may not update/.test(l.msg))).toBe(true);
    expect((await ensureEventStreams(conns.get('cli')!.jsm)).TELEMETRY).toBe('updated');
    expect((await admin().jsm.streams.info(TELEMETRY_STREAM)).config.max_msg_size).toBe(4096);
  });
});

describe('ingest appends evt.stream.*, never evt.user.*', { timeout: 60_000 }, () => {
  it('refuses evt.user.x: permission violation reported, one warn line, the stream unchanged', async () => {
    const ingest = conns.get('ingest')!;
    const before = await count();
    const err = await refusal(appendEvent(ingest.js, userRegistered('u-forged'), { timeoutMs: 10_000 }));
    expect(isPermissionViolation(err)).toBe(true);
    await waitFor('the warn line', async () => warnings.get('ingest')!.some((l) => l.subject === 'evt.user.u-forged'), 30_000, 50);
    const line = warnings.get('ingest')!.find((l) => l.subject === 'evt.user.u-forged')!;
    expect(line.operation).toBe('publish');
    expect(line.msg).toContain('NATS permission violation: publish to "evt.user.u-forged" refused (user ingest)');
    // Granting a role is as impossible as registering.
    const grant = domainEvent(clock, 'UserRoleGranted', userSubject('u-victim'), { userId: 'u-victim', role: 'admin', actorUserId: 'u-forged' }, { producer: 'evil' });
    expect(isPermissionViolation(await refusal(appendEvent(ingest.js, grant, { timeoutMs: 10_000 })))).toBe(true);
    // A core publish too (fire and forget): the server drops it.
    ingest.nc.publish(userSubject('u-core'), JSON.stringify(grant));
    await ingest.nc.flush();
    expect(await count()).toBe(before);
  });

  it('appends evt.stream.<id>', async () => {
    const before = await count();
    const r = await appendEvent(conns.get('ingest')!.js, publishStarted('demo', 's-ingest'));
    expect(r.stream).toBe(EVENTS_STREAM);
    expect(await count()).toBe(before + 1);
  });

  it('asks another ingest node for a handover on ingest.handover.<nodeId> and gets its answer (request/reply)', async () => {
    const ingest = conns.get('ingest')!;
    const sub = ingest.nc.subscribe('ingest.handover.node-x', { callback: (_err, msg) => { msg.respond(JSON.stringify({ status: 'live' })); } });
    try {
      const reply = await ingest.nc.request('ingest.handover.node-x', JSON.stringify({ channelId: 'demo', sessionId: 's', requester: 'node-y' }), { timeout: 5000 });
      expect(reply.json()).toEqual({ status: 'live' });
    } finally {
      sub.unsubscribe();
    }
    // Nobody else may answer ingest nodes' handovers.
    expect(isPermissionViolation(await refusal(conns.get('worker')!.nc.request('ingest.handover.node-x', '{}', { timeout: 5000 })))).toBe(true);
  });
});

describe('password-bearing evt.user.* events: only the projector and the CLI read them', { timeout: 90_000 }, () => {
  let userSeq = 0;
  beforeAll(async () => {
    userSeq = (await appendEvent(admin().js, userRegistered('u-secret'))).seq;
  });

  it('api, chat and worker cannot read evt.user.* by a consumer, a message get or a direct get', async () => {
    for (const s of ['api', 'chat', 'worker', 'ingest'] as const) {
      const m = conns.get(s)!;
      expect(isPermissionViolation(await refusal(readEvents(m.js, EVENTS_STREAM, 'evt.user.*'))), `${s} consumer evt.user.*`).toBe(true);
      expect(isPermissionViolation(await refusal(readEvents(m.js, EVENTS_STREAM, 'evt.>'))), `${s} consumer evt.>`).toBe(true);
      expect(isPermissionViolation(await refusal(m.jsm.streams.getMessage(EVENTS_STREAM, { seq: userSeq }))), `${s} message get`).toBe(true);
      expect(isPermissionViolation(await refusal(m.jsm.direct.getMessage(EVENTS_STREAM, { seq: userSeq }))), `${s} direct get`).toBe(true);
      expect(isPermissionViolation(await refusal(lastSubjectMessage(m.jsm, EVENTS_STREAM, userSubject('u-secret')))), `${s} last by subject`).toBe(true);
    }
  });

  it('a consumer whose create subject names an allowed filter but whose config asks for evt.user.* is refused by the server', async () => {
    const ingest = conns.get('ingest')!;
    const r = await ingest.nc.request(`$JS.API.CONSUMER.CREATE.${EVENTS_STREAM}.sneaky.evt.stream.*`, JSON.stringify({
      stream_name: EVENTS_STREAM, config: { name: 'sneaky', filter_subject: 'evt.user.*', ack_policy: 'none', deliver_policy: 'all' },
    }));
    expect(r.json<{ error?: { err_code?: number } }>().error?.err_code).toBe(10131); // filter subject mismatch
  });

  it('no core subscription on evt.user.*, evt.> or another identity\'s inbox: closed with a permission violation, nothing delivered', async () => {
    for (const s of ['api', 'chat', 'worker', 'ingest'] as const) {
      const m = conns.get(s)!;
      for (const subject of ['evt.user.*', 'evt.>', '>', '_INBOX_projector.>', '_INBOX.>']) {
        const got: string[] = [];
        const sub = m.nc.subscribe(subject, { callback: (e, msg) => { if (!e && msg) got.push(msg.subject); } });
        const closed = await sub.closed;
        expect(isPermissionViolation(closed), `${s} ${subject}`).toBe(true);
        await appendEvent(admin().js, userRegistered(`u-${s}-${got.length}-${Date.now()}`));
        await m.nc.flush();
        expect(got).toEqual([]);
      }
    }
  });

  it('nobody else pulls from the projector\'s durable', async () => {
    const projector = conns.get('projector')!;
    const handled: string[] = [];
    const c = await runDurableConsumer(projector.js, projector.jsm, {
      stream: EVENTS_STREAM, durable: 'projector-readmodels', filterSubject: 'evt.>', logger: silent,
      handle: async (e) => { handled.push(e.type); },
    });
    await c.stop();
    const pull = JSON.stringify({ batch: 1, expires: 1_000_000_000 });
    for (const s of ['ingest', 'api', 'chat', 'worker'] as const) {
      expect(isPermissionViolation(await refusal(conns.get(s)!.nc.request(`$JS.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.projector-readmodels`, pull, { timeout: 10_000 }))), s).toBe(true);
      expect(isPermissionViolation(await refusal(conns.get(s)!.jsm.consumers.delete(EVENTS_STREAM, 'projector-readmodels'))), `${s} delete`).toBe(true);
    }
  });

  it('the projector and the CLI read them', async () => {
    for (const s of ['projector', 'cli'] as const) {
      const events = await readEvents(conns.get(s)!.js, EVENTS_STREAM, 'evt.user.*');
      expect(events.find((e) => e.seq === userSeq)?.event.type, s).toBe('UserRegistered');
    }
  });
});

describe('each identity can do what it needs', { timeout: 90_000 }, () => {
  it('worker: the lifecycle durable receives the ingest\'s evt.stream events; appends evt.stream.*', async () => {
    const worker = conns.get('worker')!;
    const seen: string[] = [];
    const c = await runDurableConsumer(worker.js, worker.jsm, {
      stream: EVENTS_STREAM, durable: 'lifecycle', filterSubject: 'evt.stream.*', logger: silent,
      handle: async (e) => { seen.push(e.id); },
    });
    const e = publishStarted('wk', 's-wk');
    await appendEvent(conns.get('ingest')!.js, e);
    await waitFor('the lifecycle consumer', async () => seen.includes(e.id), 30_000, 50);
    await c.stop();
    // Acks are asynchronous: the server has it once num_ack_pending drops to 0.
    await waitFor('the ack', async () => (await worker.jsm.consumers.info(EVENTS_STREAM, 'lifecycle')).num_ack_pending === 0, 30_000, 50);
    expect((await worker.jsm.consumers.info(EVENTS_STREAM, 'lifecycle')).num_ack_pending).toBe(0);
    await appendEvent(worker.js, streamEvent(clock, 'StreamFailed', { channelId: 'wk', sessionId: 's-wk', stage: 'transcode', reason: 'test' }, { producer: 'worker' }));
  });

  it('ingest: follows evt.channel.* and evt.stream.*, holds the publish lease', async () => {
    const ingest = conns.get('ingest')!;
    const got: string[] = [];
    const followers = await Promise.all(['evt.channel.*', 'evt.stream.*'].map((filter) =>
      followSubject(ingest, { stream: EVENTS_STREAM, filter, from: 'end', logger: silent, onMessage: (m) => got.push(m.subject) })));
    await appendEvent(admin().js, domainEvent(clock, 'StreamKeyRevoked', channelSubject('ing'), { channelId: 'ing', keyId: 'k1', actorUserId: null }, { producer: 'test' }));
    await appendEvent(ingest.js, publishStarted('ing', 's-ing'));
    await waitFor('both followers', async () => got.includes('evt.channel.ing') && got.includes('evt.stream.ing'), 30_000, 50);
    await Promise.all(followers.map((f) => f.close()));
    const leases = createLeaseStore(ingest, { logger: silent });
    expect(await leases.acquire(publishLeaseSubject('ing'), 'node-a')).toBe(true);
    expect(await leases.acquire(publishLeaseSubject('ing'), 'node-b')).toBe(false);
    await leases.close();
    expect(isPermissionViolation(await refusal(createLeaseStore(ingest, { logger: silent }).acquire('lease.presence.viewers', 'x')))).toBe(true);
  });

  it('api: accounts with guarded appends, claims read back by direct get, chat, beacons, notifications', async () => {
    const api = conns.get('api')!;
    const warned = warnings.get('api')!.length;
    const claim = uniqueClaimSubject('username', 'abcdef0123456789abcd');
    const c = await appendEvent(api.js, domainEvent(clock, 'UniqueValueClaimed', claim, { kind: 'username', value: 'alice', userId: 'u-alice' }, { producer: 'api' }), { expectedLastSubjectSequence: 0 });
    const last = await lastSubjectMessage(api.jsm, EVENTS_STREAM, claim);
    expect(last?.seq).toBe(c.seq);
    expect((last?.body as { type?: string }).type).toBe('UniqueValueClaimed');
    expect(await lastSubjectMessage(api.jsm, EVENTS_STREAM, uniqueClaimSubject('email', 'ffffffffffffffff0000'))).toBeNull();
    expect(await subjectHasMessages(api.jsm, EVENTS_STREAM, userSubject('u-alice'))).toBe(false);
    await appendEvent(api.js, userRegistered('u-alice'), { expectedLastSubjectSequence: 0 });
    expect(await subjectHasMessages(api.jsm, EVENTS_STREAM, userSubject('u-alice'))).toBe(true);
    await appendEvent(api.js, domainEvent(clock, 'UserRoleGranted', userSubject('u-alice'), { userId: 'u-alice', role: 'admin', actorUserId: 'u-root' }, { producer: 'api' }));
    // Chat: a message, the history, a deletion (secure erase), the message read by sequence.
    const msg = domainEvent(clock, 'ChatMessageAccepted', chatSubject('room1'), { channelId: 'room1', userId: 'u-alice', username: 'alice', kind: 'message', text: 'hi', sessionId: null }, { producer: 'api' });
    const stored = await appendChatMessage(api, msg);
    expect((await readChatHistory(api, 'room1')).map((l) => l.id)).toEqual([msg.id]);
    expect((await api.jsm.streams.getMessage(CHAT_STREAM, { seq: stored.seq }))?.seq).toBe(stored.seq);
    await deleteChatMessage(api, domainEvent(clock, 'ChatMessageDeleted', channelSubject('room1'), { channelId: 'room1', messageId: msg.id, messageSeq: stored.seq, authorUserId: 'u-alice', actorUserId: 'u-alice', reason: 'test' }, { producer: 'api' }));
    expect(await readChatHistory(api, 'room1')).toEqual([]);
    await api.js.publish('tel.room1', JSON.stringify({ beacon: 1 }), { msgID: 'b-1' });
    // Live notifications pushed by the projector.
    const got: string[] = [];
    const sub = api.nc.subscribe(userNotificationSubject('u-alice'), { callback: (_e, m) => { if (m) got.push(m.string()); } });
    await api.nc.flush();
    conns.get('projector')!.nc.publish(userNotificationSubject('u-alice'), 'live!');
    await waitFor('the notification', async () => got.includes('live!'), 30_000, 50);
    sub.unsubscribe();
    expect(warnings.get('api')!.slice(warned)).toEqual([]);
  });

  it('chat: room history follower, messages and erasure, moderation events, presence, rule changes over core NATS', async () => {
    const chat = conns.get('chat')!;
    const warned = warnings.get('chat')!.length;
    const lines: number[] = [];
    const follower = await followSubject(chat, { stream: CHAT_STREAM, filter: chatSubject('room2'), from: 1, logger: silent, onMessage: (m) => lines.push(m.seq) });
    const core: string[] = [];
    const subs = [channelSubject('room2'), streamSubject('room2'), 'evt.platform.chat'].map((s) => chat.nc.subscribe(s, { callback: (_e, m) => { if (m) core.push(m.subject); } }));
    await chat.nc.flush();
    const msg = domainEvent(clock, 'ChatMessageAccepted', chatSubject('room2'), { channelId: 'room2', userId: 'u-b', username: 'b', kind: 'message', text: 'yo', sessionId: null }, { producer: 'chat' });
    const stored = await appendChatMessage(chat, msg);
    await waitFor('the follower', async () => lines.includes(stored.seq), 30_000, 50);
    await deleteChatMessage(chat, domainEvent(clock, 'ChatMessageDeleted', channelSubject('room2'), { channelId: 'room2', messageId: msg.id, messageSeq: stored.seq, authorUserId: 'u-b', actorUserId: 'u-mod', reason: 'spam' }, { producer: 'chat' }));
    await appendEvent(admin().js, publishStarted('room2', 's-room2'));
    await appendEvent(admin().js, domainEvent(clock, 'ChatBannedTermsSet', 'evt.platform.chat', { channelId: '', terms: [{ pattern: 'xyz', action: 'block' }], actorUserId: 'u-root' }, { producer: 'api' }));
    await waitFor('the core events', async () => core.includes('evt.channel.room2') && core.includes('evt.stream.room2') && core.includes('evt.platform.chat'), 30_000, 50);
    expect((await chat.jsm.streams.info(EVENTS_STREAM)).state.last_seq).toBeGreaterThan(0);
    chat.nc.publish('presence.chat.gw-1', JSON.stringify({ gatewayId: 'gw-1', rooms: {}, at: Date.now() }));
    await chat.nc.flush();
    for (const s of subs) s.unsubscribe();
    await follower.close();
    expect(warnings.get('chat')!.slice(warned)).toEqual([]);
  });

  it('projector: every event with acks (EVENTS, TELEMETRY, CHAT), the presence lease, viewer counts, presence reports', async () => {
    const projector = conns.get('projector')!;
    const seen = new Map<string, number>();
    const consumers = await Promise.all([
      [EVENTS_STREAM, 'evt.>'], [CHAT_STREAM, 'chat.*'],
    ].map(([stream, filter]) => runDurableConsumer(projector.js, projector.jsm, {
      stream: stream!, durable: `perm-${stream!.toLowerCase()}`, filterSubject: filter!, logger: silent,
      handle: async (e) => { seen.set(e.type, (seen.get(e.type) ?? 0) + 1); },
    })));
    await waitFor('the password-bearing and chat events', async () => (seen.get('UserRegistered') ?? 0) > 0 && (seen.get('ChatMessageDeleted') ?? 0) > 0, 30_000, 100);
    for (const c of consumers) await c.stop();
    // Acks are asynchronous: wait until the server has them.
    await waitFor('the acks', async () => (await projector.jsm.consumers.info(EVENTS_STREAM, `perm-${EVENTS_STREAM.toLowerCase()}`)).num_ack_pending === 0, 30_000, 50);
    expect((await projector.jsm.consumers.info(EVENTS_STREAM, `perm-${EVENTS_STREAM.toLowerCase()}`)).num_ack_pending).toBe(0);
    const tel = await projector.js.consumers.get(TELEMETRY_STREAM, { filter_subjects: 'tel.*' });
    expect((await tel.info(true)).num_pending).toBeGreaterThan(0);
    const presence: string[] = [];
    const sub = projector.nc.subscribe('presence.chat.*', { callback: (_e, m) => { if (m) presence.push(m.subject); } });
    await projector.nc.flush();
    conns.get('chat')!.nc.publish('presence.chat.gw-2', '{}');
    await waitFor('a presence report', async () => presence.includes('presence.chat.gw-2'), 30_000, 50);
    sub.unsubscribe();
    // A projection lease in the KV bucket: claim, renew, watch, release.
    const bucket = await openLeaseBucket(projector.js, projector.jsm);
    let started = 0;
    const lease = runUnderLease({ kv: bucket.kv, key: 'projector.perm-test', holder: 'p1', ttlMs: bucket.ttlMs, logger: silent, onAcquired: async () => { started++; return { stop: async () => undefined }; } });
    await waitFor('the lease', async () => lease.isHolder(), 30_000, 20);
    await lease.stop();
    expect(started).toBe(1);
    expect(await bucket.kv.get('projector.perm-test').then((e) => e?.operation)).toBe('DEL');
    await appendEvent(projector.js, domainEvent(clock, 'ChannelViewersCounted', channelSubject('room2'), { channelId: 'room2', viewers: 3 }, { producer: 'projector' }));
    expect(isPermissionViolation(await refusal(appendEvent(projector.js, userRegistered('u-from-projector'), { timeoutMs: 10_000 })))).toBe(true);
    expect((await admin().jsm.streams.info(LEASES_STREAM)).state.messages).toBeGreaterThan(0);
  });
});
