/**
 * Production mode, end to end, as an operator runs it (docs/architecture.md, "Embedded default and
 * production mode"): `npm run build`, then every app from `apps/<app>/dist/main.js` with plain
 * `node` (no tsx anywhere in the process tree), NATS with a user and permissions per app, the web
 * app served as static files by the edge, and Caddy in front (`infra/deploy/caddy`, `tls internal`)
 * on one HTTPS origin. Then:
 * - a follower signs up and follows the demo channel in Chromium (which trusts Caddy's local CA
 *   and nothing else: its root's public key is the only one allowed), with the notification
 *   stream (SSE) open;
 * - ffmpeg publishes over `rtmps://` with the demo key, verifying the ingest's certificate;
 * - the follower's bell gets the go-live notification over SSE, the player plays the stream
 *   over HTTPS, and a chat message goes out and comes back over WSS;
 * - pages and API answers carry the security headers (CSP, HSTS, frame-ancestors);
 * - an app started with an invalid setting exits non-zero with one line naming it.
 * Set WEB_SCREENSHOT_DIR=/some/dir to save screenshots.
 */
import { spawn } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApps, REPO_ROOT } from '../src/stack.js';
import { CHROMIUM_ARGS, publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '../src/testing.js';

let t: TestStack;
let browser: Browser;
let publisher: Publisher | undefined;
const pageErrors: string[] = [];
const APPS = ['ingest', 'worker', 'api', 'edge', 'chat', 'projector'] as const;

/** base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo: what `--ignore-certificate-errors-spki-list` takes. */
function spkiHash(pemFile: string): string {
  const der = createPublicKey(readFileSync(pemFile)).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

beforeAll(async () => {
  await buildApps(pino({ level: 'warn' }));
  t = await startTestStack('e2e-production', { web: true, mode: 'dist', caddy: true });
  const ca = t.stack.info.publicCaFile!;
  // Chromium trusts exactly the certificates signed by Caddy's local CA (its root and
  // intermediate keys), the way a machine that ran `caddy trust` would.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      ...CHROMIUM_ARGS,
      `--ignore-certificate-errors-spki-list=${[spkiHash(ca), spkiHash(ca.replace(/root\.crt$/, 'intermediate.crt'))].join(',')}`,
    ],
  });
}, 600_000);

afterAll(async () => {
  publisher?.child.kill('SIGINT');
  await browser?.close();
  await t?.stop();
}, 120_000);

/** pids of `pid` and all its descendants (from /proc/<pid>/stat's ppid field). */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}
function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

async function freshPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return page;
}
async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.WEB_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

describe('production mode', () => {
  it('runs every app from dist/ with plain node: no tsx in any process tree', () => {
    const { pids } = t.stack.info;
    for (const app of APPS) {
      const pid = pids[app]!;
      expect(pid, app).toBeGreaterThan(0);
      expect(cmdline(pid), app).toEqual([process.execPath, '--enable-source-maps', `apps/${app}/dist/main.js`]);
      for (const p of processTree(pid)) expect(cmdline(p).join(' '), `${app} pid ${p}`).not.toMatch(/tsx/);
    }
    // Not even in memory: no app process has tsx's loader mapped in.
    for (const app of APPS) expect(readFileSync(`/proc/${pids[app]}/maps`, 'utf8'), app).not.toMatch(/\/tsx\//);
  });

  it('publishes over RTMPS, plays over HTTPS, chats over WSS and notifies over SSE, behind Caddy', async () => {
    const { publicUrl, rtmpsUrl, rtmpsCertFile, demoStreamKey, demoChannelId } = t.stack.info;
    expect(publicUrl).toMatch(/^https:\/\/localhost:\d+$/);
    const watchUrl = `${publicUrl}/watch/live/${demoChannelId}`;

    // The follower signs up over HTTPS and follows the demo channel.
    const fan = await freshPage();
    await fan.goto(`${publicUrl}/signup`);
    await fan.getByLabel('Username', { exact: true }).fill('prod_fan');
    await fan.getByLabel('Email').fill('prod_fan@example.com');
    await fan.getByLabel('Password', { exact: true }).fill('pw-prod-fan-2026');
    await fan.getByRole('button', { name: 'Create account' }).click();
    await fan.getByTestId('account-name').waitFor({ timeout: 20_000 });
    await fan.goto(watchUrl);
    const follow = fan.getByTestId('follow-button');
    await follow.waitFor({ timeout: 20_000 });
    await follow.click();
    await expect.poll(() => follow.getAttribute('data-following'), { timeout: 15_000 }).toBe('true');
    const bell = fan.getByTestId('bell');
    await expect.poll(() => bell.getAttribute('data-stream'), { timeout: 15_000 }).toBe('open');

    // ffmpeg publishes over RTMPS, verifying the ingest's certificate.
    expect(rtmpsUrl).toMatch(/^rtmps:\/\/127\.0\.0\.1:\d+\/live$/);
    publisher = publishTestPattern(`${rtmpsUrl}/${demoStreamKey}`, { seconds: 90, width: 640, height: 360, fps: 30, videoKbps: 800, tlsCaFile: rtmpsCertFile! });
    await waitFor('the demo stream live over RTMPS', async () => {
      const exited = await Promise.race([publisher!.done, Promise.resolve(null)]);
      if (exited) throw new Error(`ffmpeg exited: ${exited.stderr}`);
      const r = await fetch(`${t.stack.info.apiUrl}/api/streams/${demoChannelId}`);
      const s = (await r.json()) as { live?: boolean; renditions?: string[] };
      return s.live === true && (s.renditions?.length ?? 0) > 0;
    }, 90_000, 250);

    // The go-live notification arrives over the SSE stream through Caddy.
    await expect.poll(() => bell.getAttribute('data-unread'), { timeout: 30_000 }).toBe('1');

    // The player plays over HTTPS.
    await fan.goto(watchUrl);
    await fan.waitForFunction(() => {
      // In the page (this package has no DOM types): window.__player of apps/web/src/usePlayer.ts.
      const p = (globalThis as unknown as { __player?: { video: { paused: boolean; readyState: number; currentTime: number } } }).__player;
      return !!p && !p.video.paused && p.video.readyState >= 3 && p.video.currentTime > 1;
    }, undefined, { timeout: 60_000, polling: 200 });
    await snap(fan, 'production-watch');

    // A chat message goes out and comes back over WSS.
    await expect.poll(() => fan.getByTestId('chat-panel').getAttribute('data-connection').catch(() => null), { timeout: 20_000 }).toBe('open');
    const input = fan.getByTestId('chat-input');
    await expect.poll(() => input.isEnabled(), { timeout: 15_000 }).toBe(true);
    await input.fill('hello over wss');
    await input.press('Enter');
    await expect.poll(() => fan.getByTestId('chat-panel').getByTestId('chat-text').allTextContents(), { timeout: 15_000 }).toContain('hello over wss');
    const schemes = await fan.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).protocol));
    expect(new Set(schemes)).toEqual(new Set(['https:']));
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('sends security headers on the web app and the API over HTTPS', async () => {
    const { publicUrl } = t.stack.info;
    const page = await freshPage();
    const res = await page.goto(`${publicUrl}/`);
    const h = res!.headers();
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['content-security-policy']).toContain("script-src 'self'");
    expect(h['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h.server).toBeUndefined();
    // From the page (same origin, Chromium's trust): the API's answer, and Caddy hiding /metrics.
    const api = await page.evaluate(async () => {
      const r = await fetch('/api/streams');
      const m = await fetch('/metrics');
      return { status: r.status, hsts: r.headers.get('strict-transport-security'), csp: r.headers.get('content-security-policy'), metrics: m.status };
    });
    expect(api.status).toBe(200);
    expect(api.hsts).toMatch(/max-age=\d+/);
    expect(api.csp).toContain("frame-ancestors 'none'");
    expect(api.metrics).toBe(404);
  });

  it('stops an app started with an invalid setting, with one line naming it', async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps/api/dist/main.js')], {
      env: { PATH: process.env.PATH, API_PORT: 'abc', DATABASE_URL: 'postgres://127.0.0.1:1/x', NATS_URL: 'nats://127.0.0.1:1', JWT_KEYS: `k1:${'s'.repeat(40)}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^api: configuration: API_PORT must be an integer from 1 to 65535 .*; got "abc"$/);
  });
});
