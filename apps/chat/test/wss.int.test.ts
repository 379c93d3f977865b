/**
 * The chat gateway over TLS (`CHAT_TLS_CERT_FILE`/`CHAT_TLS_KEY_FILE`, uWS `SSLApp`), as a gateway
 * process against real nats-server and PostgreSQL: a client that trusts the certificate joins a
 * room over `wss://` and gets its history; one that does not trust it fails the handshake; after
 * the certificate files are replaced (by rename, as certbot does), a new connection to the
 * gateway's host name gets the new certificate and joins, without a restart, while the first
 * socket stays open.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ManagedProcess, freePort, makeSelfSignedCertificate } from '@live/dev';
import { createChannel, registerUsers, startChatBackends, TEST_JWT_KEYS, type ChatBackends } from './harness.js';

const REPO_ROOT = join(import.meta.dirname, '../../..');
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'chat-wss-'));
const certFile = join(dir, 'chat.crt');
const keyFile = join(dir, 'chat.key');
let b: ChatBackends;
let gateway: ManagedProcess;
let port = 0;


/** The CN of the certificate the gateway presents to a client sending SNI `servername`, or the TLS error. */
function servedCommonName(servername: string | undefined, ca?: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), ...(ca ? { ca } : { rejectUnauthorized: false }) }, () => {
      const cn = String(s.getPeerCertificate().subject?.CN ?? '');
      s.destroy();
      resolve(cn);
    });
    s.on('error', (err) => resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  });
}

/** Opens `wss://localhost:<port>/chat/<room>` trusting `ca` and resolves with the socket once `history` arrived. */
function joinRoom(room: string, ca: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${port}/chat/${room}`, { ca });
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'history') resolve(ws);
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

beforeAll(async () => {
  const first = await makeSelfSignedCertificate(dir, 'first', { commonName: 'first' });
  renameSync(first.certFile, certFile);
  renameSync(first.keyFile, keyFile);
  b = await startChatBackends(`chat-wss-${process.pid}`, logger);
  await registerUsers(b, ['wss-owner']);
  await createChannel(b, 'wss-room', 'wss-owner');
  port = await freePort();
  gateway = new ManagedProcess({
    service: 'chat-wss', command: process.execPath, args: ['--import', 'tsx', 'apps/chat/src/main.ts'], cwd: REPO_ROOT, logger,
    env: {
      ...process.env, NATS_URL: b.services.endpoints.natsUrl, NATS_USER: b.services.natsCredentials?.chat?.user ?? '', NATS_PASSWORD: b.services.natsCredentials?.chat?.password ?? '',
      DATABASE_URL: b.services.endpoints.databaseUrl, JWT_KEYS: TEST_JWT_KEYS.map((k) => `${k.kid}:${k.secret}`).join(','), CHAT_PORT: String(port),
      GATEWAY_ID: 'wss', CHAT_TLS_CERT_FILE: certFile, CHAT_TLS_KEY_FILE: keyFile, LOG_LEVEL: 'warn',
    },
  });
  const ca = readFileSync(certFile, 'utf8');
  await vi.waitFor(async () => {
    const e = gateway.exitError('starting');
    if (e) throw e;
    if ((await servedCommonName('localhost', ca)) !== 'first') throw new Error(`the WSS gateway did not answer:\n${gateway.tail.toString()}`);
  }, { timeout: 60_000, interval: 200 });
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await b?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

it('serves rooms over WSS, refuses clients that do not trust it, and takes a renewed certificate without a restart', async () => {
  const firstCa = readFileSync(certFile, 'utf8');
  const first = await joinRoom('wss-room', firstCa);
  // A client with only the system's CAs does not trust a self-signed certificate.
  await expect(new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${port}/chat/wss-room`);
    ws.on('open', () => resolve('open'));
    ws.on('error', reject);
  })).rejects.toThrow(/self[- ]signed|unable to verify/i);

  // certbot's way: the new pair is written beside the old one and renamed over it.
  const second = await makeSelfSignedCertificate(dir, 'second', { commonName: 'second' });
  renameSync(second.keyFile, keyFile);
  renameSync(second.certFile, certFile);
  const secondCa = readFileSync(certFile, 'utf8');
  await vi.waitFor(async () => {
    if ((await servedCommonName('localhost')) !== 'second') throw new Error(`the gateway still serves the old certificate:\n${gateway.tail.toString()}`);
  }, { timeout: 30_000, interval: 100 });
  expect(gateway.exitError('running')).toBeUndefined();
  const renewed = await joinRoom('wss-room', secondCa);
  expect(first.readyState).toBe(WebSocket.OPEN);
  renewed.close();
  first.close();
}, 90_000);
