/**
 * Fastify's own errors answered from the API's catalogue (`{ code, message }` of `API_ERRORS`,
 * the catalogue's status): bad percent-encoding, route parameters up to and past what the
 * schemas and the router accept, and every body-parser failure. Against a real PostgreSQL, so
 * that a long id that routes gets the answer a normal request gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, migrateToLatest, type Db } from '@live/db';
import { buildApp, MAX_PARAM_LENGTH } from '../src/app.js';
import { API_ERRORS, type ApiErrorCode } from '../src/errors.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'api-errors', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 2);
  await migrateToLatest(db);
  app = await buildApp({ db, config: { jwtKeys: [{ kid: 'k1', secret: 'errors-test-secret-0123456789abcdefghij' }] } });
}, 90_000);
afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

/** Sends a request and checks that the answer is exactly the catalogue's body for `code`, with its status. */
async function expectCatalogue(req: InjectOptions, code: ApiErrorCode, opts: { ownMessage?: boolean } = {}): Promise<void> {
  const r = await app.inject(req);
  expect(r.statusCode).toBe(API_ERRORS[code].status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['code', 'message']); // no `error`, `statusCode` or stack
  expect(body.code).toBe(code);
  if (!opts.ownMessage) expect(body.message).toBe(API_ERRORS[code].message);
  expect(r.body).not.toMatch(/FST_ERR|\bat .*\.js:\d+/);
}

const id = (n: number): string => 'a'.repeat(n);

describe('router errors', () => {
  it.each([
    '/api/streams/%ff',
    '/api/users/%E0%A4%A',
    '/api/channels/%C0%AF',
    '/api/streams/%ff/chat',
  ])('answers a path that does not percent-decode (%s) with 400 BAD_URL', async (url) => {
    await expectCatalogue({ method: 'GET', url }, 'BAD_URL');
  });

  it('routes an id of 128 characters (the longest the schemas accept) to its normal answer', async () => {
    await expectCatalogue({ method: 'GET', url: `/api/users/${id(128)}` }, 'USER_NOT_FOUND');
    await expectCatalogue({ method: 'GET', url: `/api/streams/${id(128)}` }, 'STREAM_NOT_FOUND');
    await expectCatalogue({ method: 'GET', url: `/api/channels/${id(128)}` }, 'CHANNEL_NOT_FOUND');
    await expectCatalogue({ method: 'GET', url: `/api/users/${id(101)}` }, 'USER_NOT_FOUND'); // over Fastify's default 100
  });

  it.each([129, 200, MAX_PARAM_LENGTH])('refuses an id of %i characters with 400 VALIDATION_FAILED', async (n) => {
    await expectCatalogue({ method: 'GET', url: `/api/users/${id(n)}` }, 'VALIDATION_FAILED', { ownMessage: true });
    await expectCatalogue({ method: 'GET', url: `/api/streams/${id(n)}` }, 'VALIDATION_FAILED', { ownMessage: true });
  });

  it('answers a path segment longer than the router takes with 414 URI_TOO_LONG', async () => {
    await expectCatalogue({ method: 'GET', url: `/api/users/${id(MAX_PARAM_LENGTH + 1)}` }, 'URI_TOO_LONG');
    await expectCatalogue({ method: 'GET', url: `/api/streams/${id(10_000)}` }, 'URI_TOO_LONG');
  });
});

describe('body parser errors', () => {
  // Parsing happens before the handler, so a command route answers these without NATS.
  const post = (payload: string | Buffer, headers: Record<string, string>): InjectOptions => ({ method: 'POST', url: '/api/users/register', payload, headers });

  it('answers malformed JSON with 400 BAD_JSON', async () => {
    await expectCatalogue(post('{"username":', { 'content-type': 'application/json' }), 'BAD_JSON');
    await expectCatalogue(post('{"username": "x",}', { 'content-type': 'application/json; charset=utf-8' }), 'BAD_JSON');
  });

  it('answers an empty body declared as JSON with 400 BAD_JSON', async () => {
    await expectCatalogue(post('', { 'content-type': 'application/json' }), 'BAD_JSON');
  });

  it('answers prototype-poisoning keys with 400 BAD_JSON', async () => {
    await expectCatalogue(post('{"__proto__": {"admin": true}}', { 'content-type': 'application/json' }), 'BAD_JSON');
    await expectCatalogue(post('{"constructor": {"prototype": {"admin": true}}}', { 'content-type': 'application/json' }), 'BAD_JSON');
  });

  it('answers a body of another media type, or of none, with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    await expectCatalogue(post('<user/>', { 'content-type': 'application/xml' }), 'UNSUPPORTED_MEDIA_TYPE');
    await expectCatalogue(post('a=b', { 'content-type': 'application/x-www-form-urlencoded' }), 'UNSUPPORTED_MEDIA_TYPE');
    await expectCatalogue(post('{}', { 'content-type': '///' }), 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    await expectCatalogue(post(JSON.stringify({ username: 'x'.repeat(70 * 1024) }), { 'content-type': 'application/json' }), 'PAYLOAD_TOO_LARGE');
  });

  it('answers a body shorter than its Content-Length says with 400 CONTENT_LENGTH_MISMATCH', async () => {
    await expectCatalogue(post('{"username":"x"}', { 'content-type': 'application/json', 'content-length': '3' }), 'CONTENT_LENGTH_MISMATCH');
  });

  it('ignores a body sent with GET or HEAD (Fastify does not parse it)', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await app.inject({ method, url: '/healthz', payload: '{"not json', headers: { 'content-type': 'application/json' } });
      expect(r.statusCode).toBe(200);
    }
  });
});
