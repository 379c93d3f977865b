/**
 * A chat client in Node for the abuse test (issue 15 item 7), speaking the gateway's protocol
 * (`@live/events` `ChatClientFrame` / `ChatServerFrame`, apps/chat/src/gateway.ts) over `ws`:
 * a signed-in viewer whose every message is timed from sending to its `ack`, as a {@link Probe}.
 */
import WebSocket from 'ws';
import type { ChatServerFrame } from '@live/events';
import type { Probe } from './normal-traffic.js';

/** Longest wait for an `ack` before the message counts as failed, ms. */
const ACK_TIMEOUT_MS = 10_000;

/** `http://host:port` of a chat gateway → `ws://host:port/chat/<channelId>`. */
export function chatSocketUrl(chatUrl: string, channelId: string): string {
  return `${chatUrl.replace(/^http/, 'ws')}/chat/${encodeURIComponent(channelId)}`;
}

/** A signed-in chat client: {@link probe} sends one message and waits for its answer. */
export class ChatClient {
  private readonly waiting = new Map<string, (frame: ChatServerFrame) => void>();
  private n = 0;
  /** Every `message` frame's text received, in order. */
  readonly received: string[] = [];

  private constructor(private readonly ws: WebSocket, private readonly name: string) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ChatServerFrame;
      if (frame.type === 'message') this.received.push(frame.text);
      const ref = 'ref' in frame ? frame.ref : undefined;
      if (ref !== undefined) this.waiting.get(ref)?.(frame);
    });
  }

  /**
   * Connects to the room, signs in with `accessToken` and resolves once `authenticated`.
   * @throws Error with the gateway's answer when the sign-in is refused or the socket fails.
   */
  static async connect(socketUrl: string, accessToken: string, name: string): Promise<ChatClient> {
    const ws = new WebSocket(socketUrl);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const client = new ChatClient(ws, name);
    const answer = await client.request({ type: 'auth', token: accessToken });
    if (answer?.type !== 'authenticated') throw new Error(`chat sign-in of ${name} refused: ${JSON.stringify(answer)}`);
    return client;
  }

  /** Sends `frame` with a fresh `ref` and resolves with the frame that answers it (undefined after {@link ACK_TIMEOUT_MS}). */
  private request(frame: Record<string, unknown>): Promise<ChatServerFrame | undefined> {
    const ref = `${this.name}-${++this.n}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(ref); resolve(undefined); }, ACK_TIMEOUT_MS);
      this.waiting.set(ref, (answer) => { clearTimeout(timer); this.waiting.delete(ref); resolve(answer); });
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  /** A {@link Probe}: each call sends a new message (unique text) and is ok when it is acknowledged `accepted`. */
  probe(what: string): Probe {
    return {
      what,
      send: async () => {
        const answer = await this.request({ type: 'message', text: `${this.name} says hello #${this.n + 1}` });
        return answer?.type === 'ack' && answer.status === 'accepted';
      },
    };
  }

  close(): void {
    this.ws.close();
  }
}
