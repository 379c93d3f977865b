/**
 * `GET /api/streams/{id}/steering` against real HTTP servers standing in for two edges (their
 * `/healthz` is all the API asks): a stopped edge moves to the end of PATHWAY-PRIORITY within a
 * couple of health-check intervals and comes back first once it answers again; an edge that
 * accepts connections but does not answer is dropped by the check's timeout. The steering
 * route reads no database, so the app is built over a pool that is never used.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createDb, type Db } from '@live/db';
import { buildApp } from '../src/app.js';
import type { SteeringManifest } from '../src/steering.js';

const jwtKeys = [{ kid: 'k1', secret: 'steering-api-test-secret-0123456789abcdef' }];

/** A stand-in edge: `/healthz` answers 200 unless `hang` is set (then nothing is answered). */
class FakeEdge {
  server: Server | null = null;
  hang = false;
  port = 0;
  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      if (this.hang) return;
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

const a = new FakeEdge();
const b = new FakeEdge();
let db: Db;
let app: FastifyInstance;

async function steering(pathway?: string): Promise<SteeringManifest> {
  const r = await app.inject({ method: 'GET', url: `/api/streams/ch_1/steering${pathway ? `?_HLS_pathway=${pathway}&_HLS_throughput=5000000` : ''}` });
  expect(r.statusCode, r.body).toBe(200);
  expect(r.headers['cache-control']).toBe('no-store');
  return r.json() as SteeringManifest;
}

beforeAll(async () => {
  await a.start();
  await b.start();
  // never queried: the steering route and the anonymous auth path read no database
  db = createDb('postgres://nobody:none@127.0.0.1:9/none', 1);
  app = await buildApp({
    db,
    config: { jwtKeys, edgePathways: [{ id: 'edge-a', url: a.url }, { id: 'edge-b', url: b.url }], edgeHealthIntervalMs: 250, steeringTtlSeconds: 2 },
  });
});

afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await a.stop();
  await b.stop();
});

describe('steering manifest', () => {
  it('lists both edges, the player\'s first', async () => {
    expect(await steering('edge-a')).toEqual({ VERSION: 1, TTL: 2, 'PATHWAY-PRIORITY': ['edge-a', 'edge-b'] });
    expect((await steering('edge-b'))['PATHWAY-PRIORITY']).toEqual(['edge-b', 'edge-a']);
    expect(await steering()).toEqual({ VERSION: 1, TTL: 2, 'PATHWAY-PRIORITY': ['edge-a', 'edge-b'] });
  });

  it('moves a stopped edge to the end within a couple of seconds, and back once it answers', async () => {
    const port = a.port;
    await a.stop();
    await vi.waitFor(async () => expect((await steering('edge-a'))['PATHWAY-PRIORITY']).toEqual(['edge-b', 'edge-a']), { timeout: 3000, interval: 50 });
    await a.start(port);
    await vi.waitFor(async () => expect((await steering('edge-a'))['PATHWAY-PRIORITY']).toEqual(['edge-a', 'edge-b']), { timeout: 5000, interval: 50 });
  });

  it('drops an edge that accepts connections but does not answer (check timeout)', async () => {
    b.hang = true;
    await vi.waitFor(async () => expect((await steering('edge-b'))['PATHWAY-PRIORITY']).toEqual(['edge-a', 'edge-b']), { timeout: 5000, interval: 50 });
    b.hang = false;
    await vi.waitFor(async () => expect((await steering('edge-b'))['PATHWAY-PRIORITY']).toEqual(['edge-b', 'edge-a']), { timeout: 5000, interval: 50 });
  });

  it('refuses a malformed request with the catalogue\'s JSON', async () => {
    const r = await app.inject({ method: 'GET', url: `/api/streams/ch_1/steering?_HLS_pathway=${'x'.repeat(200)}` });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await app.inject({ method: 'GET', url: '/api/streams/bad%20id/steering' })).json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('answers 404 when the API has no pathways', async () => {
    const off = await buildApp({ db, config: { jwtKeys } });
    try {
      const r = await off.inject({ method: 'GET', url: '/api/streams/ch_1/steering?_HLS_pathway=edge-a' });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toEqual({ code: 'NOT_FOUND', message: 'Content steering is off: the API has no EDGE_PATHWAYS.' });
    } finally {
      await off.close();
    }
  });
});
