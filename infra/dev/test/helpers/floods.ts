/**
 * The attacker's side of the abuse test (issue 15 item 7): bounded floods against a running
 * stack, each reporting what the attacker got. Connections are spread over loopback source
 * addresses (`127.0.<n>.<m>`: Linux routes all of 127/8 to loopback, so every one of them is a
 * distinct client address to the nodes), as a botnet's would be.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';

/** The `i`-th attacker source address: 127.0.1.1, 127.0.1.2, … (never 127.0.0.1, the test's own). */
export function attackerAddress(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** RTMP handshake sizes (Adobe RTMP specification §5.2): C0/S0 one byte, C1/S1 and C2/S2 1536. */
const C0 = 1;
const C1 = 1536;

/** One idle RTMP socket's fate: server bytes received, whether it completed the handshake, how long it stayed open (ms). */
export interface IdleSocket {
  readonly address: string;
  readonly handshaken: boolean;
  readonly receivedBytes: number;
  readonly openMs: number;
  /** Still open when the flood gave up waiting (the server never closed it). */
  readonly heldOpen: boolean;
}

/**
 * Opens `count` TCP connections to the RTMP listener at `host:port`, `perAddress` from each
 * attacker address, completes the RTMP handshake on each (C0+C1, then C2 echoing S1) and then
 * sends nothing more, as a client that never publishes. Resolves when the server has closed every
 * one, or after `giveUpMs` (the rest are destroyed and reported `heldOpen`).
 */
export async function idleRtmpSockets(host: string, port: number, o: { count: number; perAddress: number; giveUpMs: number }): Promise<IdleSocket[]> {
  const one = (address: string): Promise<IdleSocket> => new Promise((resolve) => {
    const opened = Date.now();
    let received = 0;
    let s1: Buffer | undefined;
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, localAddress: address });
    const timer = setTimeout(() => { done(true); socket.destroy(); }, o.giveUpMs);
    let settled = false;
    const done = (heldOpen: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ address, handshaken: s1 !== undefined, receivedBytes: received, openMs: Date.now() - opened, heldOpen });
    };
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(8), randomBytes(C1 - 8)])));
    socket.on('data', (d) => {
      received += d.length;
      if (s1) return;
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= C0 + C1) {
        s1 = all.subarray(C0, C0 + C1);
        socket.write(s1); // C2: the echo of S1
      }
    });
    socket.on('error', () => { /* a reset is a close: reported by 'close' */ });
    socket.on('close', () => done(false));
  });
  return Promise.all(Array.from({ length: o.count }, (_, i) => one(attackerAddress(Math.floor(i / o.perAddress)))));
}

/** One attacker request's answer: HTTP status (0: no answer) and how long it took, ms. */
export interface FloodAnswer {
  readonly status: number;
  readonly ms: number;
}

/**
 * Sends every URL of `urls` at once, as GET from attacker addresses (`perAddress` requests from
 * each, every request on its own connection), and resolves with every answer.
 */
export async function httpFlood(urls: readonly string[], perAddress: number): Promise<FloodAnswer[]> {
  return Promise.all(urls.map((url, i) => new Promise<FloodAnswer>((resolve) => {
    const t0 = performance.now();
    const req = request(url, { localAddress: attackerAddress(Math.floor(i / perAddress)), agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end();
  })));
}

/** Invalid chat frames, in turn: not JSON, binary, an unknown type, a message whose text is a number. */
const JUNK: ReadonlyArray<string | Buffer> = ['{"type":"message","text":', randomBytes(64), '{"type":"launch_missiles"}', '{"type":"message","text":5}'];

/** One junk connection's fate: frames sent, error codes answered, the close code. */
export interface JunkConnection {
  readonly sent: number;
  readonly errors: readonly string[];
  readonly closeCode: number;
}

/**
 * Sends `frames` invalid frames to the chat room at `socketUrl` at about `perSecond` frames a
 * second in all, over `lanes` sockets at once (each sending `perSecond / lanes` a second). When
 * the gateway closes a lane's socket, the lane opens a new one from the next attacker address,
 * until every frame is sent. Resolves with every socket's fate once each is closed.
 */
export async function junkChatFrames(socketUrl: string, o: { frames: number; perSecond: number; lanes: number }): Promise<JunkConnection[]> {
  const out: JunkConnection[] = [];
  let sent = 0;
  let sockets = 0;
  const intervalMs = (1000 * o.lanes) / o.perSecond;
  const socket = (): Promise<JunkConnection> => new Promise((resolve) => {
    const ws = new WebSocket(socketUrl, { localAddress: attackerAddress(sockets++) });
    const errors: string[] = [];
    let mine = 0;
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      timer = setInterval(() => {
        if (sent >= o.frames) { clearInterval(timer); ws.close(1000); return; }
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(JUNK[mine % JUNK.length]!);
        mine++;
        sent++;
      }, intervalMs);
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; code?: string };
      if (frame.type === 'error') errors.push(frame.code ?? '?');
    });
    ws.on('error', () => { /* reported by 'close' */ });
    ws.on('close', (code) => { clearInterval(timer); resolve({ sent: mine, errors, closeCode: code }); });
  });
  const lane = async (): Promise<void> => {
    while (sent < o.frames) out.push(await socket());
  };
  await Promise.all(Array.from({ length: o.lanes }, lane));
  return out;
}

/**
 * Opens `count` WebSockets to `socketUrl`, all from one attacker address (`attackerAddress(k)`),
 * keeps the ones the gateway accepts open until every attempt is answered, then closes them.
 * Resolves with how many were accepted and the HTTP status of each refused upgrade.
 */
export async function chatSocketsFromOneAddress(socketUrl: string, o: { count: number; addressIndex: number }): Promise<{ accepted: number; refused: number[] }> {
  const open: WebSocket[] = [];
  const refused: number[] = [];
  await Promise.all(Array.from({ length: o.count }, () => new Promise<void>((resolve) => {
    const ws = new WebSocket(socketUrl, { localAddress: attackerAddress(o.addressIndex) });
    ws.on('open', () => { open.push(ws); resolve(); });
    ws.on('unexpected-response', (_req, res) => { refused.push(res.statusCode ?? 0); res.resume(); resolve(); });
    ws.on('error', () => resolve());
  })));
  for (const ws of open) ws.close(1000);
  return { accepted: open.length, refused };
}

/**
 * A password spray: every password of `passwords` against every account of `usernames`
 * (`POST /api/users/login`), from the attacker addresses `sprayFrom` in turn (as the client
 * address the API believes: `X-Forwarded-For`, which it takes from loopback), `concurrency` at a
 * time. Resolves with each attempt's HTTP status.
 */
export async function passwordSpray(apiUrl: string, usernames: readonly string[], o: { passwords: readonly string[]; sprayFrom: readonly string[]; concurrency: number }): Promise<number[]> {
  const attempts = o.passwords.flatMap((password) => usernames.map((username) => ({ username, password })));
  const statuses: number[] = new Array(attempts.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < attempts.length) {
      const i = next++;
      const res = await fetch(`${apiUrl}/api/users/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': o.sprayFrom[i % o.sprayFrom.length]! },
        body: JSON.stringify(attempts[i]),
      }).catch(() => undefined);
      await res?.arrayBuffer();
      statuses[i] = res?.status ?? 0;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return statuses;
}
