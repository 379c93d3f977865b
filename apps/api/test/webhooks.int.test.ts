/**
 * Webhooks end to end against real servers (nats-server with the platform's users, embedded
 * PostgreSQL, the read-model projector) and a receiver written here (node:http on loopback):
 * endpoints registered through the API, deliveries queued by the projector's webhook dispatcher
 * (a durable consumer on EVENTS, under the projector's NATS identity) and sent by two delivery
 * loops competing for the endpoints (as two projector processes would), with a retry schedule
 * made short by its settings. The receiver checks every delivery with `verifyWebhook` (the
 * function the README documents), so forged and stale requests are refused by it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { EVENTS_STREAM, streamEvent, systemClock, userSubject, type WebhookPayload } from '@live/events';
import { signWebhook, verifyWebhook, WebhookSignatureError, WEBHOOK_SIGNATURE_HEADER } from '@live/auth';
import { appendEvent, connectMessaging, readEvents, type Messaging } from '@live/messaging';
import { registerWebhookMetrics, startWebhookDelivery, startWebhookDispatcher, type WebhookDelivery, type WebhookDeliverySettings } from '@live/projector';
import { Registry } from 'prom-client';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const CH = 'hooks_owner';
/** Retries after 100, 200, 400, 400, 400 ms: 6 attempts, then the endpoint is disabled. */
const SETTINGS: WebhookDeliverySettings = { retry: { baseMs: 100, maxDelayMs: 400, spanMs: 1500 }, timeoutMs: 3000, pollMs: 50, concurrency: 8 };

let backends: Backends;
let app: FastifyInstance;
let dispatcherMessaging: Messaging;
let dispatcher: { stop(): Promise<void> };
let rival: WebhookDelivery;
/** Both loops count into one registry, as `/metrics` of the projector does. */
const registry = new Registry();
const metrics = registerWebhookMetrics(registry);
async function attemptsCounted(): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('webhook_attempts_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.outcome), v.value]));
}

interface Session { userId: string; accessToken: string }
let owner: Session;
let stranger: Session;
let admin: Session;

/** What the receiver saw of one request on one path. */
interface Received { eventId: string | undefined; body: string; header: string | undefined; status: number; refusal?: string }

/** The test's receiver: per path, how to answer, and the log of requests. */
const receiver = {
  server: null as http.Server | null,
  base: '',
  /** Secret per path (the receiver verifies with it). */
  secrets: new Map<string, string>(),
  /** Answer per path and request number (1-based); default 200 once verified. */
  plan: new Map<string, (n: number) => number>(),
  log: new Map<string, Received[]>(),
};

/** Accepted deliveries of a path (2xx after verification), in arrival order. */
const accepted = (path: string): Received[] => (receiver.log.get(path) ?? []).filter((r) => r.status === 200);

async function startReceiver(): Promise<void> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers[WEBHOOK_SIGNATURE_HEADER] as string | undefined;
      const log = receiver.log.get(path) ?? [];
      receiver.log.set(path, log);
      const planned = receiver.plan.get(path)?.(log.length + 1) ?? 200;
      const entry: Received = { eventId: req.headers['live-event-id'] as string | undefined, body, header, status: planned };
      if (planned === 200) {
        // The documented verification: raw body, header, secret; refuses forged and stale ones.
        try {
          verifyWebhook(body, header, receiver.secrets.get(path) ?? '');
        } catch (err) {
          entry.status = 400;
          entry.refusal = err instanceof WebhookSignatureError ? err.code : String(err);
        }
      }
      log.push(entry);
      res.writeHead(entry.status, { 'content-type': 'text/plain' }).end(entry.refusal ?? 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver.server = server;
  receiver.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function register(username: string): Promise<Session> {
  const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  expect(r.statusCode, r.body).toBe(201);
  const b = r.json() as { user: { userId: string }; accessToken: string };
  return { userId: b.user.userId, accessToken: b.accessToken };
}
const auth = (s?: Session): Record<string, string> => (s ? { authorization: `Bearer ${s.accessToken}` } : {});
async function call(method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', url: string, who?: Session, payload?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method, url, headers: auth(who), ...(payload !== undefined ? { payload: payload as object } : {}) });
}
function expectError(r: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: r.statusCode, code: (r.json() as { code?: string }).code }, r.body).toEqual({ status, code });
  expect(Object.keys(r.json() as object).sort()).toEqual(['code', 'message']);
}
/** Polls `fn` until `ok` holds (no fixed sleeps), up to `timeoutMs`. */
async function until<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface EndpointView { id: string; enabled: boolean; disabledReason: string | null; eventTypes: string[]; url: string }
interface DeliveryView { id: string; eventId: string; status: string; redeliveryOf: string | null; attempts: Array<{ statusCode: number | null; error: string | null; durationMs: number; ok: boolean; at: string }> }

/** Registers an endpoint on `path` of the receiver; returns it with its secret. */
async function createEndpoint(path: string, eventTypes: string[], who: Session = owner, extra: Record<string, unknown> = { channelId: CH }): Promise<{ endpoint: EndpointView; secret: string }> {
  const r = await call('POST', '/api/webhooks', who, { ...extra, url: `${receiver.base}${path}`, eventTypes, description: `test ${path}` });
  expect(r.statusCode, r.body).toBe(201);
  const b = r.json() as { endpoint: EndpointView; secret: string };
  receiver.secrets.set(path, b.secret);
  return b;
}
async function deliveries(id: string): Promise<DeliveryView[]> {
  const r = await call('GET', `/api/webhooks/${id}/deliveries?limit=100`, owner);
  expect(r.statusCode, r.body).toBe(200);
  return (r.json() as { deliveries: DeliveryView[] }).deliveries;
}
async function follow(who: Session): Promise<void> {
  expect((await call('PUT', `/api/channels/${CH}/follow`, who)).statusCode).toBe(204);
}
/** Appends a stream event of the channel as ingest or the worker would; returns its id. */
async function appendStream(e: Parameters<typeof appendEvent>[1]): Promise<string> {
  await appendEvent(backends.messaging.js, e);
  return e.id;
}

beforeAll(async () => {
  backends = await startBackends('api-webhooks-int', logger);
  app = await buildApp({
    db: backends.db, messaging: backends.messaging,
    config: { jwtKeys: [{ kid: 'k1', secret: 'webhooks-test-secret-0123456789abcdefghij' }], adminUsernames: ['hooks_admin'] },
    rateLimit: { max: 100_000, timeWindowMs: 60_000 },
  });
  await startReceiver();
  // The dispatcher under the projector's NATS identity (its permissions allow the `webhooks` durable).
  dispatcherMessaging = await connectMessaging(backends.services.endpoints.natsUrl, 'api-webhooks-int-dispatcher', backends.services.natsAuth('projector'));
  dispatcher = await startWebhookDispatcher({ db: backends.db, messaging: dispatcherMessaging, logger, holder: 'dispatcher-1', settings: SETTINGS, metrics });
  // A second process's delivery loop, competing for the same endpoints.
  rival = startWebhookDelivery({ db: backends.db, logger, holder: 'dispatcher-2', settings: SETTINGS, metrics });
  owner = await register(CH);
  stranger = await register('hooks_stranger');
  admin = await register('hooks_admin');
  expect((await call('POST', '/api/channels', owner, {})).statusCode).toBe(201);
  expect((await call('POST', '/api/channels', stranger, {})).statusCode).toBe(201);
}, 120_000);
afterAll(async () => {
  await rival?.stop();
  await dispatcher?.stop();
  await dispatcherMessaging?.close();
  await app?.close();
  receiver.server?.close();
  await backends?.stop();
}, 60_000);

describe('webhook deliveries', () => {
  it('a receiver that fails its first three deliveries gets every event once, in order, signed; the log shows the attempts', async () => {
    receiver.plan.set('/main', (n) => (n <= 3 ? 500 : 200));
    const { endpoint, secret } = await createEndpoint('/main', ['stream.started', 'stream.ended', 'vod.ready', 'channel.followed']);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(endpoint).toMatchObject({ enabled: true, disabledReason: null, url: `${receiver.base}/main` });
    // The secret is never shown again.
    const got = await call('GET', `/api/webhooks/${endpoint.id}`, owner);
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain(secret);
    const listed = await call('GET', `/api/webhooks?channelId=${CH}`, owner);
    expect((listed.json() as { endpoints: EndpointView[] }).endpoints.map((e) => e.id)).toContain(endpoint.id);
    expect(listed.body).not.toContain(secret);

    // Events in log order: three follows (through the API), then a broadcast; around them, events
    // the endpoint did not ask for or of another channel.
    const fans = await Promise.all(['hooks_fan_1', 'hooks_fan_2', 'hooks_fan_3'].map(register));
    const expected: string[] = [];
    const sessionId = 'hooks_s1';
    for (const f of fans) await follow(f);
    await appendStream(streamEvent(systemClock, 'StreamPublishStarted', { channelId: 'hooks_stranger', sessionId: 'other_s', ingestNodeId: 'n1', relayUrl: 'http://127.0.0.1:1/relay', app: 'live', source: {} }, { producer: 'test' }));
    expected.push(await appendStream(streamEvent(systemClock, 'StreamPublishStarted', { channelId: CH, sessionId, ingestNodeId: 'n1', relayUrl: 'http://127.0.0.1:1/relay/secret', app: 'live', source: { video: { codec: 'h264', width: 1280, height: 720 } } }, { producer: 'test' })));
    await appendStream(streamEvent(systemClock, 'StreamFailed', { channelId: CH, sessionId, stage: 'transcode', reason: 'not subscribed' }, { producer: 'test' }));
    expected.push(await appendStream(streamEvent(systemClock, 'StreamPublishEnded', { channelId: CH, sessionId, reason: 'unpublished', bytesReceived: 1000, durationMs: 60_000 }, { producer: 'test' })));
    expected.push(await appendStream(streamEvent(systemClock, 'VodReady', { channelId: CH, sessionId, durationSeconds: 60, masterPlaylistKey: 'k/master.m3u8', mp4Key: 'k/vod.mp4', renditions: ['720p'] }, { producer: 'test' })));
    // The follows' event ids, from the log itself.
    for (const f of [...fans].reverse()) {
      const stored = await readEvents(backends.messaging.js, EVENTS_STREAM, userSubject(f.userId));
      expected.unshift(stored.find((e) => e.event.type === 'ChannelFollowed')!.event.id);
    }

    const got5 = await until('every delivery accepted', () => accepted('/main'), (a) => a.length >= expected.length);
    expect(got5.map((r) => r.eventId)).toEqual(expected);
    const requests = receiver.log.get('/main')!;
    expect(requests.map((r) => r.status)).toEqual([500, 500, 500, ...expected.map(() => 200)]);
    // The three failures were attempts of the first event.
    expect(requests.slice(0, 4).map((r) => r.eventId)).toEqual(Array(4).fill(expected[0]));

    const bodies = got5.map((r) => JSON.parse(r.body) as WebhookPayload);
    expect(bodies.map((b) => b.id)).toEqual(expected);
    expect(bodies.map((b) => b.type)).toEqual(['channel.followed', 'channel.followed', 'channel.followed', 'stream.started', 'stream.ended', 'vod.ready']);
    expect(bodies.every((b) => b.channelId === CH)).toBe(true);
    expect(bodies.map((b) => b.data.userId).slice(0, 3)).toEqual(fans.map((f) => f.userId));
    expect(bodies[3]!.data).toEqual({ sessionId, source: { video: { codec: 'h264', width: 1280, height: 720 } } });
    expect(got5.some((r) => r.body.includes('relay'))).toBe(false);

    // The signature, checked with the documented algorithm and function.
    for (const r of got5) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.header!);
      expect(m).not.toBeNull();
      const { createHmac } = await import('node:crypto');
      expect(createHmac('sha256', secret).update(`${m![1]}.${r.body}`).digest('hex')).toBe(m![2]);
      expect(verifyWebhook(r.body, r.header, secret)).toBe(Number(m![1]));
    }
    const sample = got5[0]!;
    const refusal = (fn: () => unknown): string => {
      try { fn(); return 'accepted'; } catch (err) { return (err as WebhookSignatureError).code; }
    };
    expect(refusal(() => verifyWebhook(sample.body, sample.header, 'whsec_forged'))).toBe('SIGNATURE_MISMATCH');
    expect(refusal(() => verifyWebhook(sample.body.replace(CH, 'someone_else'), sample.header, secret))).toBe('SIGNATURE_MISMATCH');
    expect(refusal(() => verifyWebhook(sample.body, sample.header, secret, { nowMs: Date.now() + 301_000 }))).toBe('SIGNATURE_STALE');
    expect(refusal(() => verifyWebhook(sample.body, undefined, secret))).toBe('SIGNATURE_MISSING');

    // A forged and a replayed (stale) request sent to the receiver are refused by its verification.
    const post = (header: string) => fetch(`${receiver.base}/main`, { method: 'POST', headers: { 'content-type': 'application/json', [WEBHOOK_SIGNATURE_HEADER]: header }, body: sample.body });
    const forged = await post(signWebhook('whsec_not_the_secret', sample.body, Math.floor(Date.now() / 1000)));
    expect([forged.status, await forged.text()]).toEqual([400, 'SIGNATURE_MISMATCH']);
    const stale = await post(signWebhook(secret, sample.body, Math.floor(Date.now() / 1000) - 600));
    expect([stale.status, await stale.text()]).toEqual([400, 'SIGNATURE_STALE']);

    // The delivery log: every delivery delivered; the first one after three failed attempts.
    const log = (await deliveries(endpoint.id)).reverse();
    expect(log.map((d) => d.eventId)).toEqual(expected);
    expect(log.every((d) => d.status === 'delivered')).toBe(true);
    expect(log[0]!.attempts.map((a) => [a.statusCode, a.ok, a.error])).toEqual([[500, false, 'HTTP 500'], [500, false, 'HTTP 500'], [500, false, 'HTTP 500'], [200, true, null]]);
    expect(log.slice(1).every((d) => d.attempts.length === 1 && d.attempts[0]!.statusCode === 200)).toBe(true);
    for (const d of log) for (const a of d.attempts) expect(a.durationMs).toBeGreaterThanOrEqual(0);
    // The retries waited their backoff (100, then 200, then 400 ms, at the poll's granularity).
    const at = log[0]!.attempts.map((a) => Date.parse(a.at));
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(90);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(390);
    expect(await attemptsCounted()).toEqual({ delivered: expected.length, retry: 3, 'give-up': 0 });
  }, 90_000);

  it('a failing endpoint holds up only itself, is disabled with the reason, and can be re-enabled; redelivery and secret rotation', async () => {
    let down = true;
    receiver.plan.set('/down', () => (down ? 503 : 200));
    const bad = await createEndpoint('/down', ['channel.followed']);
    const good = await createEndpoint('/good', ['channel.followed']);
    const fan = await register('hooks_fan_4');
    await follow(fan);

    const first = await until('the healthy endpoint got the follow', () => accepted('/good'), (a) => a.length === 1);
    const badNow = (await call('GET', `/api/webhooks/${bad.endpoint.id}`, owner)).json() as EndpointView;
    expect(badNow.enabled).toBe(true);
    const disabled = await until('the failing endpoint disabled', async () => (await call('GET', `/api/webhooks/${bad.endpoint.id}`, owner)).json() as EndpointView, (e) => !e.enabled);
    expect(disabled.disabledReason).toMatch(/6 attempts .* failed .*HTTP 503/);
    const [failed] = await deliveries(bad.endpoint.id);
    expect(failed!.status).toBe('pending');
    expect(failed!.attempts.map((a) => a.statusCode)).toEqual([503, 503, 503, 503, 503, 503]);
    expect(receiver.log.get('/down')!.length).toBe(6);
    expect((await attemptsCounted())['give-up']).toBe(1);

    // Enabled again (the receiver fixed): the pending delivery goes out at once.
    down = false;
    const enabled = await call('POST', `/api/webhooks/${bad.endpoint.id}/enable`, owner);
    expect(enabled.statusCode, enabled.body).toBe(200);
    await until('the held delivery delivered', () => deliveries(bad.endpoint.id), (d) => d[0]!.status === 'delivered');
    expect(accepted('/down').map((r) => r.eventId)).toEqual([first[0]!.eventId]);

    // Redelivery: the same event again, as a new delivery at the end of the queue.
    const [original] = await deliveries(good.endpoint.id);
    const re = await call('POST', `/api/webhooks/${good.endpoint.id}/deliveries/${original!.id}/redeliver`, owner);
    expect(re.statusCode, re.body).toBe(202);
    const again = await until('the redelivery', () => accepted('/good'), (a) => a.length === 2);
    expect(again.map((r) => r.eventId)).toEqual([original!.eventId, original!.eventId]);
    const log = await deliveries(good.endpoint.id);
    expect(log.map((d) => [d.eventId, d.redeliveryOf, d.status])).toEqual([[original!.eventId, original!.id, 'delivered'], [original!.eventId, null, 'delivered']]);
    expectError(await call('POST', `/api/webhooks/${good.endpoint.id}/deliveries/${failed!.id}/redeliver`, owner), 404, 'WEBHOOK_DELIVERY_NOT_FOUND');

    // Rotation: the new secret signs from now on; the old one no longer verifies.
    const rotated = await call('POST', `/api/webhooks/${good.endpoint.id}/rotate-secret`, owner);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const newSecret = (rotated.json() as { secret: string }).secret;
    expect(newSecret).not.toBe(good.secret);
    receiver.secrets.set('/good', newSecret);
    await follow(await register('hooks_fan_5'));
    const third = (await until('a delivery under the new secret', () => accepted('/good'), (a) => a.length === 3))[2]!;
    expect(verifyWebhook(third.body, third.header, newSecret)).toBeGreaterThan(0);
    expect(() => verifyWebhook(third.body, third.header, good.secret)).toThrow(WebhookSignatureError);
  }, 90_000);

  it('refuses bad input and foreign endpoints with catalogue errors', async () => {
    const bodies: Array<[unknown, string]> = [
      [{ channelId: CH, url: 'ftp://example.com/hook', eventTypes: ['stream.started'] }, 'WEBHOOK_URL_INVALID'],
      [{ channelId: CH, url: 'javascript:alert(1)', eventTypes: ['stream.started'] }, 'WEBHOOK_URL_INVALID'],
      [{ channelId: CH, url: 'not a url', eventTypes: ['stream.started'] }, 'WEBHOOK_URL_INVALID'],
      [{ channelId: CH, url: 'https://user:pw@example.com/', eventTypes: ['stream.started'] }, 'WEBHOOK_URL_INVALID'],
      [{ channelId: CH, url: 'https://example.com/', eventTypes: ['stream.exploded'] }, 'VALIDATION_FAILED'],
      [{ channelId: CH, url: 'https://example.com/', eventTypes: [] }, 'VALIDATION_FAILED'],
      [{ url: 'https://example.com/', eventTypes: ['stream.started'] }, 'VALIDATION_FAILED'],
    ];
    for (const [body, code] of bodies) expectError(await call('POST', '/api/webhooks', owner, body), 400, code);
    const badJson = await app.inject({ method: 'POST', url: '/api/webhooks', headers: { ...auth(owner), 'content-type': 'application/json' }, payload: '{"channelId":' });
    expectError(badJson, 400, 'BAD_JSON');
    expectError(await call('POST', '/api/webhooks', undefined, { channelId: CH, url: 'https://example.com/', eventTypes: ['stream.started'] }), 401, 'UNAUTHENTICATED');
    // A channel that is not the caller's, and the platform scope without the admin role.
    expectError(await call('POST', '/api/webhooks', stranger, { channelId: CH, url: 'https://example.com/', eventTypes: ['stream.started'] }), 403, 'NOT_CHANNEL_OWNER');
    expectError(await call('POST', '/api/webhooks', owner, { scope: 'platform', url: 'https://example.com/', eventTypes: ['stream.started'] }), 403, 'FORBIDDEN');
    expectError(await call('POST', '/api/webhooks', owner, { channelId: 'no_such_channel', url: 'https://example.com/', eventTypes: ['stream.started'] }), 404, 'CHANNEL_NOT_FOUND');
    const platform = await call('POST', '/api/webhooks', admin, { scope: 'platform', url: 'https://example.com/all', eventTypes: ['stream.failed'] });
    expect(platform.statusCode, platform.body).toBe(201);
    const platformId = (platform.json() as { endpoint: EndpointView }).endpoint.id;
    expectError(await call('GET', `/api/webhooks/${platformId}`, owner), 403, 'FORBIDDEN');
    expect((await call('GET', '/api/webhooks', admin)).body).toContain(platformId);

    const [mine] = (((await call('GET', `/api/webhooks?channelId=${CH}`, owner)).json()) as { endpoints: EndpointView[] }).endpoints;
    for (const [method, url] of [['GET', ''], ['PATCH', ''], ['DELETE', ''], ['GET', '/deliveries'], ['POST', '/rotate-secret'], ['POST', '/enable']] as const) {
      expectError(await call(method, `/api/webhooks/${mine!.id}${url}`, stranger, method === 'PATCH' ? { description: 'x' } : method === 'POST' ? {} : undefined), 403, 'NOT_CHANNEL_OWNER');
    }
    expectError(await call('GET', `/api/webhooks?channelId=${CH}`, stranger), 403, 'NOT_CHANNEL_OWNER');
    expectError(await call('GET', '/api/webhooks/01234567-unknown', owner), 404, 'WEBHOOK_NOT_FOUND');
    expectError(await call('PATCH', `/api/webhooks/${mine!.id}`, owner, { url: 'file:///etc/passwd' }), 400, 'WEBHOOK_URL_INVALID');
    const patched = await call('PATCH', `/api/webhooks/${mine!.id}`, owner, { description: 'renamed', eventTypes: ['vod.ready'] });
    expect(patched.json()).toMatchObject({ description: 'renamed', eventTypes: ['vod.ready'] });

    // At most 10 endpoints per channel.
    const have = (((await call('GET', `/api/webhooks?channelId=${CH}`, owner)).json()) as { endpoints: EndpointView[] }).endpoints.length;
    for (let i = have; i < 10; i++) expect((await call('POST', '/api/webhooks', owner, { channelId: CH, url: `https://example.com/${i}`, eventTypes: ['vod.ready'] })).statusCode).toBe(201);
    expectError(await call('POST', '/api/webhooks', owner, { channelId: CH, url: 'https://example.com/11', eventTypes: ['vod.ready'] }), 409, 'WEBHOOK_LIMIT');
    const del = await call('DELETE', `/api/webhooks/${mine!.id}`, owner);
    // Documented in the OpenAPI description, under the tag `webhooks`.
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { tags?: string[] }>> };
    expect(Object.keys(spec.paths['/api/webhooks'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(spec.paths['/api/webhooks/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    for (const path of ['/api/webhooks/{id}/rotate-secret', '/api/webhooks/{id}/enable', '/api/webhooks/{id}/deliveries/{deliveryId}/redeliver']) expect(spec.paths[path]?.post?.tags).toEqual(['webhooks']);
    expect(spec.paths['/api/webhooks/{id}/deliveries']?.get?.tags).toEqual(['webhooks']);
    expect(del.statusCode).toBe(204);
    expectError(await call('GET', `/api/webhooks/${mine!.id}`, owner), 404, 'WEBHOOK_NOT_FOUND');
  }, 60_000);
});
