/**
 * The edge process in production's shape (`apps/edge/src/main.ts` with `EDGE_TLS_CERT_FILE`,
 * `EDGE_TLS_KEY_FILE` and `WEB_ROOT`): it answers over HTTPS, picks up a renewed certificate
 * without a restart (files replaced by rename, as certbot does), and serves the web app's static
 * files with the security headers: the page and client-side routes as `index.html`, hashed
 * assets immutable, and a JSON 404 for what is neither. (The media routes are covered by the
 * other edge tests; no database query runs here, so `DATABASE_URL` points nowhere.)
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ManagedProcess, freePort, makeSelfSignedCertificate } from '@live/dev';

const REPO_ROOT = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'edge-https-'));
const certFile = join(dir, 'edge.crt');
const keyFile = join(dir, 'edge.key');
const webRoot = join(dir, 'web');
let edge: ManagedProcess;
let port = 0;


interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string; peerCN: string }

/** GET over HTTPS trusting `ca` (or nothing else: the system's CAs when undefined). */
function get(path: string, ca: string | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', headers, ...(ca ? { ca } : {}), agent: false }, (res) => {
      const peerCN = String((res.socket as unknown as { getPeerCertificate(): { subject?: { CN?: string } } }).getPeerCertificate().subject?.CN ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCN }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const first = await makeSelfSignedCertificate(dir, 'first', { commonName: 'first' });
  renameSync(first.certFile, certFile);
  renameSync(first.keyFile, keyFile);
  mkdirSync(join(webRoot, 'assets'), { recursive: true });
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>Live</title><div id="root"></div>');
  writeFileSync(join(webRoot, 'assets/index-abc123.js'), 'console.log(1)');
  port = await freePort();
  edge = new ManagedProcess({
    service: 'edge-https', command: process.execPath, args: ['--import', 'tsx', 'apps/edge/src/main.ts'], cwd: REPO_ROOT, logger: pino({ level: 'silent' }),
    env: {
      PATH: process.env.PATH, EDGE_PORT: String(port), DATABASE_URL: 'postgres://127.0.0.1:1/none', STORAGE_DIR: join(dir, 'storage'),
      EDGE_TLS_CERT_FILE: certFile, EDGE_TLS_KEY_FILE: keyFile, WEB_ROOT: webRoot, PUBLIC_URL: 'https://localhost', LOG_LEVEL: 'warn',
    },
  });
  const ca = readFileSync(certFile, 'utf8');
  await vi.waitFor(async () => {
    const e = edge.exitError('starting');
    if (e) throw e;
    const ok = await get('/healthz', ca).then((a) => a.status === 200, () => false);
    if (!ok) throw new Error(`the edge did not answer over HTTPS:\n${edge.tail.toString()}`);
  }, { timeout: 60_000, interval: 200 });
}, 90_000);

afterAll(async () => {
  await edge?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('serves the web app with its security headers', async () => {
  const ca = readFileSync(certFile, 'utf8');
  const html = { accept: 'text/html,application/xhtml+xml' };
  const page = await get('/', ca, html);
  expect(page.status).toBe(200);
  expect(page.body).toContain('<div id="root">');
  expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  expect(page.headers['content-security-policy']).toContain("media-src 'self' blob:");
  expect(page.headers['strict-transport-security']).toBe('max-age=31536000');
  expect(page.headers['x-content-type-options']).toBe('nosniff');
  expect(page.headers['cache-control']).toBe('no-cache');
  // A client-side route is the page too; an asset is immutable; neither is a media path.
  const route = await get('/watch/live/demo', ca, html);
  expect(route.status).toBe(200);
  expect(route.body).toBe(page.body);
  expect(route.headers['content-security-policy']).toBe(page.headers['content-security-policy']);
  const asset = await get('/assets/index-abc123.js', ca);
  expect(asset.status).toBe(200);
  expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  const missing = await get('/assets/nope.js', ca);
  expect(missing.status).toBe(404);
  expect(JSON.parse(missing.body)).toMatchObject({ code: 'NOT_FOUND' });
  const traversal = await get('/..%2f..%2fetc/passwd', ca, html);
  expect(traversal.body).not.toContain('root:');
});

it('refuses clients that do not trust its certificate and takes a renewed one without a restart', async () => {
  await expect(get('/healthz', undefined)).rejects.toThrow(/self[- ]signed|unable to verify/i);
  const second = await makeSelfSignedCertificate(dir, 'second', { commonName: 'second' });
  renameSync(second.keyFile, keyFile);
  renameSync(second.certFile, certFile);
  const ca = readFileSync(certFile, 'utf8');
  const renewed = await vi.waitFor(async () => {
    const a = await get('/healthz', ca).catch(() => undefined);
    if (a?.peerCN !== 'second') throw new Error(`the edge still serves the old certificate:\n${edge.tail.toString()}`);
    return a;
  }, { timeout: 30_000, interval: 100 });
  expect(renewed.status).toBe(200);
  expect(edge.exitError('running')).toBeUndefined();
});
