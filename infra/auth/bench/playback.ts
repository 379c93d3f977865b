/**
 * Playback-token verification cost (what the edge pays on every playlist, segment and part
 * request). Prints a table; not a timed test. Run: `pnpm exec tsx infra/auth/bench/playback.ts`.
 */
import { parseJwtKeys, signPlaybackToken, verifyPlaybackToken } from '../src/index.js';

const ring = parseJwtKeys('p1:playback-secret-0123456789abcdef-0123456789');
const now = Date.now();
const rows: Array<{ token: string; 'µs/verify': string; 'verifies/s': string }> = [];
for (const [name, clientAddress] of [['channel + session', undefined], ['+ address bound', '192.0.2.1']] as const) {
  const t = signPlaybackToken({ channelId: 'alice', sessionId: 's1', expiresAt: now + 600_000, viewerId: 'u1', ...(clientAddress ? { clientAddress } : {}) }, ring);
  const scope = { channelId: 'alice', sessionId: 's1', clientAddress: '192.0.2.1', now };
  for (let i = 0; i < 10_000; i++) verifyPlaybackToken(t, ring, scope);
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) verifyPlaybackToken(t, ring, scope);
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  rows.push({ token: name, 'µs/verify': us.toFixed(2), 'verifies/s': Math.round(1e6 / us).toLocaleString('en') });
}
console.table(rows);
