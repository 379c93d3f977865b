/**
 * Chaos on the cluster profile (issue 18, item 5, "What must be shown"). While ffmpeg publishes
 * a 720p30 test pattern through HAProxy (and reconnects through it when its connection dies, as
 * OBS does), headless Chromium plays the demo channel's watch page, 50 chat clients talk through
 * HAProxy's chat frontend and a probe appends to EVENTS twice a second, one instance of each
 * tier is SIGKILLed in turn, waiting for recovery (and restarting it, as systemd would) before
 * the next: the EVENTS stream's leader nats-server; the ingest node carrying the stream; the
 * worker running the transcode; the edge the player uses; the chat gateway with the most
 * clients; the active projector. Each kill gives one row: the longest time `video.currentTime`
 * did not advance, fatal hls.js errors, EVENTS ids lost / duplicated, chat messages lost,
 * sessions and VODs, the standby projector's takeover time. The table is printed at the end.
 *
 * 720p, not the issue's 1080p: on the 2-core development machine the whole cluster with a
 * 1080p30 publish writes the ladder at 0.25-0.39x real time (2026-12-06, with the x264
 * `veryfast` or `ultrafast` ladder alike), so the player starves before any kill; at 720p it
 * writes about 0.88x. The baseline row measures this first and the test stops there when the
 * machine does not keep up. What stands for the viewers' and the publisher's own machines costs
 * the platform as little as it can: the publisher loops a clip encoded once (no x264 while the
 * test runs) and Chromium runs at `nice 10`.
 * Not part of `npm test`: run it with `npm run test:chaos` on a machine that keeps real time
 * (the baseline check says when it does not).
 * Settings: CHAOS_PUBLISH_HEIGHT (720; 1080: 1920x1080 at 4.5 Mb/s; 480: 854x480 at 1.2 Mb/s),
 * CHAOS_TRANSCODE_PRESET (the workers' TRANSCODE_PRESET; default theirs, veryfast).
 */
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHAT_STREAM, EVENTS_STREAM, type DomainEvent } from '@live/events';
import { DEMO_CHANNEL } from '../src/stack.js';
import { fetchText, masterVariants, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';
import { formatChaosTable, longestStall, lostAndDuplicated, type ChaosRow } from './helpers/chaos-report.js';
import { ChatCrowd, registerChatters, type ChatReport } from './helpers/chat-crowd.js';
import { EventProbe } from './helpers/event-probe.js';
import { appHttpUrl, healthOf, heldProjections, killApp, type ProjectorHealth } from './helpers/instances.js';
import { ReconnectingPublisher, type PublishFormat } from './helpers/obs-publisher.js';
import { launchChromium, PlayerMonitor } from './helpers/player-monitor.js';
import type { Browser } from 'playwright-core';

const HEIGHT = Number(process.env.CHAOS_PUBLISH_HEIGHT ?? 720);
const FORMATS: Record<number, PublishFormat> = {
  1080: { width: 1920, height: 1080, fps: 30, videoKbps: 4500 },
  720: { width: 1280, height: 720, fps: 30, videoKbps: 2500 },
  480: { width: 854, height: 480, fps: 30, videoKbps: 1200 },
};
const FORMAT: PublishFormat = FORMATS[HEIGHT] ?? FORMATS[720]!;
const CHATTERS = 50;
const CHAT_PERIOD_MS = 3_000;
/** Playback must go this many media seconds past the tier's recovery before the next step. */
const PLAY_AFTER_RECOVERY_S = 6;
const STALL_BOUND_MS = 30_000;

let t: TestStack;
let browser: Browser | undefined;
let crowd: ChatCrowd | undefined;
let publisher: ReconnectingPublisher | undefined;
let probe: EventProbe | undefined;
const rows: ChaosRow[] = [];
/** The window (wall-clock ms) of each row, for counting events at the end. */
const windows: Array<{ from: number; to: number }> = [];
const notes: string[] = [];

beforeAll(async () => {
  t = await startTestStack('e2e-chaos', {
    profile: 'cluster', web: true,
    appEnv: process.env.CHAOS_TRANSCODE_PRESET ? { TRANSCODE_PRESET: process.env.CHAOS_TRANSCODE_PRESET } : {},
  });
  // The page must be this stack's (a vite preview that lost its port race would leave another's).
  expect(t.stack.apps.get('web')?.isAlive(), 'the web app (vite preview) runs').toBe(true);
}, 400_000);

afterAll(async () => {
  if (rows.length > 0) console.log(`\nChaos on the cluster profile (${FORMAT.width}x${FORMAT.height}@${FORMAT.fps} publish, ${CHATTERS} chat clients):\n\n${formatChaosTable(rows)}\n\n${notes.join('\n')}\n`);
  await crowd?.stop();
  await probe?.stop();
  await publisher?.stop();
  await browser?.close();
  await t?.stop();
}, 180_000);

const sessionOf = (e: DomainEvent): string | undefined => (e.data as { sessionId?: string }).sessionId;
const eventCounts = (events: readonly DomainEvent[]): string => {
  const n = new Map<string, number>();
  for (const e of events) n.set(e.type, (n.get(e.type) ?? 0) + 1);
  return [...n].map(([k, v]) => `${k} ${v}`).join(', ');
};
const distinctSessions = (events: readonly DomainEvent[]): number => new Set(events.filter((e) => e.type === 'StreamPublishStarted').map(sessionOf)).size;

/** What a step learnt from its tier: when it recovered, how, and (projector) the takeover time. */
interface Recovery {
  readonly recoveredAt: number;
  readonly note: string;
  readonly takeoverMs?: number;
}

/** One SIGKILL: chooses its target, kills it (returning when, ms), waits for the tier's recovery, restores the instance. */
interface Step {
  readonly kill: string;
  target(): Promise<{ name: string; why: string }>;
  run(name: string): Promise<{ killedAt: number; recovered: Promise<Recovery> }>;
  restore(name: string): Promise<void>;
}

it('keeps playing, talking and recording through the SIGKILL of one instance of each tier', async () => {
  const { info } = t.stack;
  const started0 = Date.now();
  const chatters = await registerChatters(info.apiUrl, CHATTERS, `chaos${process.pid % 100000}`);
  browser = await launchChromium();
  crowd = await ChatCrowd.join(browser, info.chatUrl, info.demoChannelId, chatters, CHAT_PERIOD_MS, 60_000);
  // The demo channel's metadata as the stack seeded it: the probe changes nothing a viewer sees.
  const metadata = { title: DEMO_CHANNEL.title, category: 'just-chatting', tags: ['demo'], language: 'en', mature: false };
  probe = new EventProbe(t.messaging.js, { channelId: info.demoChannelId, metadata, periodMs: 500, giveUpMs: 60_000 });
  probe.start();
  publisher = new ReconnectingPublisher(`${info.rtmpUrl}/${info.demoStreamKey}`, FORMAT);
  await publisher.start();
  const startedEvent = await waitFor('StreamPublishStarted', async () => (await t.channelEvents()).find((e) => e.type === 'StreamPublishStarted'), 60_000);
  const sessionId = sessionOf(startedEvent)!;
  const player = await PlayerMonitor.open(browser, info.demoWatchUrl, 90_000);
  await crowd.talk(true);
  notes.push(`setup: stack, ${CHATTERS} users, publish and playback in ${((Date.now() - started0) / 1000).toFixed(0)} s`);

  await baseline(player);
  for (const step of steps(player)) await runStep(step, player);

  // The end of the broadcast: a clean stop, then one VOD.
  await crowd.talk(false);
  const endAt = Date.now();
  const exit = await publisher.stop();
  notes.push(`publisher: ${publisher.connections} ffmpeg connections; drops: ${publisher.drops.map((d) => `${new Date(d.at).toISOString().slice(11, 19)} code ${d.code} (${d.stderr})`).join('; ') || 'none'}; last exit ${exit?.code}`);
  const events = await waitFor('VodReady', async () => {
    const evs = await t.channelEvents();
    return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
  }, 240_000, 1000);
  const chatAll = await settleChat(0, endAt);
  await countChat();
  notes.push(`chat overall: ${chatAll.messages} messages, ${chatAll.missingDeliveries} deliveries missing, ${chatAll.duplicateDeliveries} duplicate deliveries, ${chatAll.reconnects} reconnects, refused ${JSON.stringify(chatAll.refused)}, incomplete histories ${chatAll.incompleteHistories}`);
  await probe.stop();
  const allFatal = await player.fatal();
  const fatal = allFatal.filter((f) => f.at <= endAt);
  if (allFatal.length > fatal.length) notes.push(`after the publisher stopped (not counted): fatal player errors ${allFatal.filter((f) => f.at > endAt).map((f) => `+${((f.at - endAt) / 1000).toFixed(1)} s ${f.what}`).join(', ')}`);
  notes.push(`VodReady ${((Date.parse(events.find((e) => e.type === 'VodReady')?.occurredAt ?? '') - endAt) / 1000).toFixed(1)} s after the publisher stopped`);
  await explainChatLoss(chatAll);
  countEvents(events, await probe.stored(), sessionId);
  const sessions = distinctSessions(events);
  const vods = events.filter((e) => e.type === 'VodReady').length;
  rows.push({ kill: 'end', target: 'publisher stops (SIGINT)', stallMs: 0, fatal: [], eventsLost: null, eventsDuplicated: null, chatLostMessages: chatAll.messagesMissing, chatMissingDeliveries: chatAll.missingDeliveries, sessions, vods, takeoverMs: null, recoveredMs: null, note: `session events: ${eventCounts(events)}` });
  for (let i = 0; i < rows.length; i++) rows[i] = { ...rows[i]!, vods };

  // What must hold (the stall is bounded generously here; the table shows the real figure against the 6 s goal).
  expect.soft(fatal, 'fatal player errors').toEqual([]);
  for (const r of rows) {
    expect.soft(r.stallMs, `${r.kill}: playback stall`).toBeLessThan(STALL_BOUND_MS);
    if (r.eventsLost !== null) expect.soft([r.eventsLost, r.eventsDuplicated], `${r.kill}: EVENTS lost/duplicated`).toEqual([0, 0]);
    expect.soft([r.chatLostMessages, r.chatMissingDeliveries], `${r.kill}: chat messages lost`).toEqual([0, 0]);
  }
  expect.soft(chatAll.refused, 'chat messages refused').toEqual([]);
  expect.soft(events.map((e) => e.type), 'no StreamFailed').not.toContain('StreamFailed');
  expect.soft(new Set(events.map(sessionOf)), 'every event of the broadcast is of one session').toEqual(new Set([sessionId]));
  expect.soft([sessions, vods], 'sessions and VODs').toEqual([1, 1]);
  const projectorRow = rows.find((r) => r.kill === 'projector');
  expect.soft(projectorRow?.takeoverMs ?? null, 'the standby projector took over').not.toBeNull();
}, 900_000);

/** A quiet stretch first: the stall without kills, and whether the machine keeps up with the ladder in real time. */
async function baseline(player: PlayerMonitor): Promise<void> {
  const { info } = t.stack;
  const edge = Object.values(info.edgeUrls)[0]!;
  const masterUrl = `${edge}/live/${info.demoChannelId}/master.m3u8`;
  const variants = masterVariants(await fetchText(masterUrl)).filter((v) => !/^https?:/.test(v.uri));
  const media = async (): Promise<number[]> => Promise.all(variants.map(async (v) => segmentDurations(await fetchText(new URL(v.uri, masterUrl).href)).reduce((a, b) => a + b, 0)));
  const before = { at: Date.now(), media: await media(), quality: await player.quality() };
  const from = Date.now();
  const t0 = await player.poll();
  let problem = '';
  await waitFor('20 s of playback', async () => (await player.poll()) >= t0 + 20, 60_000, 250).catch(async (err: Error) => {
    problem = `${err.message}; player status ${JSON.stringify(await player.status())}`;
  });
  const to = Date.now();
  const after = { at: Date.now(), media: await media(), quality: await player.quality() };
  const wall = (after.at - before.at) / 1000;
  const rates = variants.map((v, i) => `${/RESOLUTION=\d+x(\d+)/.exec(v.attrs)?.[1] ?? '?'}p ${((after.media[i]! - before.media[i]!) / wall).toFixed(2)}x`);
  const dropped = before.quality && after.quality ? `${after.quality.dropped - before.quality.dropped}/${after.quality.total - before.quality.total} frames dropped, playing ${after.quality.height}p` : 'no playback quality';
  notes.push(`baseline (${wall.toFixed(0)} s): media written per wall second ${rates.join(', ')}; Chromium ${dropped}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; busiest processes over 5 s: ${await busiest()}`);
  await settleChat(from, to);
  windows.push({ from, to });
  rows.push({
    kill: 'none (baseline)', target: '20 s of playback', stallMs: longestStall(player.samples, from, to), fatal: (await player.fatal()).filter((f) => f.at >= from && f.at <= to).map((f) => f.what),
    eventsLost: null, eventsDuplicated: null, chatLostMessages: 0, chatMissingDeliveries: 0,
    sessions: distinctSessions(await t.channelEvents()), vods: null, takeoverMs: null, recoveredMs: null, note: problem,
  });
  // Without steady playback first, the kills' figures would mean nothing: stop here (the notes say why).
  if (problem) throw new Error(`no steady playback before the kills (the machine does not keep up?): ${notes.at(-1)}; ${problem}`);
}

/** The processes using the most CPU over 5 s (`top`'s second sample), as `%CPU command` items. */
async function busiest(): Promise<string> {
  const { stdout } = await promisify(execFile)('top', ['-b', '-n', '2', '-d', '5', '-w', '200', '-c']);
  const last = stdout.split(/^top - /m).at(-1)!.split('\n');
  const head = last.findIndex((l) => /^\s*PID\s/.test(l));
  return last.slice(head + 1, head + 13).map((l) => l.trim().split(/\s+/)).map((f) => `${f[8]}% ${f.slice(11).join(' ').replace(/^.*\/(node|chromium|ffmpeg|nats-server|minio|temporal|postgres)\b/, '$1').replace(/--import tsx apps\/(\w+)\/src\/main\.ts/, '$1').slice(0, 40)}`).join(', ');
}

/**
 * Waits (at most `timeoutMs`) until the chat messages of `[from, to)` are delivered to every
 * client and answered, so that one step's stragglers do not run into the next kill. What was
 * lost is counted at the end ({@link countChat}): a late message is not a lost one.
 */
async function settleChat(from: number, to: number, timeoutMs = 20_000): Promise<ChatReport> {
  const c = crowd!;
  try {
    return await waitFor('chat messages delivered to every client', async () => {
      const r = await c.report(from, to);
      return r.missingDeliveries === 0 && r.unacked === 0 ? r : undefined;
    }, timeoutMs, 500);
  } catch {
    return c.report(from, to);
  }
}

/** Fills in each row's chat columns from the final state of the clients, with how long the slowest message took to reach everyone. */
async function countChat(): Promise<void> {
  for (const [i, { from, to }] of windows.entries()) {
    const r = await crowd!.report(from, to);
    const chat = `chat: ${r.messages} msgs, all delivered within ${(r.maxDeliveryMs / 1000).toFixed(1)} s${r.messagesMissing ? ` except ${r.messagesMissing}` : ''}`;
    rows[i] = { ...rows[i]!, chatLostMessages: r.messagesMissing, chatMissingDeliveries: r.missingDeliveries, note: [rows[i]!.note, chat].filter(Boolean).join('; ') };
  }
}

/** Kills, waits for the tier and for playback to go on, records the row, restores the instance. */
async function runStep(step: Step, player: PlayerMonitor): Promise<void> {
  const { name, why } = await step.target();
  const { killedAt, recovered } = await step.run(name);
  let recovery: Recovery | undefined;
  let problem = '';
  try {
    recovery = await recovered;
    const at = await player.poll();
    await waitFor(`playback ${PLAY_AFTER_RECOVERY_S} s past the recovery`, async () => (await player.poll()) >= at + PLAY_AFTER_RECOVERY_S, 60_000, 250);
  } catch (err) {
    problem = `NOT RECOVERED: ${(err as Error).message.split('\n')[0]}; player status ${JSON.stringify(await player.status())}`;
  }
  const to = Date.now();
  await player.poll();
  await settleChat(killedAt, to);
  windows.push({ from: killedAt, to });
  rows.push({
    kill: step.kill, target: `${name} (${why})`, stallMs: longestStall(player.samples, killedAt, to),
    fatal: (await player.fatal()).filter((f) => f.at >= killedAt && f.at <= to).map((f) => f.what),
    eventsLost: null, eventsDuplicated: null, chatLostMessages: 0, chatMissingDeliveries: 0,
    sessions: distinctSessions(await t.channelEvents()), vods: null, takeoverMs: recovery?.takeoverMs ?? null,
    recoveredMs: recovery ? recovery.recoveredAt - killedAt : null,
    note: [recovery?.note, problem].filter(Boolean).join('; '),
  });
  await step.restore(name);
}

/** For chat messages some client never got: are they in the CHAT stream (the gateways' fan-out missed them) or not (the log lost an acknowledged message)? */
async function explainChatLoss(r: ChatReport): Promise<void> {
  if (r.missing.length === 0) return;
  const first = Math.min(...r.missing.map((m) => m.sentAt));
  const window = windows.findIndex((w) => first >= w.from && first < w.to);
  const found = await Promise.all(r.missing.map(async (m) => {
    const stored = m.seq === null ? null : await t.messaging.jsm.streams.getMessage(CHAT_STREAM, { seq: m.seq }).then(() => true, () => false);
    const answer = m.refused ? `refused ${m.refused}${m.retried ? ` after ${m.retried.trim()}` : ''}` : m.ackedAt ? `acked +${m.ackedAt - m.sentAt} ms` : 'no answer';
    return `"${m.text}" seq ${m.seq} sent ${new Date(m.sentAt).toISOString().slice(11, 23)} ${answer}, received by ${m.receivedBy} clients, ${stored === null ? 'no seq' : stored ? 'in CHAT' : 'NOT in CHAT'}`;
  }));
  notes.push(`chat messages not received everywhere (first in the window of row ${window} ${rows[window]?.kill ?? '?'}): ${found.join('; ')}`);
}

/** Fills in each row's EVENTS lost / duplicated: the probe's events made in its window, and the session's events of the window, counted by id. */
function countEvents(sessionEvents: readonly DomainEvent[], probeStored: readonly DomainEvent[], sessionId: string): void {
  const records = probe!.records;
  const stored = [...probeStored, ...sessionEvents.filter((e) => sessionOf(e) === sessionId)];
  const totals = lostAndDuplicated(records.map((r) => r.id), probeStored.map((e) => e.id));
  notes.push(`EVENTS probe: ${records.length} appended (${records.filter((r) => r.ackedAt === null).length} never acknowledged, ${records.filter((r) => r.attempts > 1).length} retried), ${totals.lost} lost, ${totals.duplicated} duplicated; session events ${sessionEvents.length}`);
  windows.forEach(({ from, to }, i) => {
    const expected = records.filter((r) => r.createdAt >= from && r.createdAt < to).map((r) => r.id);
    const inWindow = new Set([...expected, ...sessionEvents.filter((e) => { const at = Date.parse(e.occurredAt); return at >= from && at < to; }).map((e) => e.id)]);
    const { lost, duplicated } = lostAndDuplicated(expected, stored.map((e) => e.id).filter((id) => inWindow.has(id)));
    rows[i] = { ...rows[i]!, eventsLost: lost, eventsDuplicated: duplicated };
  });
}

/** The six kills, in the issue's order. */
function steps(player: PlayerMonitor): Step[] {
  const { stack } = t;
  let onKilledGateway = 0;
  const events = () => t.channelEvents();
  const restart = async (name: string) => { await stack.restartApp(name); };
  return [
    {
      kill: 'nats-server',
      async target() {
        const s = await t.messaging.jsm.streams.info(EVENTS_STREAM);
        const chat = await t.messaging.jsm.streams.info(CHAT_STREAM);
        return { name: s.cluster?.leader ?? 'nats-1', why: `EVENTS stream leader; CHAT leader ${chat.cluster?.leader}, ${chat.config.num_replicas} replicas` };
      },
      async run(name) {
        const killedAt = Date.now();
        await stack.services.natsCluster!.kill(name);
        const recovered = (async (): Promise<Recovery> => {
          const acked = await waitFor('a probe append made after the kill acknowledged', async () => probe!.records.find((r) => r.createdAt > killedAt && r.ackedAt !== null), 60_000, 100);
          const s = await waitFor('a new EVENTS leader', async () => {
            const i = await t.messaging.jsm.streams.info(EVENTS_STREAM);
            return i.cluster?.leader && i.cluster.leader !== name ? i : undefined;
          }, 30_000, 200);
          const replicas = (s.cluster?.replicas ?? []).map((r) => `${r.name} ${r.offline ? 'offline' : r.current ? 'current' : 'behind'} lag ${r.lag ?? 0}`).join(', ');
          return { recoveredAt: acked.ackedAt!, note: `new EVENTS leader ${s.cluster!.leader}; replicas: ${replicas}` };
        })();
        return { killedAt, recovered };
      },
      async restore(name) {
        await stack.services.natsCluster!.restart(name);
        await waitFor('every EVENTS replica current again', async () => {
          const s = await t.messaging.jsm.streams.info(EVENTS_STREAM);
          return (s.cluster?.replicas ?? []).length === 2 && s.cluster!.replicas!.every((r) => r.current && !r.offline);
        }, 60_000, 500);
      },
    },
    {
      kill: 'ingest',
      async target() {
        const live = (await events()).filter((e) => e.type === 'StreamPublishStarted' || e.type === 'StreamPublishResumed').at(-1)!;
        return { name: (live.data as { ingestNodeId: string }).ingestNodeId, why: 'carries the stream' };
      },
      async run(name) {
        const resumedBefore = (await events()).filter((e) => e.type === 'StreamPublishResumed').length;
        const drops = publisher!.drops.length;
        const killedAt = await killApp(stack, name);
        const recovered = (async (): Promise<Recovery> => {
          const resumed = await waitFor('StreamPublishResumed', async () => (await events()).filter((e) => e.type === 'StreamPublishResumed')[resumedBefore], 90_000, 250);
          const d = resumed.data as { ingestNodeId: string; lease: string };
          const resumedAt = Date.parse(resumed.occurredAt);
          // Where the time went: the publisher's drop, the resume, the transcode of the new relay.
          const transcode = await waitFor('the transcode of the resumed relay', async () => (await events()).find((e) => e.type === 'TranscodeStarted' && Date.parse(e.occurredAt) >= resumedAt), 60_000, 250).catch(() => undefined);
          const since = (at: number): string => `+${((at - killedAt) / 1000).toFixed(1)} s`;
          const drop = publisher!.drops[drops];
          return {
            recoveredAt: resumedAt,
            note: `publisher dropped ${drop ? since(drop.at) : '?'}, reconnected through HAProxy (${publisher!.drops.length - drops} drop(s)); resumed on ${d.ingestNodeId} ${since(resumedAt)} (lease ${d.lease}); transcode started ${transcode ? since(Date.parse(transcode.occurredAt)) : 'not seen'}`,
          };
        })();
        return { killedAt, recovered };
      },
      restore: restart,
    },
    {
      kill: 'worker',
      async target() {
        const started = (await events()).filter((e) => e.type === 'TranscodeStarted').at(-1)!;
        const pid = Number((started.data as { worker: string }).worker.split(':').at(-1));
        const name = [...stack.apps].find(([n, p]) => n.startsWith('worker-') && p.pid === pid)?.[0];
        if (!name) throw new Error(`no worker instance has pid ${pid} (${(started.data as { worker: string }).worker})`);
        return { name, why: `runs transcode attempt ${(started.data as { attempt: number }).attempt}` };
      },
      async run(name) {
        const before = (await events()).filter((e) => e.type === 'TranscodeStarted').length;
        const killedAt = await killApp(stack, name);
        const recovered = (async (): Promise<Recovery> => {
          const next = await waitFor('a new TranscodeStarted', async () => (await events()).filter((e) => e.type === 'TranscodeStarted')[before], 120_000, 250);
          const d = next.data as { attempt: number; worker: string };
          const on = [...stack.apps].find(([n, p]) => n.startsWith('worker-') && d.worker.endsWith(`:${p.pid}`))?.[0] ?? d.worker;
          return { recoveredAt: Date.parse(next.occurredAt), note: `transcode attempt ${d.attempt} on ${on} +${((Date.parse(next.occurredAt) - killedAt) / 1000).toFixed(1)} s` };
        })();
        return { killedAt, recovered };
      },
      restore: restart,
    },
    edgeStep(player),
    {
      kill: 'chat gateway',
      async target() {
        const counts = await Promise.all(['chat-1', 'chat-2'].map(async (n) => ({ n, c: (await healthOf<{ connections: number }>(appHttpUrl(stack, n, 'CHAT_PORT'))).connections })));
        const top = counts.sort((a, b) => b.c - a.c)[0]!;
        onKilledGateway = top.c;
        return { name: top.n, why: `${top.c} of the clients; ${counts.map((x) => `${x.n} ${x.c}`).join(', ')}` };
      },
      async run(name) {
        const reconnectsBefore = (await crowd!.report(0, 0)).reconnects;
        const killedAt = await killApp(stack, name);
        const recovered = (async (): Promise<Recovery> => {
          // Its clients noticed (they all lose their sockets at once), and every client is signed in again.
          await waitFor('a chat client reconnecting', async () => (await crowd!.report(0, 0)).reconnects > reconnectsBefore, 30_000, 50);
          await waitFor('every chat client signed in again', async () => (await crowd!.connected()) === CHATTERS, 60_000, 100);
          const r = await crowd!.report(0, 0);
          return { recoveredAt: Date.now(), note: `${r.reconnects - reconnectsBefore} of its ${onKilledGateway} clients reconnected through HAProxy, all ${CHATTERS} signed in` };
        })();
        return { killedAt, recovered };
      },
      restore: restart,
    },
    projectorStep(),
  ];
}

/**
 * The edge the player plays from: the Content Steering pathway of hls.js' current levels
 * (pathways are edge instance names). Its variants are relative when the master playlist came
 * from that edge (the page's origin: vite preview, then HAProxy's edge frontend), else absolute
 * on that edge directly; the row says which.
 */
function edgeStep(player: PlayerMonitor): Step {
  const { stack } = t;
  const { info } = stack;
  const via = (origin: string | undefined): string => {
    if (origin === undefined) return 'no media yet';
    const edge = Object.entries(info.edgeUrls).find(([, u]) => u === origin)?.[0];
    if (edge) return `directly from ${edge}`;
    return origin === new URL(info.webUrl).origin ? 'through the page origin and HAProxy' : `from ${origin}`;
  };
  return {
    kill: 'edge',
    async target() {
      const pathway = await player.pathway();
      const name = pathway && pathway in info.edgeUrls ? pathway : Object.keys(info.edgeUrls)[0]!;
      return { name, why: `player's pathway ${pathway}, media ${via(player.media.at(-1)?.origin)}` };
    },
    async run(name) {
      const killedAt = await killApp(stack, name);
      const recovered = (async (): Promise<Recovery> => {
        const first = await waitFor('a media response after the kill', async () => player.media.find((m) => m.at > killedAt + 100 && m.status === 200), 60_000, 100);
        return { recoveredAt: first.at, note: `next media ${via(first.origin)}; pathway now ${await player.pathway()}; ${player.media.filter((m) => m.at > killedAt && m.status !== 200).length} failed media responses` };
      })();
      return { killedAt, recovered };
    },
    restore: async (name) => { await stack.restartApp(name); },
  };
}

/** The projector holding the read models (the active one); the other must take over what it held. */
function projectorStep(): Step {
  const { stack } = t;
  const names = ['projector-1', 'projector-2'];
  let urls: Record<string, string> = {};
  let held: string[] = [];
  return {
    kill: 'projector',
    async target() {
      urls = Object.fromEntries(names.map((n) => [n, appHttpUrl(stack, n, 'HTTP_PORT')]));
      const health = await Promise.all(names.map(async (n) => ({ n, h: await healthOf<ProjectorHealth>(urls[n]!) })));
      const active = health.find((x) => x.h.projections.readmodels?.state === 'holder') ?? health.sort((a, b) => heldProjections(b.h).length - heldProjections(a.h).length)[0]!;
      held = heldProjections(active.h);
      return { name: active.n, why: `holds ${held.join(', ') || 'nothing'}; ${health.map((x) => `${x.n}: ${heldProjections(x.h).join('+') || 'standby'}`).join(', ')}` };
    },
    async run(name) {
      const standby = names.find((n) => n !== name)!;
      const killedAt = await killApp(stack, name);
      const recovered = (async (): Promise<Recovery> => {
        await waitFor(`${standby} holds ${held.join(', ')}`, async () => {
          const h = await healthOf<ProjectorHealth>(urls[standby]!);
          return held.every((p) => h.projections[p]?.state === 'holder');
        }, 60_000, 100);
        const at = Date.now();
        return { recoveredAt: at, takeoverMs: at - killedAt, note: `${standby} took over ${held.join(', ')}` };
      })();
      return { killedAt, recovered };
    },
    restore: async (name) => { await stack.restartApp(name); },
  };
}
