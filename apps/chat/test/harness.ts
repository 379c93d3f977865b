/**
 * Real back ends for the chat tests: nats-server and PostgreSQL on free ports (from @live/dev),
 * the migrated schema, the streams, the read-model projector and the presence aggregator; chat
 * gateways as separate processes (`apps/chat/src/main.ts`), and a small WebSocket client.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { signAccessToken, type JwtKey } from '@live/auth';
import { channelSubject, domainEvent, systemClock, userSubject, type ChatServerFrame } from '@live/events';
import { createDb, migrateToLatest, waitForProjection, type Db } from '@live/db';
import { ManagedProcess, freePort, startServices, waitForHttp, type RunningServices } from '@live/dev';
import { appendEvent, connectMessaging, ensureEventStreams, type Messaging, type RunningConsumer } from '@live/messaging';
import { startPresenceAggregator, startProjector } from '@live/projector';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The key ring the gateways are started with. */
export const TEST_JWT_KEYS: readonly JwtKey[] = [{ kid: 'chat-test', secret: 'chat-test-secret-0123456789-abcdefghij' }];

/** Running back ends for one test file. */
export interface ChatBackends {
  readonly services: RunningServices;
  readonly db: Db;
  readonly messaging: Messaging;
  readonly projector: RunningConsumer;
  stop(): Promise<void>;
}

/** Starts nats-server, PostgreSQL, the projector and the presence aggregator. */
export async function startChatBackends(name: string, logger: Logger): Promise<ChatBackends> {
  // NATS with the platform's users: the test connects as the admin, the projector and the
  // presence aggregator as the projector, the gateways (processes) as chat.
  const services = await startServices({ logger, name, natsAuth: true, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  const db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  const messaging = await connectMessaging(services.endpoints.natsUrl, name, services.natsAuth('bootstrap'));
  await ensureEventStreams(messaging.jsm);
  const projectorMessaging = await connectMessaging(services.endpoints.natsUrl, `${name}-projector`, services.natsAuth('projector'));
  const projector = await startProjector({ db, messaging: projectorMessaging, logger, durable: `${name}-projector` });
  const presence = await startPresenceAggregator({ messaging: projectorMessaging, logger });
  return {
    services, db, messaging, projector,
    async stop() {
      await presence.stop();
      await projector.stop();
      await projectorMessaging.close();
      await messaging.close();
      await db.destroy();
      await services.stop();
    },
  };
}

/** Registers users (as events; ids double as usernames) and waits for the read model. */
export async function registerUsers(b: ChatBackends, userIds: readonly string[]): Promise<void> {
  let seq = 0;
  for (const userId of userIds) {
    const data = { userId, username: userId.replace(/-/g, '_'), email: `${userId}@example.test`, displayName: userId, passwordHash: 'not-a-real-hash', roles: [] };
    seq = (await appendEvent(b.messaging.js, domainEvent(systemClock, 'UserRegistered', userSubject(userId), data, { producer: 'test' }))).seq;
  }
  if (!(await waitForProjection(b.db, seq, 10_000))) throw new Error('the projector did not project the users');
}

/** Creates a channel owned by `ownerUserId` (as events; owner and moderators registered first) and waits for the read model. */
export async function createChannel(b: ChatBackends, channelId: string, ownerUserId: string, moderatorIds: readonly string[] = []): Promise<void> {
  const known = await b.db.selectFrom('users').select('id').where('id', 'in', [ownerUserId, ...moderatorIds]).execute();
  await registerUsers(b, [ownerUserId, ...moderatorIds].filter((id) => !known.some((k) => k.id === id)));
  let seq = 0;
  const subject = channelSubject(channelId);
  seq = (await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChannelCreated', subject, { channelId, ownerUserId, displayName: channelId }, { producer: 'test' }))).seq;
  for (const userId of moderatorIds) {
    seq = (await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChannelModeratorAdded', subject, { channelId, userId, actorUserId: ownerUserId }, { producer: 'test' }))).seq;
  }
  if (!(await waitForProjection(b.db, seq, 10_000))) throw new Error('the projector did not project the channel');
}

/** A gateway process. */
export interface GatewayProcess {
  readonly port: number;
  readonly url: string;
  readonly process: ManagedProcess;
  /** SIGKILL, no clean-up. */
  kill(): void;
  stop(): Promise<void>;
}

/** Spawns `apps/chat/src/main.ts` on a free port and waits for `/healthz`. */
export async function spawnGateway(b: ChatBackends, gatewayId: string, logger: Logger, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const port = await freePort();
  const proc = new ManagedProcess({
    service: `chat-${gatewayId}`, command: process.execPath, args: ['--import', 'tsx', 'apps/chat/src/main.ts'], cwd: REPO_ROOT, logger,
    env: {
      ...process.env, NATS_URL: b.services.endpoints.natsUrl, NATS_USER: b.services.natsCredentials?.chat?.user ?? '', NATS_PASSWORD: b.services.natsCredentials?.chat?.password ?? '', DATABASE_URL: b.services.endpoints.databaseUrl,
      JWT_KEYS: TEST_JWT_KEYS.map((k) => `${k.kid}:${k.secret}`).join(','), CHAT_PORT: String(port), GATEWAY_ID: gatewayId, LOG_LEVEL: process.env.TEST_GATEWAY_LOG_LEVEL ?? 'warn', ...env,
    },
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, proc, 30_000);
  return {
    port, url: `ws://127.0.0.1:${port}`, process: proc,
    kill: () => process.kill(proc.pid, 'SIGKILL'),
    stop: () => proc.stop(),
  };
}

/** Signs an access token for a test user. */
export async function tokenFor(userId: string, roles: ReadonlyArray<'viewer' | 'streamer' | 'admin'> = ['viewer']): Promise<string> {
  return (await signAccessToken({ jwtKeys: TEST_JWT_KEYS, accessTokenTtlSeconds: 3600 }, { userId, username: userId, roles: [...roles] })).accessToken;
}

/** A socket closed by the gateway (1006) before it sent anything. */
class EarlyCloseError extends Error {}

/** A WebSocket client that records every frame it receives. */
export class ChatClient {
  readonly frames: ChatServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  /** The last socket error (a protocol error the client detected, a reset). */
  error: Error | undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.frames.push(JSON.parse(isBinary ? '{"type":"binary"}' : data.toString()) as ChatServerFrame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', (err) => {
      this.error = err;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Opens `/chat/<room>` on a gateway and waits for `history`; with `token`, also signs in.
   * A socket closed with 1006 before its first frame is opened once more, as every real client
   * reconnects: uWS rarely drops a socket right after an asynchronous upgrade
   * (uNetworking/uWebSockets#1928; see the README's known limits).
   */
  static async connect(gatewayUrl: string, room: string, opts: { token?: string; after?: number } = {}): Promise<ChatClient> {
    try {
      return await ChatClient.open(gatewayUrl, room, opts);
    } catch (err) {
      if (!(err instanceof EarlyCloseError)) throw err;
      return ChatClient.open(gatewayUrl, room, opts);
    }
  }

  private static async open(gatewayUrl: string, room: string, opts: { token?: string; after?: number }): Promise<ChatClient> {
    const ws = new WebSocket(`${gatewayUrl}/chat/${room}${opts.after !== undefined ? `?after=${opts.after}` : ''}`);
    const c = new ChatClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    try {
      await c.waitFor((f) => f.type === 'history');
    } catch (err) {
      if (c.closed?.code === 1006 && c.frames.length === 0) throw new EarlyCloseError();
      throw err;
    }
    if (opts.token) {
      c.send({ type: 'auth', token: opts.token });
      await c.waitFor((f) => f.type === 'authenticated' || f.type === 'error');
    }
    return c;
  }

  /** Sends one frame (an object is JSON-encoded; a string or buffer goes as is). */
  send(frame: unknown, opts: { binary?: boolean } = {}): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame), { binary: opts.binary ?? false });
  }

  /** Waits for a frame received after index `from` matching `pred`. */
  async waitFor<F extends ChatServerFrame>(pred: (f: ChatServerFrame) => f is F, timeoutMs?: number, from?: number): Promise<F>;
  async waitFor(pred: (f: ChatServerFrame) => boolean, timeoutMs?: number, from?: number): Promise<ChatServerFrame>;
  async waitFor(pred: (f: ChatServerFrame) => boolean, timeoutMs = 10_000, from = 0): Promise<ChatServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.slice(from).find(pred);
      if (f) return f;
      if (this.closed) throw new Error(`socket ${this.ws.url} closed (${this.closed.code} ${this.closed.reason}${this.error ? `; ${this.error.message}` : ''}) after ${this.frames.length} frames (${this.frames.map((f) => f.type).join(',')}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; last frames: ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Sends a frame with a fresh `ref` and waits for the ack, error or slow_mode answering it. */
  async request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<ChatServerFrame> {
    const ref = `r${Math.random().toString(36).slice(2)}`;
    const from = this.frames.length;
    this.send({ ...frame, ref });
    return this.waitFor((f) => 'ref' in f && f.ref === ref, timeoutMs, from);
  }

  /** The chat lines received (history and live), in arrival order. */
  lines(): Array<{ id: string; seq: number; text: string; userId: string }> {
    const out: Array<{ id: string; seq: number; text: string; userId: string }> = [];
    for (const f of this.frames) {
      if (f.type === 'history') out.push(...f.messages);
      else if (f.type === 'message' || f.type === 'emote') out.push(f);
    }
    return out;
  }

  close(): void {
    this.ws.close();
  }
}
