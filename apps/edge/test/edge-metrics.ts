/**
 * Test helpers (not tests): read the edge's own `/metrics`, so tests wait for what the edge did
 * (a request parked, a counter moved) instead of for time.
 */
import { expect, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';

/** A sample of the edge's `/metrics`: `name` with `labels` (`{kind="object"}`, or '' for none); 0 when the series has no sample yet. */
export async function edgeMetric(app: FastifyInstance, name: string, labels = ''): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Waits until exactly `n` requests are parked on `app` (`edge_blocking_reloads_parked`), however long the machine takes (60 s at most). */
export async function waitParked(app: FastifyInstance, n: number): Promise<void> {
  await vi.waitFor(async () => expect(await edgeMetric(app, 'edge_blocking_reloads_parked')).toBe(n), { timeout: 60_000, interval: 5 });
}
