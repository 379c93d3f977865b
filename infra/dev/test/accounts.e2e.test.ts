/**
 * Accounts to broadcast, end to end (issue 3), on the embedded stack with a real ffmpeg
 * publisher: a registered streamer creates a channel, gets a key and goes live; search finds
 * the stream while it is live; a follower receives the go-live notification over Server-Sent
 * Events; rotating the key disconnects the publisher, the old key is refused on reconnect and
 * the new one works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_STREAM, streamSubject, type DomainEvent } from '@live/events';
import { readEvents } from '@live/messaging';
import { publishTestPattern, startTestStack, waitFor, type TestStack } from '../src/testing.js';

let t: TestStack;
beforeAll(async () => { t = await startTestStack('e2e-accounts'); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const r = await fetch(`${t.stack.info.apiUrl}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : null) as T };
}

/** `p`'s value, or `fallback` if it has not settled after `ms` (a deadline, not a wait: resolves as soon as `p` does). */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<F>((r) => { timer = setTimeout(() => r(fallback), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

async function signUp(username: string): Promise<{ userId: string; token: string }> {
  const r = await api<{ user: { userId: string }; accessToken: string }>('POST', '/api/users/register', { username, email: `${username}@example.com`, password: `secret-${username}-123` });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { userId: r.body.user.userId, token: r.body.accessToken };
}

const channelEvents = async (channelId: string): Promise<DomainEvent[]> =>
  (await readEvents(t.messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);

describe('a streamer signs up, goes live, is found and followed, and rotates the key', () => {
  it('runs the whole flow', async () => {
    const { rtmpUrl } = t.stack.info;
    const streamer = await signUp('celeste_runner');
    const fan = await signUp('fan_1');
    const ch = await api<{ channelId: string }>('POST', '/api/channels', { displayName: 'Celeste Runner' }, streamer.token);
    expect(ch.status, JSON.stringify(ch.body)).toBe(201);
    const channelId = ch.body.channelId;
    expect((await api('PUT', `/api/channels/${channelId}/follow`, undefined, fan.token)).status).toBe(204);

    // The fan is online: an SSE stream is open before the channel goes live.
    const ac = new AbortController();
    const sse = await fetch(`${t.stack.info.apiUrl}/api/notifications/stream`, { headers: { authorization: `Bearer ${fan.token}` }, signal: ac.signal });
    expect(sse.status).toBe(200);
    let sseText = '';
    const notified = (async () => {
      const reader = sse.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        sseText += new TextDecoder().decode(value);
        if (sseText.includes('event: FollowedChannelWentLive')) return true;
      }
    })().catch(() => false);

    const start = await api<{ streamKey: string; keyId: string; ingestUrl: string }>('POST', '/api/streams/start', { title: 'Celeste any% practice', category: 'gaming', tags: ['speedrun'] }, streamer.token);
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    expect(start.body.ingestUrl).toBe(rtmpUrl);
    const oldKey = start.body.streamKey;

    const pub = publishTestPattern(`${rtmpUrl}/${oldKey}`, { seconds: 120, width: 640, height: 360, fps: 30, videoKbps: 800 });
    try {
      const live = await waitFor('stream live with renditions', async () => {
        const s = await api<{ live: boolean; status: string; renditions: string[]; playbackUrl: string | null }>('GET', `/api/streams/${channelId}`);
        return s.body.live && s.body.status === 'live' ? s.body : undefined;
      }, 60_000);
      expect(live.renditions.length).toBeGreaterThan(0);
      expect(live.playbackUrl).toBe(`/live/${channelId}/master.m3u8`);

      // Found by search while live, with a typo.
      const found = await api<{ items: Array<{ channelId: string; live: boolean }> }>('GET', '/api/streams/search?q=celest%20practise&live=true');
      expect(found.status).toBe(200);
      expect(found.body.items.map((i) => i.channelId)).toContain(channelId);

      // The online follower was told.
      expect(await within(notified, 60_000, false), sseText).toBe(true);
      expect(sseText).toContain(`"channelId":"${channelId}"`);
      ac.abort();
      const kept = await api<{ items: Array<{ channelId: string }> }>('GET', '/api/notifications', undefined, fan.token);
      expect(kept.body.items.map((n) => n.channelId)).toEqual([channelId]);

      // Rotating the key disconnects the publisher (which would otherwise go on for 120 s).
      const rot = await api<{ streamKey: string }>('POST', `/api/channels/${channelId}/stream-keys/${start.body.keyId}/rotate`, {}, streamer.token);
      expect(rot.status, JSON.stringify(rot.body)).toBe(201);
      const exit = await within(pub.done, 45_000, null);
      expect(exit, 'publisher still connected 45 s after rotation').not.toBeNull();
      const ended = await waitFor('StreamPublishEnded', async () => (await channelEvents(channelId)).find((e) => e.type === 'StreamPublishEnded'), 30_000);
      expect(ended.data).toMatchObject({ reason: 'kicked' });

      // The old key is refused on reconnect: no new session starts.
      const startsBefore = (await channelEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted').length;
      const retry = publishTestPattern(`${rtmpUrl}/${oldKey}`, { seconds: 5, width: 640, height: 360, fps: 30, videoKbps: 800 });
      const retryExit = await retry.done;
      expect(retryExit.code).not.toBe(0);
      expect((await channelEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted').length).toBe(startsBefore);

      // The new key works.
      const fresh = publishTestPattern(`${rtmpUrl}/${rot.body.streamKey}`, { seconds: 4, width: 640, height: 360, fps: 30, videoKbps: 800 });
      await waitFor('a second StreamPublishStarted', async () => (await channelEvents(channelId)).filter((e) => e.type === 'StreamPublishStarted').length === startsBefore + 1, 60_000);
      await fresh.done;
    } finally {
      pub.child.kill('SIGKILL');
      ac.abort();
    }
  }, 240_000);
});
