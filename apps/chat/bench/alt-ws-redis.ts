/**
 * The chat benchmark's baseline: the simplest well-known design for a multi-process chat room,
 * one Node process running a `ws` WebSocketServer, fanning out through Redis pub/sub. Every
 * message a client sends is PUBLISHed to the Redis channel `room:<channelId>`; every process
 * SUBSCRIBEs to the rooms it has members in and, for each message, loops over its local members
 * calling `client.send(data)`. No persistence, no history, no moderation.
 *
 * It speaks the subset of the gateway protocol (events/src/chat.ts) the benchmark uses, with the
 * same frame shapes: `welcome` and an empty `history` on connect; `auth` (an access token
 * verified with @live/auth against JWT_KEYS, like the gateway) answered by `authenticated`;
 * `message` answered by `ack` to the sender and delivered to every member as
 * `{ type: 'message', id, seq, kind, userId, username, text, at }`. `seq` is a per-process
 * counter (no global order: there is no log), `id` a random UUID.
 *
 * The one deliberate non-naive choice: frames are received from Redis as Buffers
 * (`messageBuffer`) and sent as text frames from that one Buffer, so the fan-out does not encode
 * the string once per member; that is what anyone measuring would fix first, and leaving it in
 * would flatter our gateway.
 *
 * Environment: ALT_PORT (listen port on 127.0.0.1), REDIS_URL (`redis://127.0.0.1:<port>`),
 * JWT_KEYS, GATEWAY_ID. Serves `GET /healthz` (200 once both Redis connections are ready) and
 * WebSockets on `/chat/<channelId>`. Started by bench/chat.ts; exits on SIGTERM/SIGINT.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { WebSocketServer, WebSocket } from 'ws';
import { parseJwtKeys, verifyAccessToken, type AuthUser } from '@live/auth';
import { CHAT_MAX_FRAME_BYTES, CHAT_MAX_MESSAGE_LENGTH, DEFAULT_CHAT_SETTINGS } from '@live/events';

const port = Number(process.env.ALT_PORT);
const redisUrl = process.env.REDIS_URL;
const gatewayId = process.env.GATEWAY_ID ?? `alt-${process.pid}`;
if (!Number.isInteger(port) || port <= 0 || !redisUrl || !process.env.JWT_KEYS) {
  console.error('alt-ws-redis: ALT_PORT, REDIS_URL and JWT_KEYS are required');
  process.exit(2);
}
const jwtKeys = parseJwtKeys(process.env.JWT_KEYS);

const pub = new Redis(redisUrl, { lazyConnect: true, enableAutoPipelining: true });
const sub = new Redis(redisUrl, { lazyConnect: true });
const rooms = new Map<string, Set<WebSocket>>();
let seq = 0;
let connectionSeq = 0;

const ROOM_PREFIX = 'room:';

sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
  const members = rooms.get(channel.toString('utf8', ROOM_PREFIX.length));
  if (!members) return;
  for (const client of members) {
    if (client.readyState === WebSocket.OPEN) client.send(message, { binary: false });
  }
});

function join(room: string, ws: WebSocket): void {
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
    void sub.subscribe(ROOM_PREFIX + room);
  }
  members.add(ws);
}

function leave(room: string, ws: WebSocket): void {
  const members = rooms.get(room);
  if (!members) return;
  members.delete(ws);
  if (members.size === 0) {
    rooms.delete(room);
    void sub.unsubscribe(ROOM_PREFIX + room);
  }
}

function sendJson(ws: WebSocket, frame: object): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: CHAT_MAX_FRAME_BYTES, clientTracking: false });

wss.on('connection', (ws: WebSocket, room: string) => {
  let user: AuthUser | null = null;
  join(room, ws);
  sendJson(ws, { type: 'welcome', room, connectionId: `${gatewayId}-${++connectionSeq}`, settings: DEFAULT_CHAT_SETTINGS, viewers: rooms.get(room)?.size ?? 0 });
  sendJson(ws, { type: 'history', messages: [], complete: true });
  ws.on('close', () => leave(room, ws));
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    if (isBinary) return sendJson(ws, { type: 'error', code: 'BINARY_NOT_SUPPORTED', message: 'text frames only' });
    let frame: { type?: unknown; token?: unknown; text?: unknown; ref?: unknown };
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      return sendJson(ws, { type: 'error', code: 'BAD_FRAME', message: 'not JSON' });
    }
    const ref = typeof frame.ref === 'string' ? frame.ref : undefined;
    if (frame.type === 'auth' && typeof frame.token === 'string') {
      verifyAccessToken({ jwtKeys }, frame.token).then(
        (u) => {
          user = u;
          sendJson(ws, { type: 'authenticated', userId: u.userId, username: u.username, moderator: false, ref });
        },
        (err: { code?: string }) => sendJson(ws, { type: 'error', code: err.code ?? 'TOKEN_INVALID', message: 'token refused', ref }),
      );
      return;
    }
    if (frame.type === 'message' && typeof frame.text === 'string') {
      if (!user) return sendJson(ws, { type: 'error', code: 'AUTH_REQUIRED', message: 'send auth first', ref });
      if (frame.text.length === 0 || [...frame.text].length > CHAT_MAX_MESSAGE_LENGTH) {
        return sendJson(ws, { type: 'error', code: 'MESSAGE_TOO_LONG', message: 'bad length', ref });
      }
      const id = randomUUID();
      const line = { type: 'message', id, seq: ++seq, kind: 'message', userId: user.userId, username: user.username, text: frame.text, at: new Date().toISOString() };
      void pub.publish(ROOM_PREFIX + room, JSON.stringify(line));
      sendJson(ws, { type: 'ack', ref, id, status: 'accepted' });
      return;
    }
    sendJson(ws, { type: 'error', code: 'UNKNOWN_TYPE', message: 'unsupported frame', ref });
  });
});

let ready = false;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok' : 'starting');
    return;
  }
  res.writeHead(404).end();
});
server.on('upgrade', (req, socket, head) => {
  const m = /^\/chat\/([A-Za-z0-9_-]{1,64})(?:\?.*)?$/.exec(req.url ?? '');
  if (!m) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, m[1]!));
});

await Promise.all([pub.connect(), sub.connect()]);
server.listen(port, '127.0.0.1', () => {
  ready = true;
});

const shutdown = (): void => {
  server.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
