/**
 * The chat benchmark's load generator: one child process of `bench/chat.ts` (started with an IPC
 * channel) holding a share of the room's client WebSockets, publishing a share of the messages,
 * and measuring end-to-end latency of every delivery it receives.
 *
 * Each connection is a room member; the first P of them also authenticate and send. Every sent
 * text is `bench:<send time, ms since the epoch, 3 decimals> <load index>.<n>` where the send time
 * is `performance.timeOrigin + performance.now()`; a receiver computes latency = its own receive
 * time (same formula) − that number. Frames are scanned as bytes (no JSON.parse per delivery):
 * the first `"type":"` key of a frame is its type (neither `welcome`, `history` nor `message`
 * frames nest another `type`), and the latency stamp follows `"text":"bench:`.
 *
 * A run has three instants chosen by the orchestrator for all load processes alike (ms since the
 * epoch): `publishStart` (sending begins; warm-up), `windowStart`, `windowEnd` (sending stops).
 * A delivery counts when its message was *sent* inside the window, so every process classifies
 * a message the same way; deliveries still missing `graceMs` after `windowEnd` are lost.
 *
 * IPC: see {@link LoadCommand} and {@link LoadReply}. Options come with each command; nothing is
 * read from the environment except LOAD_CLIENT (`raw`, the default: bench/raw-ws.ts; or `ws`).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { parseJwtKeys, signAccessToken, type JwtKey } from '@live/auth';
import { Histogram, type SparseHistogram } from './histogram.js';
import { RawWebSocket } from './raw-ws.js';

/** Opens this process's connections. */
export interface ConnectCommand {
  readonly cmd: 'connect';
  /** Room URLs, one per server; connection with global index g goes to `urls[g % urls.length]`. */
  readonly urls: readonly string[];
  /** Connections this process holds. */
  readonly count: number;
  /** How many of them to open now (the first ones); {@link GrowCommand} opens the rest. */
  readonly open: number;
  /** Global index of this process's first connection. */
  readonly firstIndex: number;
  /** New connections per second from this process. */
  readonly openPerSecond: number;
}

/** Makes the first `publishers` connections authenticated senders (idempotent; only new ones authenticate). */
export interface AuthCommand {
  readonly cmd: 'auth';
  readonly publishers: number;
  /** `JWT_KEYS` form of the servers' key ring (`kid:secret[,…]`). */
  readonly jwtKeys: string;
}

/** Publishes and measures one run (times in ms since the epoch, see the module comment). */
export interface RunCommand {
  readonly cmd: 'run';
  /** Messages per second this process sends, spread evenly over its publishers. */
  readonly rate: number;
  /** Senders to use (must have been authenticated with {@link AuthCommand}). */
  readonly publishers: number;
  readonly publishStart: number;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** How long after `windowEnd` deliveries still count, ms. */
  readonly graceMs: number;
}

/** Resolves once no chat message frame has arrived for `quietMs` (or `maxMs` passed). */
export interface DrainCommand {
  readonly cmd: 'drain';
  readonly quietMs: number;
  readonly maxMs: number;
}

/** Opens this process's connections up to index `upTo` (exclusive); answered with {@link ConnectedReply}. */
export interface GrowCommand {
  readonly cmd: 'grow';
  readonly upTo: number;
  readonly openPerSecond: number;
}

/** Reopens every connection that has closed (e.g. dropped as a slow consumer by an overloaded step). */
export interface HealCommand {
  readonly cmd: 'heal';
  readonly openPerSecond: number;
}

/** Closes every connection and exits. */
export interface ExitCommand {
  readonly cmd: 'exit';
}

/** Messages the orchestrator sends to a load process. */
export type LoadCommand = ConnectCommand | GrowCommand | AuthCommand | RunCommand | DrainCommand | HealCommand | ExitCommand;

/** Answer to {@link ConnectCommand} and {@link GrowCommand}: connections that got their `welcome` frame, and why others failed (first 5 reasons). */
export interface ConnectedReply {
  readonly type: 'connected';
  readonly connected: number;
  readonly failed: number;
  readonly failures: readonly string[];
  /** Wall time to open them all, ms. */
  readonly ms: number;
}

/** Answer to {@link HealCommand}: connections reopened and failed (first 5 reasons). */
export interface HealedReply {
  readonly type: 'healed';
  /** How the reopened connections had closed: `<code> <reason>` → count. */
  readonly closeInfo: Readonly<Record<string, number>>;
  readonly reopened: number;
  readonly failed: number;
  readonly failures: readonly string[];
}

/** Answer to {@link AuthCommand}. */
export interface AuthedReply {
  readonly type: 'authed';
  readonly publishers: number;
  readonly failures: readonly string[];
}

/** Answer to {@link RunCommand}. */
export interface RunResult {
  readonly type: 'result';
  /** Messages this process sent inside the window. */
  readonly sent: number;
  /** Messages it sent in the whole run (warm-up included). */
  readonly sentTotal: number;
  /** Deliveries of in-window messages received by this process's connections within the grace period. */
  readonly delivered: number;
  /** Latency histogram of those deliveries, ms. */
  readonly latency: SparseHistogram;
  /** Fewest / most in-window deliveries of a single connection. */
  readonly minPerConnection: number;
  readonly maxPerConnection: number;
  /** `ack` frames received during the run. */
  readonly acks: number;
  /** `error` frames received during the run, by code (e.g. RATE_LIMITED). */
  readonly errors: Readonly<Record<string, number>>;
  /** Connections that closed during the run (should be 0), with their close codes. */
  readonly closed: number;
  readonly closeCodes: Readonly<Record<string, number>>;
  /** Connections open at the end. */
  readonly open: number;
  /** CPU time of this process inside the window, ms (user + system). */
  readonly cpuMs: number;
  /** Event-loop delay inside the window: p99 and max, ms (a saturated load generator shows here first). */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  /** Sends that happened more than 50 ms after their scheduled time (publisher starved). */
  readonly lateSends: number;
}

/** Answer to {@link DrainCommand}. */
export interface DrainedReply {
  readonly type: 'drained';
  readonly ms: number;
  readonly quiet: boolean;
}

/** An unrecoverable error of the load process (it exits after sending it). */
export interface FatalReply {
  readonly type: 'fatal';
  readonly message: string;
}

/** Messages a load process sends to the orchestrator. */
export type LoadReply = ConnectedReply | AuthedReply | RunResult | DrainedReply | HealedReply | FatalReply;

interface Client {
  send(text: string): void;
  close(): void;
}

interface Conn {
  readonly index: number;
  client: Client | null;
  welcomed: boolean;
  closed: boolean;
  /** Close code and reason once closed. */
  closeInfo: string;
  authed: boolean;
  authWaiter: ((err: string | null) => void) | null;
}

const TYPE_KEY = Buffer.from('"type":"');
const MESSAGE_TYPE = Buffer.from('message"');
const TEXT_MARK = Buffer.from('"text":"bench:');
const MESSAGE_PREFIX = Buffer.from('{"type":"message",');
const TEXT_PREFIX = 'bench:';

const useWs = process.env.LOAD_CLIENT === 'ws';
const ORIGIN = performance.timeOrigin;
const now = (): number => ORIGIN + performance.now();

let loadIndex = 0;
const conns: Conn[] = [];
let perConn = new Uint32Array(0);
const histogram = new Histogram();
let jwtRing: JwtKey[] | null = null;

// Counters of the current run.
let run: RunCommand | null = null;
let delivered = 0;
let acks = 0;
let errors: Record<string, number> = {};
let closed = 0;
let closeCodes: Record<string, number> = {};
let lastMessageAt = 0;

function reply(msg: LoadReply): void {
  process.send?.(msg);
}

function fatal(err: unknown): void {
  reply({ type: 'fatal', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}

/** Parses the decimal number at `buf[at..]` (digits, optional fraction) without allocating. */
function parseStamp(buf: Buffer, at: number): number {
  let v = 0;
  let i = at;
  let c = buf[i];
  while (c !== undefined && c >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    c = buf[++i];
  }
  if (c === 0x2e) {
    let scale = 0.1;
    c = buf[++i];
    while (c !== undefined && c >= 0x30 && c <= 0x39) {
      v += (c - 0x30) * scale;
      scale /= 10;
      c = buf[++i];
    }
  }
  return i === at ? Number.NaN : v;
}

/** True when `buf[at..]` starts with `prefix` (a JS loop: cheaper than a native call for a few bytes). */
function startsWith(buf: Buffer, at: number, end: number, prefix: Buffer): boolean {
  if (end - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

function onDelivery(conn: Conn, buf: Buffer, stampAt: number): void {
  const sentAt = parseStamp(buf, stampAt);
  const at = now();
  lastMessageAt = at;
  const r = run;
  if (r && sentAt >= r.windowStart && sentAt < r.windowEnd) {
    histogram.record(at - sentAt);
    delivered++;
    perConn[conn.index]!++;
  }
}

/** One message from the server: `buf[start..end)` (only valid during the call). */
function onFrame(conn: Conn, buf: Buffer, start: number, end: number): void {
  // Fast path: both servers serialise the frame type first (`{"type":"message",...`).
  if (startsWith(buf, start, end, MESSAGE_PREFIX)) {
    const m = buf.indexOf(TEXT_MARK, start + MESSAGE_PREFIX.length);
    if (m >= 0 && m + TEXT_MARK.length < end) onDelivery(conn, buf, m + TEXT_MARK.length);
    return;
  }
  const data = buf.subarray(start, end);
  const p = data.indexOf(TYPE_KEY);
  const t = p + TYPE_KEY.length;
  if (p >= 0 && data.compare(MESSAGE_TYPE, 0, MESSAGE_TYPE.length, t, t + MESSAGE_TYPE.length) === 0) {
    const m = data.indexOf(TEXT_MARK, t);
    if (m >= 0) onDelivery(conn, data, m + TEXT_MARK.length);
    return;
  }
  // Everything else is rare (welcome, history, ack, error, authenticated): parse it properly.
  let frame: { type?: string; code?: string; ref?: string; message?: string };
  try {
    frame = JSON.parse(data.toString('utf8')) as typeof frame;
  } catch {
    return;
  }
  switch (frame.type) {
    case 'welcome':
      conn.welcomed = true;
      pendingOpen.get(conn)?.(null);
      return;
    case 'authenticated':
      conn.authed = true;
      conn.authWaiter?.(null);
      return;
    case 'ack':
      if (run) acks++;
      return;
    case 'error':
      if (frame.ref === 'auth' && conn.authWaiter) {
        conn.authWaiter(`${frame.code ?? '?'}: ${frame.message ?? ''}`);
        return;
      }
      if (run) errors[frame.code ?? '?'] = (errors[frame.code ?? '?'] ?? 0) + 1;
      return;
    default:
      return;
  }
}

const pendingOpen = new Map<Conn, (err: string | null) => void>();

function onClosed(conn: Conn, code: number, reason: string): void {
  if (conn.closed) return;
  conn.closed = true;
  conn.closeInfo = `${code}${reason ? ` ${reason}` : ''}`;
  conn.client = null;
  const wait = pendingOpen.get(conn);
  if (wait) {
    wait(`closed ${code}${reason ? ` ${reason}` : ''} before welcome`);
    return;
  }
  if (conn.welcomed && !exiting) {
    closed++;
    closeCodes[String(code)] = (closeCodes[String(code)] ?? 0) + 1;
  }
  conn.authWaiter?.(`closed ${code}`);
}

function openClient(conn: Conn, url: string): Client {
  if (useWs) {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    ws.on('message', (data: Buffer) => onFrame(conn, data, 0, data.length));
    ws.on('close', (code, reason) => onClosed(conn, code, reason.toString()));
    ws.on('error', (err) => pendingOpen.get(conn)?.(err.message));
    return {
      send: (text) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      close: () => ws.close(),
    };
  }
  const raw = new RawWebSocket(url, {
    onOpen: () => undefined,
    onMessage: (buf, start, end) => onFrame(conn, buf, start, end),
    onClose: (code, reason) => onClosed(conn, code, reason),
    onError: (err) => pendingOpen.get(conn)?.(err.message),
  });
  return { send: (text) => raw.send(text), close: () => raw.close() };
}

/**
 * Opens (or reopens) the connections at `indices` at `openPerSecond`, at most 200 handshakes in
 * flight; a connection counts as open when its `welcome` frame arrives (30 s at most).
 */
async function openConnections(indices: readonly number[], openPerSecond: number): Promise<{ opened: number; failed: number; failures: string[] }> {
  const failures: string[] = [];
  let failed = 0;
  let opened = 0;
  const maxInFlight = 200;
  let inFlight = 0;
  let next = 0;
  if (indices.length === 0) return { opened, failed, failures };
  await new Promise<void>((resolveAll) => {
    const tickMs = 10;
    let budget = 0;
    const timers = new Map<Conn, NodeJS.Timeout>();
    const settle = (conn: Conn, err: string | null): void => {
      if (!pendingOpen.has(conn)) return;
      pendingOpen.delete(conn);
      clearTimeout(timers.get(conn));
      inFlight--;
      if (err === null) opened++;
      else {
        failed++;
        if (failures.length < 5) failures.push(`#${conn.index + loadIndex}: ${err}`);
        conn.client?.close();
      }
      if (opened + failed === indices.length) resolveAll();
    };
    const timer = setInterval(() => {
      budget = Math.min(budget + (openPerSecond * tickMs) / 1000, maxInFlight);
      while (budget >= 1 && next < indices.length && inFlight < maxInFlight) {
        budget--;
        const index = indices[next++]!;
        let conn = conns[index];
        if (!conn) {
          conn = { index, client: null, welcomed: false, closed: false, closeInfo: '', authed: false, authWaiter: null };
          conns[index] = conn;
        } else {
          Object.assign(conn, { client: null, welcomed: false, closed: false, closeInfo: '', authed: false, authWaiter: null });
        }
        const c = conn;
        inFlight++;
        pendingOpen.set(c, (err) => settle(c, err));
        timers.set(c, setTimeout(() => settle(c, 'no welcome within 30 s'), 30_000));
        try {
          c.client = openClient(c, urls[(loadIndex + index) % urls.length]!);
        } catch (err) {
          settle(c, (err as Error).message);
        }
      }
      if (next >= indices.length) clearInterval(timer);
    }, tickMs);
  });
  return { opened, failed, failures };
}

let urls: readonly string[] = [];

async function connectAll(cmd: ConnectCommand): Promise<ConnectedReply> {
  const started = Date.now();
  loadIndex = cmd.firstIndex;
  urls = cmd.urls;
  perConn = new Uint32Array(cmd.count);
  total = cmd.count;
  const r = await openConnections(Array.from({ length: Math.min(cmd.open, cmd.count) }, (_, i) => i), cmd.openPerSecond);
  return { type: 'connected', connected: r.opened, failed: r.failed, failures: r.failures, ms: Date.now() - started };
}

let total = 0;

async function grow(cmd: GrowCommand): Promise<ConnectedReply> {
  const started = Date.now();
  const from = conns.length;
  const upTo = Math.min(cmd.upTo, total);
  const r = await openConnections(Array.from({ length: Math.max(0, upTo - from) }, (_, i) => from + i), cmd.openPerSecond);
  return { type: 'connected', connected: r.opened, failed: r.failed, failures: r.failures, ms: Date.now() - started };
}

async function heal(cmd: HealCommand): Promise<HealedReply> {
  const closedOnes = conns.filter((c) => c.closed);
  const why: Record<string, number> = {};
  for (const c of closedOnes) why[c.closeInfo] = (why[c.closeInfo] ?? 0) + 1;
  const r = await openConnections(closedOnes.map((c) => c.index), cmd.openPerSecond);
  return { type: 'healed', reopened: r.opened, failed: r.failed, failures: r.failures, closeInfo: why };
}

async function authenticate(cmd: AuthCommand): Promise<AuthedReply> {
  jwtRing ??= parseJwtKeys(cmd.jwtKeys);
  const failures: string[] = [];
  const wanted = conns.slice(0, cmd.publishers).filter((c) => !c.authed && !c.closed);
  await Promise.all(wanted.map(async (conn) => {
    const userId = `bench-${loadIndex}-${conn.index}`;
    const { accessToken } = await signAccessToken(
      { jwtKeys: jwtRing!, accessTokenTtlSeconds: 3600 },
      { userId, username: `bench_${loadIndex}_${conn.index}`, roles: ['viewer'] },
    );
    const err = await new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve('no answer to auth within 10 s'), 10_000);
      conn.authWaiter = (e) => {
        clearTimeout(t);
        conn.authWaiter = null;
        resolve(e);
      };
      conn.client?.send(JSON.stringify({ type: 'auth', token: accessToken, ref: 'auth' }));
    });
    if (err !== null && failures.length < 5) failures.push(`${userId}: ${err}`);
  }));
  for (const c of conns.slice(0, cmd.publishers)) {
    if (c.closed && failures.length < 5) failures.push(`connection #${c.index} closed (${c.closeInfo})`);
  }
  const publishers = conns.slice(0, cmd.publishers).filter((c) => c.authed && !c.closed).length;
  return { type: 'authed', publishers, failures };
}

async function measure(cmd: RunCommand): Promise<RunResult> {
  histogram.reset();
  perConn.fill(0);
  delivered = 0;
  acks = 0;
  errors = {};
  closed = 0;
  closeCodes = {};
  run = cmd;
  const senders = conns.slice(0, cmd.publishers).filter((c) => c.authed && !c.closed);
  if (cmd.rate > 0 && senders.length === 0) throw new Error('run: no authenticated publisher');
  let sent = 0;
  let sentTotal = 0;
  let lateSends = 0;
  let n = 0;
  const interval = 1000 / Math.max(cmd.rate, 1e-9);
  let cpuStart = process.cpuUsage();
  let cpuMs = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });

  const windowTimers = [
    setTimeout(() => {
      cpuStart = process.cpuUsage();
      loop.enable();
    }, Math.max(0, cmd.windowStart - now())),
    setTimeout(() => {
      const d = process.cpuUsage(cpuStart);
      cpuMs = (d.user + d.system) / 1000;
      loop.disable();
    }, Math.max(0, cmd.windowEnd - now())),
  ];

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = now();
      // Send every message that is due (catching up after a late timer), then sleep until the next.
      while (cmd.rate > 0) {
        const due = cmd.publishStart + n * interval;
        if (due >= cmd.windowEnd || due > t) break;
        const sender = senders[n % senders.length]!;
        const sentAt = now();
        if (sentAt - due > 50) lateSends++;
        sender.client?.send(JSON.stringify({ type: 'message', text: `${TEXT_PREFIX}${sentAt.toFixed(3)} ${loadIndex}.${n}`, ref: String(n) }));
        sentTotal++;
        if (sentAt >= cmd.windowStart && sentAt < cmd.windowEnd) sent++;
        n++;
      }
      const nextDue = cmd.publishStart + n * interval;
      if (cmd.rate <= 0 || nextDue >= cmd.windowEnd) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, nextDue - now()));
    };
    setTimeout(tick, Math.max(0, cmd.publishStart - now()));
  });
  await new Promise((r) => setTimeout(r, Math.max(0, cmd.windowEnd + cmd.graceMs - now())));
  for (const t of windowTimers) clearTimeout(t);
  run = null;

  let minPer = Number.POSITIVE_INFINITY;
  let maxPer = 0;
  let open = 0;
  for (const c of conns) {
    if (!c.welcomed || c.closed) continue;
    open++;
    const v = perConn[c.index]!;
    if (v < minPer) minPer = v;
    if (v > maxPer) maxPer = v;
  }
  const loopP99 = loop.count > 0 ? loop.percentile(99) / 1e6 : 0;
  const loopMax = loop.count > 0 ? loop.max / 1e6 : 0;
  return {
    type: 'result', sent, sentTotal, delivered, latency: histogram.toSparse(),
    minPerConnection: open > 0 ? minPer : 0, maxPerConnection: maxPer,
    acks, errors, closed, closeCodes, open, cpuMs,
    loopDelayP99Ms: loopP99, loopDelayMaxMs: loopMax, lateSends,
  };
}

async function drain(cmd: DrainCommand): Promise<DrainedReply> {
  const started = now();
  for (;;) {
    const t = now();
    if (t - Math.max(lastMessageAt, started) >= cmd.quietMs) return { type: 'drained', ms: t - started, quiet: true };
    if (t - started >= cmd.maxMs) return { type: 'drained', ms: t - started, quiet: false };
    await new Promise((r) => setTimeout(r, 100));
  }
}

let exiting = false;

function exit(): void {
  exiting = true;
  for (const c of conns) c.client?.close();
  setTimeout(() => process.exit(0), 300).unref();
}

if (!process.send) {
  console.error('bench/load.ts is started by bench/chat.ts with an IPC channel; it does nothing on its own.');
  process.exit(2);
}

// Commands run one at a time, in order.
let queue: Promise<unknown> = Promise.resolve();
process.on('message', (msg: LoadCommand) => {
  queue = queue.then(async () => {
    switch (msg.cmd) {
      case 'connect': reply(await connectAll(msg)); break;
      case 'grow': reply(await grow(msg)); break;
      case 'auth': reply(await authenticate(msg)); break;
      case 'run': reply(await measure(msg)); break;
      case 'drain': reply(await drain(msg)); break;
      case 'heal': reply(await heal(msg)); break;
      case 'exit': exit(); break;
    }
  }).catch(fatal);
});
process.on('disconnect', () => exit());
process.on('uncaughtException', fatal);
