/**
 * Two chat gateway processes against a real nats-server and PostgreSQL: cross-gateway delivery
 * in one order exactly once, history on join, resume after a SIGKILL, rate limit and slow mode,
 * bans across gateways, deletion reaching history, presence, and bad input.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import pino from 'pino';
import { CHAT_STREAM, channelSubject, domainEvent, streamEvent, systemClock, userSubject, type ChatServerFrame } from '@live/events';
import { appendEvent, readChatHistory } from '@live/messaging';
import { loadChatSettings, waitForProjection } from '@live/db';
import { ChatClient, createChannel, registerUsers, spawnGateway, startChatBackends, tokenFor, type ChatBackends, type GatewayProcess } from './harness.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let b: ChatBackends;
let gwA: GatewayProcess;
let gwB: GatewayProcess;
const OWNER = 'owner-1';
const MOD = 'mod-1';
const open: ChatClient[] = [];

async function connect(gw: GatewayProcess, room: string, userId?: string, after?: number): Promise<ChatClient> {
  const c = await ChatClient.connect(gw.url, room, { ...(userId ? { token: await tokenFor(userId) } : {}), ...(after !== undefined ? { after } : {}) });
  open.push(c);
  return c;
}

const isMessage = (f: ChatServerFrame): f is Extract<ChatServerFrame, { type: 'message' }> => f.type === 'message';

beforeAll(async () => {
  b = await startChatBackends('chat-int', logger);
  await createChannel(b, 'room1', OWNER, [MOD]);
  await createChannel(b, 'room2', OWNER, [MOD]);
  await createChannel(b, 'room3', OWNER, [MOD]);
  await createChannel(b, 'room4', OWNER, [MOD]);
  [gwA, gwB] = await Promise.all([spawnGateway(b, 'gw-a', logger), spawnGateway(b, 'gw-b', logger)]);
}, 120_000);

afterAll(async () => {
  for (const c of open) c.close();
  await gwA?.stop();
  await gwB?.stop();
  await b?.stop();
}, 60_000);

describe('two gateways, one room', () => {
  it('delivers every message exactly once to every member of both gateways, in one order', async () => {
    const members = [
      await connect(gwA, 'room1'), await connect(gwA, 'room1', 'viewer-a'),
      await connect(gwB, 'room1'), await connect(gwB, 'room1', 'viewer-b'),
    ];
    const alice = await connect(gwA, 'room1', 'alice');
    const bob = await connect(gwB, 'room1', 'bob');
    const acks = await Promise.all(Array.from({ length: 15 }, (_, i) => [
      alice.request({ type: 'message', text: `alice ${i}` }),
      bob.request({ type: 'message', text: `bob ${i}` }),
    ]).flat());
    for (const a of acks) expect(a).toMatchObject({ type: 'ack', status: 'accepted' });
    const sent = new Set(acks.map((a) => (a as { id: string }).id));
    for (const m of [...members, alice, bob]) {
      await m.waitFor(() => m.lines().filter((l) => sent.has(l.id)).length >= 30, 10_000);
    }
    // A later message reaching everyone fences the check: each gateway delivers in stream order,
    // so a duplicate of anything before it would have arrived before it.
    await fence([...members, alice, bob], alice);
    const orders = [...members, alice, bob].map((m) => m.lines().filter((l) => sent.has(l.id)).map((l) => l.id));
    for (const order of orders) {
      expect(order).toHaveLength(30); // exactly once
      expect(new Set(order).size).toBe(30);
      expect(order).toEqual(orders[0]); // one order everywhere
    }
    const seqs = members[0]!.lines().filter((l) => sent.has(l.id)).map((l) => l.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    // each sender's own messages keep their sending order
    const aliceTexts = members[2]!.lines().filter((l) => l.userId === 'alice' && sent.has(l.id)).map((l) => l.text);
    expect(aliceTexts).toEqual(Array.from({ length: 15 }, (_, i) => `alice ${i}`));
  }, 60_000);

  it('sends the last 50 messages on join and everything after a cursor on resume', async () => {
    const stored = await readChatHistory(b.messaging, 'room1');
    expect(stored.length).toBeGreaterThanOrEqual(30);
    const carol = await connect(gwB, 'room1', 'carol');
    const dan = await connect(gwA, 'room1', 'dan');
    for (let i = 0; i < 25; i++) expect(await (i % 2 ? carol : dan).request({ type: 'message', text: `turn ${i}` })).toMatchObject({ status: 'accepted' });
    const all = await readChatHistory(b.messaging, 'room1');
    expect(all.length).toBe(stored.length + 25);
    const fresh = await connect(gwA, 'room1');
    const h = fresh.frames.find((f) => f.type === 'history') as Extract<ChatServerFrame, { type: 'history' }>;
    expect(h.messages.map((m) => m.id)).toEqual(all.slice(-50).map((m) => m.id));
    const cursor = all[40]!.seq;
    const resumed = await connect(gwB, 'room1', undefined, cursor);
    const hr = resumed.frames.find((f) => f.type === 'history') as Extract<ChatServerFrame, { type: 'history' }>;
    expect(hr.messages.map((m) => m.id)).toEqual(all.slice(41).map((m) => m.id));
    expect(hr.complete).toBe(true);
  }, 60_000);

  it('loses and duplicates nothing when a gateway is SIGKILLed mid-conversation and its clients resume on the other', async () => {
    onTestFinished(async () => {
      if (!gwA.process.isAlive()) gwA = await spawnGateway(b, 'gw-a', logger); // back for the next tests
    });
    const watcher = await connect(gwB, 'room2'); // stays on B throughout
    const victim = await connect(gwA, 'room2'); // on the gateway that dies
    const sender = await connect(gwB, 'room2', 'dave');
    let sending = true;
    const sentIds: string[] = [];
    const loop = (async () => {
      for (let i = 0; sending; i++) {
        const a = await sender.request({ type: 'message', text: `dave ${i}` });
        if (a.type === 'ack') sentIds.push(a.id);
        await new Promise((r) => setTimeout(r, 260)); // under 4 messages/s: never rate limited
      }
    })();
    await victim.waitFor(() => victim.lines().length >= 4, 10_000);
    gwA.kill();
    await closedEvent(victim);
    const lastSeen = victim.lines().at(-1)!.seq;
    // messages keep flowing while it is away: three more are acknowledged before it resumes
    const sentAtKill = sentIds.length;
    await watcher.waitFor(() => sentIds.length >= sentAtKill + 3, 20_000);
    const resumed = await connect(gwB, 'room2', undefined, lastSeen);
    // and after it resumed, three more reach it live
    const sentAtResume = sentIds.length;
    await resumed.waitFor(() => sentIds.length >= sentAtResume + 3 && sentIds.slice(sentAtResume, sentAtResume + 3).every((id) => resumed.lines().some((l) => l.id === id)), 20_000);
    sending = false;
    await loop;
    await watcher.waitFor(() => sentIds.every((id) => watcher.lines().some((l) => l.id === id)), 10_000);
    await resumed.waitFor(() => sentIds.every((id) => [...victim.lines(), ...resumed.lines()].some((l) => l.id === id)), 10_000);
    const seenByVictim = [...victim.lines(), ...resumed.lines()].map((l) => l.id);
    expect(new Set(seenByVictim).size).toBe(seenByVictim.length); // no duplicates
    expect(seenByVictim).toEqual(watcher.lines().map((l) => l.id)); // nothing lost, same order
    expect(sentIds.length).toBeGreaterThan(6);
  }, 90_000);
});

describe('abuse control', () => {
  it('answers a burst over 20 messages per 5 s with RATE_LIMITED and the wait', async () => {
    const c = await connect(gwA, 'room3', 'erin');
    // 40 at once: the full bucket takes 20, and however slowly a loaded machine handles the
    // burst, fewer than 20 tokens come back before it has been handled (that would take 5 s)
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => c.request({ type: 'message', text: `burst ${i}` })));
    const accepted = answers.filter((a) => a.type === 'ack');
    const limited = answers.filter((a) => a.type === 'error');
    expect(accepted.length + limited.length).toBe(40);
    expect(accepted.length).toBeGreaterThanOrEqual(20);
    expect(limited.length).toBeGreaterThan(0);
    for (const l of limited) {
      expect(l).toMatchObject({ code: 'RATE_LIMITED' });
      expect((l as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((l as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(250);
    }
  }, 30_000);

  it('applies slow mode set by a moderator on both gateways, telling the sender how long to wait', async () => {
    const mod = await connect(gwA, 'room3', MOD);
    const user = await connect(gwB, 'room3', 'frank');
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { slowModeSeconds: 5 } } })).toMatchObject({ type: 'ack', status: 'done' });
    const mode = await user.waitFor((f) => f.type === 'mode');
    expect(mode).toMatchObject({ settings: { slowModeSeconds: 5 }, actorUserId: MOD });
    expect(await user.request({ type: 'message', text: 'first' })).toMatchObject({ type: 'ack' });
    const slow = await user.request({ type: 'message', text: 'second' });
    expect(slow).toMatchObject({ type: 'slow_mode', slowModeSeconds: 5 });
    expect((slow as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    expect((slow as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(5000);
    // moderators are exempt
    expect(await mod.request({ type: 'message', text: 'mod 1' })).toMatchObject({ type: 'ack' });
    expect(await mod.request({ type: 'message', text: 'mod 2' })).toMatchObject({ type: 'ack' });
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { slowModeSeconds: 0 } } })).toMatchObject({ status: 'done' });
    await user.waitFor((f) => f.type === 'mode' && f.settings.slowModeSeconds === 0);
  }, 30_000);

  it('refuses too long, invalid and duplicate text, links when the room forbids them, and anonymous senders', async () => {
    const c = await connect(gwA, 'room3', 'gina');
    expect(await c.request({ type: 'message', text: 'x'.repeat(501) })).toMatchObject({ code: 'MESSAGE_TOO_LONG' });
    expect(await c.request({ type: 'message', text: 'é'.repeat(500) })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'message', text: 'bell \u0007' })).toMatchObject({ code: 'INVALID_TEXT' });
    expect(await c.request({ type: 'message', text: 'lone \ud800' })).toMatchObject({ code: 'INVALID_TEXT' });
    expect(await c.request({ type: 'message', text: 'hello there' })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'message', text: 'Hello   there' })).toMatchObject({ code: 'DUPLICATE_MESSAGE' });
    const mod = await connect(gwB, 'room3', MOD);
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { linksAllowed: false } } })).toMatchObject({ status: 'done' });
    await c.waitFor((f) => f.type === 'mode' && !f.settings.linksAllowed);
    expect(await c.request({ type: 'message', text: 'visit https://spam.example now' })).toMatchObject({ code: 'LINKS_NOT_ALLOWED' });
    expect(await c.request({ type: 'message', text: 'see spam.com' })).toMatchObject({ code: 'LINKS_NOT_ALLOWED' });
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { linksAllowed: true } } })).toMatchObject({ status: 'done' });
    const anon = await connect(gwA, 'room3');
    expect(await anon.request({ type: 'message', text: 'hi' })).toMatchObject({ code: 'AUTH_REQUIRED' });
    expect(await anon.request({ type: 'auth', token: 'not.a.token' })).toMatchObject({ code: 'TOKEN_INVALID' });
    expect(await c.request({ type: 'moderate', action: { kind: 'ban', userId: 'x' } })).toMatchObject({ code: 'FORBIDDEN' });
  }, 30_000);

  it('lets only followers send in followers-only mode and only emotes in emote-only mode', async () => {
    const mod = await connect(gwA, 'room3', MOD);
    const fan = await connect(gwB, 'room3', 'fan-1');
    const stranger = await connect(gwB, 'room3', 'stranger-1');
    await registerUsers(b, ['fan-1']);
    const followed = await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChannelFollowed', userSubject('fan-1'), { userId: 'fan-1', channelId: 'room3' }, { producer: 'test' }));
    expect(await waitForProjection(b.db, followed.seq, 10_000)).toBe(true);
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { followersOnly: true } } })).toMatchObject({ status: 'done' });
    await stranger.waitFor((f) => f.type === 'mode' && f.settings.followersOnly);
    expect(await stranger.request({ type: 'message', text: 'let me in' })).toMatchObject({ code: 'FOLLOWERS_ONLY' });
    expect(await fan.request({ type: 'message', text: 'I follow' })).toMatchObject({ type: 'ack', status: 'accepted' });
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { followersOnly: false, emoteOnly: true } } })).toMatchObject({ status: 'done' });
    await stranger.waitFor((f) => f.type === 'mode' && f.settings.emoteOnly);
    expect(await stranger.request({ type: 'message', text: 'words' })).toMatchObject({ code: 'EMOTE_ONLY' });
    const emote = await stranger.request({ type: 'emote', emote: 'clap' });
    expect(emote).toMatchObject({ type: 'ack', status: 'accepted' });
    await fan.waitFor((f) => f.type === 'emote' && f.id === (emote as { id: string }).id && f.text === 'clap');
    expect(await mod.request({ type: 'moderate', action: { kind: 'settings', settings: { emoteOnly: false } } })).toMatchObject({ status: 'done' });
  }, 30_000);
});

describe('moderation', () => {
  it('enforces a ban set on one gateway on the other as soon as it is announced there, and lifts it', async () => {
    const mod = await connect(gwA, 'room1', MOD);
    const harry = await connect(gwB, 'room1', 'harry');
    expect(await harry.request({ type: 'message', text: 'before the ban' })).toMatchObject({ type: 'ack' });
    const from = harry.frames.length;
    expect(await mod.request({ type: 'moderate', action: { kind: 'ban', userId: 'harry', reason: 'spam' } })).toMatchObject({ status: 'done' });
    // the other gateway announces the ban when it applies it: from then on it refuses
    await harry.waitFor((f) => f.type === 'moderation' && f.action === 'ban' && f.userId === 'harry', 10_000, from);
    expect(await harry.request({ type: 'message', text: 'after the ban' })).toMatchObject({ code: 'BANNED' });
    // the gateway where the moderator acted enforces it too
    const harry2 = await connect(gwA, 'room1', 'harry');
    expect(await harry2.request({ type: 'message', text: 'other gateway' })).toMatchObject({ code: 'BANNED' });
    expect(await mod.request({ type: 'moderate', action: { kind: 'unban', userId: 'harry' } })).toMatchObject({ status: 'done' });
    await harry.waitFor((f) => f.type === 'moderation' && f.action === 'unban');
    expect(await harry.request({ type: 'message', text: 'after the unban' })).toMatchObject({ type: 'ack' });
    // timeouts carry the remaining time; the owner cannot be restricted
    expect(await mod.request({ type: 'moderate', action: { kind: 'timeout', userId: 'harry', durationSeconds: 600 } })).toMatchObject({ status: 'done' });
    await harry.waitFor((f) => f.type === 'moderation' && f.action === 'timeout');
    const to = await harry.request({ type: 'message', text: 'timed out?' });
    expect(to).toMatchObject({ code: 'TIMED_OUT' });
    expect((to as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(500_000);
    expect((to as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(600_000);
    expect(await mod.request({ type: 'moderate', action: { kind: 'ban', userId: OWNER } })).toMatchObject({ code: 'CANNOT_RESTRICT' }); // as the API answers it
    expect(await mod.request({ type: 'moderate', action: { kind: 'unban', userId: 'harry' } })).toMatchObject({ status: 'done' });
  }, 30_000);

  it('hides a banned user\'s messages from every join history, on every gateway and after the room reopens; tells the banned and the timed-out their state on joining', async () => {
    await createChannel(b, 'room5', OWNER, [MOD]);
    const mod = await connect(gwA, 'room5', MOD);
    const jay = await connect(gwB, 'room5', 'jay');
    const kim = await connect(gwB, 'room5', 'kim');
    expect(await jay.request({ type: 'message', text: 'buy followers' })).toMatchObject({ type: 'ack' });
    expect(await kim.request({ type: 'message', text: 'nice stream' })).toMatchObject({ type: 'ack' });
    const from = jay.frames.length;
    expect(await mod.request({ type: 'moderate', action: { kind: 'ban', userId: 'jay', reason: 'spam' } })).toMatchObject({ status: 'done' });
    await jay.waitFor((f) => f.type === 'moderation' && f.action === 'ban', 10_000, from);
    const texts = (c: ChatClient) => c.lines().map((l) => l.text);
    // A third viewer joining on either gateway, and a gateway opening the room from the read models.
    const third = await connect(gwA, 'room5');
    expect(texts(third)).toEqual(['nice stream']);
    expect(texts(await connect(gwB, 'room5'))).toEqual(['nice stream']);
    const gwC = await spawnGateway(b, 'gw-c', logger);
    onTestFinished(() => gwC.stop());
    expect(texts(await connect(gwC, 'room5'))).toEqual(['nice stream']);
    // The banned viewer learns it on joining, before sending anything.
    const jayAgain = await connect(gwC, 'room5', 'jay');
    expect(jayAgain.frames.find((f) => f.type === 'authenticated')).toMatchObject({ userId: 'jay', restriction: { kind: 'ban' } });
    expect(await mod.request({ type: 'moderate', action: { kind: 'timeout', userId: 'kim', durationSeconds: 600 } })).toMatchObject({ status: 'done' });
    await kim.waitFor((f) => f.type === 'moderation' && f.action === 'timeout');
    const kimAgain = await connect(gwA, 'room5', 'kim');
    const authed = kimAgain.frames.find((f) => f.type === 'authenticated') as { restriction?: { kind: string; until: string } };
    expect(authed.restriction?.kind).toBe('timeout');
    expect(Date.parse(authed.restriction!.until) - Date.now()).toBeGreaterThan(500_000);
    expect(texts(kimAgain)).toEqual([]); // the timeout hid kim's message too
    // Unbanned: new messages show, the old one stays hidden.
    expect(await mod.request({ type: 'moderate', action: { kind: 'unban', userId: 'jay' } })).toMatchObject({ status: 'done' });
    await jayAgain.waitFor((f) => f.type === 'moderation' && f.action === 'unban');
    expect(await jayAgain.request({ type: 'message', text: 'sorry' })).toMatchObject({ type: 'ack' });
    const late = await connect(gwB, 'room5', 'jay');
    expect(texts(late)).toEqual(['sorry']);
    expect(late.frames.find((f) => f.type === 'authenticated')).not.toHaveProperty('restriction');
  }, 60_000);

  it('deletes a message: a tombstone reaches every member, history and the stored log', async () => {
    const mod = await connect(gwA, 'room1', MOD);
    const ivy = await connect(gwB, 'room1', 'ivy');
    const watcherA = await connect(gwA, 'room1');
    const sent = await ivy.request({ type: 'message', text: 'delete me' });
    expect(sent).toMatchObject({ type: 'ack', status: 'accepted' });
    const { id, seq } = sent as { id: string; seq: number };
    await watcherA.waitFor((f) => isMessage(f) && f.id === id);
    expect(await mod.request({ type: 'moderate', action: { kind: 'delete', messageId: id, reason: 'rude' } })).toMatchObject({ status: 'done' });
    for (const c of [ivy, watcherA, mod]) await c.waitFor((f) => f.type === 'moderation' && f.action === 'delete' && f.messageId === id);
    expect((await readChatHistory(b.messaging, 'room1')).some((l) => l.id === id)).toBe(false);
    expect(await b.messaging.jsm.streams.getMessage(CHAT_STREAM, { seq }).catch(() => null)).toBeNull(); // erased from storage
    const late = await connect(gwB, 'room1');
    expect(late.lines().some((l) => l.id === id)).toBe(false);
    const lateA = await connect(gwA, 'room1');
    expect(lateA.lines().some((l) => l.id === id)).toBe(false);
    expect(await mod.request({ type: 'moderate', action: { kind: 'delete', messageId: id } })).toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
  }, 30_000);

  it('reports a message into the moderation queue and holds messages matching a hold term', async () => {
    const kim = await connect(gwA, 'room2', 'kim');
    const sent = await kim.request({ type: 'message', text: 'report me' });
    const reporter = await connect(gwB, 'room2', 'leo');
    expect(await reporter.request({ type: 'report', messageId: (sent as { id: string }).id, reason: 'spam' })).toMatchObject({ status: 'done' });
    const modeFrom = kim.frames.length;
    await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChatBannedTermsSet', channelSubject('room2'), {
      channelId: 'room2', actorUserId: OWNER, terms: [{ pattern: 'h[o0]ld ?me', action: 'hold' }, { pattern: 'forbidden', action: 'block' }],
    }, { producer: 'test' }));
    // The terms are not announced to members; a settings event published after them on the same
    // subject and connection is (as `mode`), so once kim sees it her gateway has the terms.
    await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChatSettingsChanged', channelSubject('room2'), {
      channelId: 'room2', actorUserId: OWNER, settings: await loadChatSettings(b.db, 'room2'),
    }, { producer: 'test' }));
    await kim.waitFor((f) => f.type === 'mode', 10_000, modeFrom);
    const held = await kim.request({ type: 'message', text: 'please HOLD me' });
    expect(held).toMatchObject({ type: 'ack', status: 'held' });
    expect(await kim.request({ type: 'message', text: 'this is Forbidden' })).toMatchObject({ code: 'BLOCKED_TERM' });
    const rows = await waitRows(async () => {
      const r = await b.db.selectFrom('moderation_queue').selectAll().where('channel_id', '=', 'room2').execute();
      return r.length >= 2 ? r : undefined;
    });
    expect(rows.find((r) => r.kind === 'report')).toMatchObject({ message_id: (sent as { id: string }).id, text: 'report me', reporter_user_id: 'leo', status: 'open' });
    expect(rows.find((r) => r.kind === 'held')).toMatchObject({ id: (held as { id: string }).id, text: 'please HOLD me', status: 'open' });
    // a held message reaches nobody until a moderator approves it
    expect((await readChatHistory(b.messaging, 'room2')).some((l) => l.id === (held as { id: string }).id)).toBe(false);
  }, 30_000);

  it('refuses reports from banned and timed-out users, and takes one report per message and user', async () => {
    const mod = await connect(gwA, 'room4', MOD);
    const author = await connect(gwA, 'room4', 'nina');
    const sent = await author.request({ type: 'message', text: 'report target' });
    expect(sent).toMatchObject({ type: 'ack', status: 'accepted' });
    const messageId = (sent as { id: string }).id;
    const report = { type: 'report', messageId, reason: 'spam' };
    const reportRows = () => b.db.selectFrom('moderation_queue').selectAll().where('kind', '=', 'report').where('message_id', '=', messageId).execute();

    // banned and timed-out users are refused like their messages are (on the other gateway too)
    const oscar = await connect(gwB, 'room4', 'oscar');
    const olga = await connect(gwB, 'room4', 'olga');
    let from = oscar.frames.length;
    expect(await mod.request({ type: 'moderate', action: { kind: 'ban', userId: 'oscar' } })).toMatchObject({ status: 'done' });
    await oscar.waitFor((f) => f.type === 'moderation' && f.action === 'ban' && f.userId === 'oscar', 10_000, from);
    expect(await oscar.request(report)).toMatchObject({ type: 'error', code: 'BANNED' });
    from = olga.frames.length;
    expect(await mod.request({ type: 'moderate', action: { kind: 'timeout', userId: 'olga', durationSeconds: 600 } })).toMatchObject({ status: 'done' });
    await olga.waitFor((f) => f.type === 'moderation' && f.action === 'timeout' && f.userId === 'olga', 10_000, from);
    const timedOut = await olga.request(report);
    expect(timedOut).toMatchObject({ type: 'error', code: 'TIMED_OUT' });
    expect((timedOut as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);

    // one report per message and user: again on the same socket, and through the other gateway
    const pavelB = await connect(gwB, 'room4', 'pavel');
    const pavelA = await connect(gwA, 'room4', 'pavel');
    const first = await pavelB.request(report);
    expect(first).toMatchObject({ type: 'ack', status: 'done' });
    expect(await pavelB.request({ ...report, reason: 'spam, really' })).toMatchObject({ type: 'error', code: 'ALREADY_REPORTED' });
    expect(await pavelA.request(report)).toMatchObject({ type: 'error', code: 'ALREADY_REPORTED' });
    // two at once through two gateways: one is taken
    const quinnA = await connect(gwA, 'room4', 'quinn');
    const quinnB = await connect(gwB, 'room4', 'quinn');
    const racing = await Promise.all([quinnA.request(report), quinnB.request(report)]);
    expect(racing.filter((a) => a.type === 'ack')).toHaveLength(1);
    expect(racing.filter((a) => a.type === 'error' && a.code === 'ALREADY_REPORTED')).toHaveLength(1);

    // the queue holds one item per reporter, none from the restricted users
    const lastSeq = (await b.messaging.jsm.streams.info('EVENTS')).state.last_seq;
    expect(await waitForProjection(b.db, lastSeq, 10_000)).toBe(true);
    const rows = await reportRows();
    expect(rows.map((r) => r.reporter_user_id).sort()).toEqual(['pavel', 'quinn']);
    expect(rows.find((r) => r.reporter_user_id === 'pavel')).toMatchObject({ id: (first as { id: string }).id, reason: 'spam', status: 'open' });
    // once it is in the read model, a report is refused from there (past the log's duplicate window too)
    expect(await pavelA.request(report)).toMatchObject({ type: 'error', code: 'ALREADY_REPORTED' });
    expect(await reportRows()).toHaveLength(2);
    expect(await mod.request({ type: 'moderate', action: { kind: 'unban', userId: 'olga' } })).toMatchObject({ status: 'done' });
  }, 60_000);
});

describe('backpressure', () => {
  it('drops a client that stops reading instead of buffering for it, and keeps serving the room', async () => {
    // A third gateway with a small send buffer and no practical rate limit, so one sender can
    // outrun a client that never reads.
    const gwC = await spawnGateway(b, 'gw-c', logger, { CHAT_MAX_BACKPRESSURE_BYTES: '65536', CHAT_RATE_MESSAGES: '1000000', CHAT_ROOM_IDLE_SECONDS: '1' });
    try {
      await rawSocketThatStopsReading(gwC.port, 'room3');
      const reader = await ChatClient.connect(gwC.url, 'room3');
      const sender = await ChatClient.connect(gwC.url, 'room3', { token: await tokenFor('firehose') });
      const connections = async (): Promise<number> => ((await (await fetch(`http://127.0.0.1:${gwC.port}/healthz`)).json()) as { connections: number }).connections;
      expect(await connections()).toBe(3);
      const rssBefore = rssKiB(gwC.process.pid);
      let acked = 0;
      let dropped = false;
      for (let i = 0; i < 20_000 && !dropped; i++) {
        sender.send({ type: 'message', text: `${i} ${'x'.repeat(400)}`, ref: `f${i}` });
        if (i % 200 === 199) {
          await sender.waitFor((f) => f.type === 'ack' && f.ref === `f${i}`, 10_000);
          acked = i + 1;
          dropped = (await connections()) === 2;
        }
      }
      // the stalled socket's kernel buffers filled, then uWS held at most 64 KiB more and closed it
      expect(dropped).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${gwC.port}/metrics`)).text();
      expect(metrics).toMatch(/chat_connections_closed_total\{code="\d+"\} 1/);
      // the reader kept up and got every message the sender had been acknowledged for
      await reader.waitFor(() => reader.lines().length >= acked, 20_000);
      // and the gateway did not keep megabytes for the stalled client
      expect(rssKiB(gwC.process.pid) - rssBefore).toBeLessThan(64 * 1024);
      reader.close();
      sender.close();
      // with no members left the gateway leaves the room: no subscription, no CHAT consumer
      const health = async () => (await (await fetch(`http://127.0.0.1:${gwC.port}/healthz`)).json()) as { connections: number; rooms: number };
      expect((await health()).rooms).toBe(1);
      const consumersBefore = (await b.messaging.jsm.streams.info(CHAT_STREAM)).state.consumer_count;
      await waitRows(async () => ((await health()).rooms === 0 ? true : undefined), 10_000);
      expect((await health()).connections).toBe(0);
      expect((await b.messaging.jsm.streams.info(CHAT_STREAM)).state.consumer_count).toBe(consumersBefore - 1);
    } finally {
      await gwC.stop();
    }
  }, 120_000);
});

describe('presence', () => {
  it('reports connections per room across gateways and projects the viewer count', async () => {
    // viewers are counted for a live session
    await appendEvent(b.messaging.js, streamEvent(systemClock, 'StreamPublishStarted', {
      channelId: 'room2', sessionId: 'sess-room2', ingestNodeId: 'test', relayUrl: 'http://127.0.0.1:1/relay', app: 'live', source: {},
    }, { producer: 'test' }));
    const extra = [await connect(gwA, 'room2'), await connect(gwA, 'room2'), await connect(gwB, 'room2')];
    let last = -1;
    const expected = (n: number) => async () => {
      const r = await b.db.selectFrom('channels').select('viewer_count').where('id', '=', 'room2').executeTakeFirstOrThrow();
      last = r.viewer_count;
      return r.viewer_count === n ? r : undefined;
    };
    const counts = async (): Promise<number> => {
      const a = await (await fetch(`http://127.0.0.1:${gwA.port}/healthz`)).json() as { connections: number };
      const c = await (await fetch(`http://127.0.0.1:${gwB.port}/healthz`)).json() as { connections: number };
      return a.connections + c.connections;
    };
    expect(await counts()).toBeGreaterThan(0);
    const target = open.filter((c) => !c.closed && c.ws.url.includes('/chat/room2')).length;
    await waitRows(expected(target)).catch((err: Error) => { throw new Error(`${err.message}: viewers ${last}, expected ${target}`); });
    for (const c of extra) c.close();
    await waitRows(expected(target - 3));
  }, 30_000);
});

describe('bad input', () => {
  it('answers non-JSON, unknown types, bad fields, binary and invalid UTF-8 with typed errors, and closes on oversized frames', async () => {
    const c = await connect(gwA, 'room3');
    expect(await nextAfter(c, () => c.send('not json'))).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect(await nextAfter(c, () => c.send('[1,2]'))).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect(await nextAfter(c, () => c.send({ type: 'shout', text: 'x' }))).toMatchObject({ type: 'error', code: 'UNKNOWN_TYPE' });
    expect(await nextAfter(c, () => c.send({ type: 'message', text: 42 }))).toMatchObject({ type: 'error', code: 'INVALID_FIELD' });
    expect(await nextAfter(c, () => c.send({ type: 'message', text: 'x', admin: true }))).toMatchObject({ type: 'error', code: 'INVALID_FIELD' });
    expect(await nextAfter(c, () => c.send(Buffer.from([1, 2, 3]), { binary: true }))).toMatchObject({ type: 'error', code: 'BINARY_NOT_SUPPORTED' });
    const bad = await connect(gwA, 'room3');
    bad.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])); // invalid UTF-8 in a text frame
    const answer = await Promise.race([
      bad.waitFor((f) => f.type === 'error').then((f) => ({ frame: f })),
      new Promise<{ closed: { code: number } }>((resolve) => bad.ws.once('close', (code) => resolve({ closed: { code } }))),
    ]);
    // uWS fails the connection on a text frame that is not UTF-8 (RFC 6455 §8.1) before the
    // application sees it; the client sees 1006 (no close frame) or 1007.
    if ('frame' in answer) expect(answer.frame).toMatchObject({ code: 'BAD_FRAME' });
    else expect([1006, 1007]).toContain(answer.closed.code);
    const big = await connect(gwA, 'room3');
    const closed = new Promise<{ code: number; reason: string }>((resolve) => big.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    big.send({ type: 'message', text: 'x'.repeat(20_000) });
    expect(await closed).toEqual({ code: 1009, reason: 'frames are limited to 8192 bytes' });
    // an unknown room is refused at the upgrade with an HTTP error body
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`http://127.0.0.1:${gwA.port}/chat/no-such-room`, {
        headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
      }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'ROOM_NOT_FOUND' });
  }, 30_000);

  it('survives 10,000 random frames: each is answered with a typed error or a close with a reason, and everyone else is served', async () => {
    const bystander = await connect(gwA, 'room3');
    const speaker = await connect(gwB, 'room3', 'mallory-bystander');
    let rnd = 0x2545f491;
    const next = (): number => { rnd ^= rnd << 13; rnd ^= rnd >>> 17; rnd ^= rnd << 5; return (rnd >>> 0) / 0x100000000; };
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const randomFrame = (): { data: string | Buffer; binary: boolean } => {
      const r = next();
      if (r < 0.15) return { data: Buffer.from(Array.from({ length: 1 + Math.floor(next() * 64) }, () => Math.floor(next() * 256))), binary: true };
      if (r < 0.3) return { data: Array.from({ length: Math.floor(next() * 80) }, () => String.fromCharCode(Math.floor(next() * 0x3000))).join(''), binary: false };
      if (r < 0.45) return { data: JSON.stringify(pick([null, 1, 'x', [], [1], true, {}])), binary: false };
      if (r < 0.7) return { data: JSON.stringify({ type: pick(['message', 'emote', 'report', 'moderate', 'auth', 'ping', 'nope', 7, null]), text: pick([1, null, '', 'hi', {}, []]), ref: pick([undefined, '', 'r', 5, 'x'.repeat(70)]) }), binary: false };
      if (r < 0.85) return { data: JSON.stringify({ type: 'moderate', action: { kind: pick(['delete', 'ban', 'timeout', 'settings', 'x']), userId: pick(['u', '', 5, '../..']), durationSeconds: pick([-1, 0, 1e12, 'x', 60]), settings: pick([{}, { slowModeSeconds: -5 }, { evil: true }, null]) } }), binary: false };
      return { data: '{"type":"message","text":"' + 'a'.repeat(Math.floor(next() * 600)) + '"', binary: false };
    };
    let answered = 0;
    let closedWithReason = 0;
    const total = 10_000;
    let sent = 0;
    const talk = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const a = await speaker.request({ type: 'message', text: `still here ${i}` });
        if (a.type === 'ack') ids.push(a.id);
        await new Promise((r) => setTimeout(r, 300));
      }
      return ids;
    })();
    while (sent < total) {
      const fuzz = await ChatClient.connect(gwA.url, 'room3');
      const base = fuzz.frames.length;
      let batch = 0;
      while (sent < total && !fuzz.closed && batch < 100) {
        const f = randomFrame();
        fuzz.ws.send(f.data, { binary: f.binary });
        sent++;
        batch++;
      }
      await fuzz.waitFor(() => fuzz.frames.length - base >= batch, 20_000).catch(() => undefined);
      const errors = fuzz.frames.slice(base).filter((f) => f.type === 'error' || f.type === 'pong').length;
      answered += errors;
      if (fuzz.closed) {
        expect(fuzz.closed.reason.length).toBeGreaterThan(0);
        closedWithReason += batch - errors;
      } else {
        expect(errors).toBe(batch); // every frame of the batch got its answer
        fuzz.close();
      }
    }
    expect(answered + closedWithReason).toBe(total);
    expect(answered).toBe(total); // batches stay under the abuse limit, so every frame got its own answer
    // past the abuse limit the socket is closed with a reason
    const abuser = await ChatClient.connect(gwA.url, 'room3');
    const abuserClosed = new Promise<{ code: number; reason: string }>((resolve) => abuser.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    for (let i = 0; i < 150; i++) abuser.send('garbage');
    expect(await abuserClosed).toEqual({ code: 4009, reason: 'too many invalid frames' });
    const ids = await talk;
    expect(ids).toHaveLength(10);
    await bystander.waitFor(() => ids.every((id) => bystander.lines().some((l) => l.id === id)), 5000);
    expect((await fetch(`http://127.0.0.1:${gwA.port}/healthz`)).status).toBe(200);
  }, 120_000);
});

async function nextAfter(c: ChatClient, action: () => void): Promise<ChatServerFrame> {
  const from = c.frames.length;
  action();
  return c.waitFor(() => true, 10_000, from);
}

/** Sends one more message from `sender` and waits until every client has received it. */
async function fence(clients: readonly ChatClient[], sender: ChatClient): Promise<void> {
  const a = await sender.request({ type: 'message', text: `fence ${Math.random().toString(36).slice(2)}` });
  expect(a).toMatchObject({ type: 'ack', status: 'accepted' });
  const id = (a as { id: string }).id;
  for (const c of clients) await c.waitFor(() => c.lines().some((l) => l.id === id));
}

/** Resolves when the client's socket has closed. */
function closedEvent(c: ChatClient): Promise<void> {
  return c.closed ? Promise.resolve() : new Promise((resolve) => c.ws.once('close', () => resolve()));
}

async function waitRows<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (r !== undefined && !(Array.isArray(r) && r.length === 0)) return r;
    if (Date.now() > deadline) throw new Error('timed out waiting for the read model');
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Resident set size of a process, KiB (/proc/<pid>/status VmRSS). */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Opens a WebSocket to a room over a raw TCP socket, completes the handshake, then never reads again. */
async function rawSocketThatStopsReading(port: number, room: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.write(`GET /chat/${room} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(d.toString()))));
  });
  sock.pause(); // stop reading: the kernel's buffers fill up, then the gateway's
  sock.on('error', () => undefined);
  return sock;
}
