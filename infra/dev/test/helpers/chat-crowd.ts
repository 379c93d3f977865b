/**
 * Fifty (or any number of) chat clients talking in one room, for the chaos test. The users are
 * registered through the API (`POST /api/users/register`, which answers with an access token);
 * the clients are WebSockets in a Chromium page (Node 20 has no WebSocket client, and a browser
 * is what chatters use), speaking the gateway's protocol (`@live/events` `ChatClientFrame` /
 * `ChatServerFrame`, apps/chat/src/gateway.ts):
 * - connect to `ws://<chat>/chat/<room>`, read `history`, send `auth`, wait for `authenticated`;
 * - every `periodMs` (jittered) send `{ type: 'message', text, ref }` with a unique text; the
 *   gateway answers `ack` (or `error`), every member of the room gets the `message`;
 * - a client whose socket closes reconnects (0.5–1 s later) with `?after=<last seq seen>`, so
 *   the gateway's `history` brings what it missed; a message it had sent without an `ack` is
 *   sent again unless that history shows it was accepted; `UNAVAILABLE` and `RATE_LIMITED` are
 *   retried after `retryAfterMs` (or 1 s); any other error refuses the message for good.
 * A message is lost when a client never receives it (live or in a resume's history), refused
 * messages included: every text is unique, so nothing a client sends should be refused.
 */
import type { Browser, Page } from 'playwright-core';

/** A chatter: a registered user and its access token. */
export interface Chatter {
  readonly userId: string;
  readonly username: string;
  readonly token: string;
}

/**
 * Registers `count` users through the API (`POST /api/users/register`, `concurrency` at a time)
 * and returns them with their access tokens.
 * @throws Error naming the user and the API's answer when a registration is refused.
 */
export async function registerChatters(apiUrl: string, count: number, prefix: string, concurrency = 4): Promise<Chatter[]> {
  const out: Chatter[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const username = `${prefix}_${i}`;
      const r = await fetch(`${apiUrl}/api/users/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, email: `${username}@example.test`, password: `pw-${username}-chaos` }),
      });
      const body = await r.json() as { user?: { userId: string }; accessToken?: string; code?: string; message?: string };
      if (r.status !== 201 || !body.user || !body.accessToken) throw new Error(`registering ${username}: HTTP ${r.status} ${JSON.stringify(body)}`);
      out[i] = { userId: body.user.userId, username, token: body.accessToken };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** What {@link ChatCrowd.report} tells about the messages first sent within a window. */
export interface ChatReport {
  /** Messages first sent in the window. */
  readonly messages: number;
  /** Of those, messages at least one client has not received. */
  readonly messagesMissing: number;
  /** (client, message) pairs not received. */
  readonly missingDeliveries: number;
  /** Extra copies received (a message seen twice by one client). */
  readonly duplicateDeliveries: number;
  /** Messages of the window neither acknowledged (nor seen back) nor refused yet. */
  readonly unacked: number;
  /** Of the messages every client received: the longest time from sending to the last client receiving it, ms. */
  readonly maxDeliveryMs: number;
  /** Clients connected and signed in now. */
  readonly connected: number;
  /** Reconnects of all clients since the start. */
  readonly reconnects: number;
  /** Resumes whose history said it was not complete (messages had left the history). */
  readonly incompleteHistories: number;
  /** Some of the messages not received everywhere (the first and last three): text, CHAT seq from the ack, when sent and acknowledged (ms), by how many clients received. */
  readonly missing: ReadonlyArray<{ text: string; seq: number | null; sentAt: number; ackedAt: number | null; refused: string | null; retried: string | null; receivedBy: number }>;
  /** Messages refused for good (an error other than UNAVAILABLE / RATE_LIMITED / DUPLICATE_MESSAGE), with the codes. */
  readonly refused: readonly string[];
}

/** The clients, in plain JavaScript (they run in the page as is); `window.__crowd`. */
const CROWD_SCRIPT = `(() => {
  if (window.__crowd) return;
  const crowd = { clients: [], sent: new Map(), refused: [], reconnects: 0, incompleteHistories: 0, stopped: false, sending: false };
  window.__crowd = crowd;
  const line = (c, m) => {
    if (typeof m.seq === 'number' && (c.lastSeq === undefined || m.seq > c.lastSeq)) c.lastSeq = m.seq;
    const s = crowd.sent.get(m.text);
    if (!s) return;
    if (!c.got.has(m.text)) s.lastDeliveredAt = Date.now();
    c.got.set(m.text, (c.got.get(m.text) || 0) + 1);
    if (s.client === c.i && !s.ackedAt) { s.ackedAt = Date.now(); c.pending.delete(m.text); }
  };
  const transmit = (c, text) => {
    const s = crowd.sent.get(text);
    s.attempts += 1;
    const ref = 'c' + c.i + '-' + s.n + '-' + s.attempts;
    c.refs.set(ref, text);
    c.pending.set(text, ref);
    c.ws.send(JSON.stringify({ type: 'message', text: text, ref: ref }));
  };
  // Sends again unless it was sent again meanwhile (after a reconnect) or has arrived.
  const retry = (c, text, ref, ms) => setTimeout(() => {
    if (crowd.stopped || !c.ready || c.pending.get(text) !== ref) return;
    const s = crowd.sent.get(text);
    if (s && !s.ackedAt && !c.got.has(text)) transmit(c, text);
  }, ms);
  const onFrame = (c, f) => {
    if (f.type === 'history') {
      if (c.resuming && !f.complete) crowd.incompleteHistories += 1;
      for (const m of f.messages) line(c, m);
      c.ws.send(JSON.stringify({ type: 'auth', token: c.user.token }));
    } else if (f.type === 'authenticated') {
      c.ready = true;
      // Sent before the socket died: accepted if the resumed history had it, else send again.
      for (const text of [...c.pending.keys()]) {
        const s = crowd.sent.get(text);
        if (c.got.has(text)) { if (!s.ackedAt) s.ackedAt = Date.now(); c.pending.delete(text); } else transmit(c, text);
      }
    } else if (f.type === 'message' || f.type === 'emote') {
      line(c, f);
    } else if (f.type === 'ack') {
      const text = c.refs.get(f.ref);
      const s = text && crowd.sent.get(text);
      if (s && !s.ackedAt) s.ackedAt = Date.now();
      if (s && typeof f.seq === 'number') s.seq = f.seq;
      if (text) c.pending.delete(text);
    } else if (f.type === 'error') {
      const text = f.ref && c.refs.get(f.ref);
      const s = text && crowd.sent.get(text);
      if (!s) { crowd.refused.push(f.code + ' (client ' + c.i + ')'); return; }
      if (f.code === 'UNAVAILABLE' || f.code === 'RATE_LIMITED') { s.retried = (s.retried || '') + f.code + ' '; retry(c, text, f.ref, f.retryAfterMs || 1000); }
      // Anything else is a refusal for good (DUPLICATE_MESSAGE too: every text is new, so the earlier attempt it matches was refused or unanswered).
      else { crowd.refused.push(f.code + (s.retried ? ' after ' + s.retried.trim() : '')); c.pending.delete(text); s.refused = f.code; }
    }
  };
  const connect = (c) => {
    c.attempts += 1;
    c.resuming = c.lastSeq !== undefined;
    const ws = new WebSocket(crowd.url + (c.resuming ? '?after=' + c.lastSeq : ''));
    c.ws = ws;
    ws.onmessage = (ev) => { try { const f = JSON.parse(ev.data); c.lastFrame = f.type === 'error' ? f.code : f.type; onFrame(c, f); } catch (err) { crowd.refused.push('client error ' + err); } };
    ws.onclose = (ev) => {
      c.lastClose = ev.code + ' ' + ev.reason;
      if (c.ws !== ws) return;
      const was = c.ready;
      c.ready = false;
      if (crowd.stopped) return;
      if (was) crowd.reconnects += 1;
      setTimeout(() => connect(c), 500 + Math.random() * 500);
    };
  };
  const tick = (c) => {
    if (crowd.stopped) return;
    if (crowd.sending && c.ready) {
      c.n += 1;
      const text = 'chaos ' + c.i + ' ' + c.n;
      crowd.sent.set(text, { client: c.i, n: c.n, firstAt: Date.now(), ackedAt: 0, attempts: 0 });
      transmit(c, text);
    }
    setTimeout(() => tick(c), crowd.periodMs * (0.5 + Math.random()));
  };
  crowd.start = (url, users, periodMs) => {
    crowd.url = url;
    crowd.periodMs = periodMs;
    users.forEach((user, i) => {
      const c = { i: i, user: user, ws: null, ready: false, attempts: 0, lastClose: null, lastFrame: null, resuming: false, lastSeq: undefined, n: 0, got: new Map(), pending: new Map(), refs: new Map() };
      crowd.clients.push(c);
      connect(c);
      setTimeout(() => tick(c), Math.random() * periodMs);
    });
  };
  crowd.connected = () => crowd.clients.filter((c) => c.ready).length;
  crowd.diagnose = () => {
    const n = new Map();
    for (const c of crowd.clients) {
      const k = (c.ready ? 'ready' : 'not ready') + ', last frame ' + c.lastFrame + ', last close ' + c.lastClose;
      n.set(k, (n.get(k) || 0) + 1);
    }
    return [...n].map(([k, v]) => v + ' clients: ' + k).join('; ') + '; attempts ' + crowd.clients.reduce((a, c) => a + c.attempts, 0) + '; refused ' + crowd.refused.slice(0, 5).join(', ');
  };
  crowd.report = (from, to) => {
    let messages = 0, messagesMissing = 0, missingDeliveries = 0, duplicateDeliveries = 0, unacked = 0;
    const missed = [];
    let maxDeliveryMs = 0;
    for (const [text, s] of crowd.sent) {
      if (s.firstAt < from || s.firstAt >= to) continue;
      messages += 1;
      if (!s.ackedAt && !s.refused) unacked += 1;
      let missing = 0;
      for (const c of crowd.clients) {
        const n = c.got.get(text) || 0;
        if (n === 0) missing += 1; else duplicateDeliveries += n - 1;
      }
      missingDeliveries += missing;
      if (missing === 0) maxDeliveryMs = Math.max(maxDeliveryMs, s.lastDeliveredAt - s.firstAt);
      if (missing > 0) { messagesMissing += 1; missed.push({ text: text, seq: s.seq === undefined ? null : s.seq, sentAt: s.firstAt, ackedAt: s.ackedAt || null, refused: s.refused || null, retried: s.retried || null, receivedBy: crowd.clients.length - missing }); }
    }
    return { messages, messagesMissing, missingDeliveries, duplicateDeliveries, unacked, maxDeliveryMs, connected: crowd.connected(),
      missing: missed.length <= 6 ? missed : missed.slice(0, 3).concat(missed.slice(-3)),
      reconnects: crowd.reconnects, incompleteHistories: crowd.incompleteHistories, refused: crowd.refused.slice(0, 20) };
  };
  crowd.stop = () => { crowd.stopped = true; for (const c of crowd.clients) if (c.ws) c.ws.close(); };
})();`;

interface CrowdWindow {
  __crowd: {
    start(url: string, users: Array<{ token: string }>, periodMs: number): void;
    sending: boolean;
    connected(): number;
    diagnose(): string;
    report(from: number, to: number): ChatReport;
    stop(): void;
  };
}

/** The clients of one room, in their own Chromium page (see the module comment). */
export class ChatCrowd {
  private constructor(private readonly page: Page) {}

  /**
   * Opens a page on the chat origin (`<chatUrl>/healthz`), connects one client per chatter to
   * `/chat/<room>` and waits until all are signed in; they stay silent until {@link talk}.
   * @throws Error when not every client is signed in within `timeoutMs`.
   */
  static async join(browser: Browser, chatUrl: string, room: string, chatters: readonly Chatter[], periodMs: number, timeoutMs: number): Promise<ChatCrowd> {
    const page = await browser.newPage();
    await page.goto(`${chatUrl}/healthz`);
    await page.evaluate(CROWD_SCRIPT);
    const wsUrl = `${chatUrl.replace(/^http/, 'ws')}/chat/${room}`;
    await page.evaluate(([url, users, period]) => (globalThis as unknown as CrowdWindow).__crowd.start(url, users, period), [wsUrl, chatters.map((c) => ({ token: c.token })), periodMs] as const);
    try {
      await page.waitForFunction((n) => (globalThis as unknown as CrowdWindow).__crowd.connected() === n, chatters.length, { timeout: timeoutMs, polling: 200 });
    } catch (err) {
      const state = await page.evaluate(() => (globalThis as unknown as CrowdWindow).__crowd.diagnose());
      throw new Error(`not every chat client signed in within ${timeoutMs} ms: ${state}`, { cause: err });
    }
    return new ChatCrowd(page);
  }

  /** Starts (or stops) the clients' messages. */
  async talk(on: boolean): Promise<void> {
    await this.page.evaluate((v) => { (globalThis as unknown as CrowdWindow).__crowd.sending = v; }, on);
  }

  /** Clients connected and signed in now. */
  connected(): Promise<number> {
    return this.page.evaluate(() => (globalThis as unknown as CrowdWindow).__crowd.connected());
  }

  /** Delivery of the messages first sent in `[from, to)` (wall-clock ms), see {@link ChatReport}. */
  report(from: number, to: number): Promise<ChatReport> {
    return this.page.evaluate(([a, b]) => (globalThis as unknown as CrowdWindow).__crowd.report(a, b), [from, to] as const);
  }

  /** Closes every client (no reconnects). */
  async stop(): Promise<void> {
    await this.page.evaluate(() => (globalThis as unknown as CrowdWindow).__crowd.stop()).catch(() => undefined);
  }
}
