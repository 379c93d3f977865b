/**
 * watchTlsFiles + applyTlsReloads with real files, inotify and live TLS servers: a certificate
 * replaced the way certbot / cert-manager do it (rename over, symlink swap) is served to new
 * connections without a restart; a half-written or mismatched pair keeps the previous one.
 * Every wait is for an event (a reload, an error, a log line), bounded by a timeout.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createTlsServer, type Server, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { applyTlsReloads, TlsFileError, watchTlsFiles, type CertificateInfo, type TlsFilesWatcher, type TlsLogger } from '../src/index.js';

let root: string;
let n = 0;
const cleanups: Array<() => void | Promise<void>> = [];

interface Pem {
  cert: string;
  key: string;
  fingerprint256: string;
}

/** A fresh self-signed P-256 certificate (new key, new serial) for localhost / 127.0.0.1, as PEM text. */
function newCert(): Pem {
  const d = mkdtempSync(join(root, 'gen-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=localhost`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(d, 'k'), '-out', join(d, 'c')], { stdio: 'ignore' });
  const fp = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(d, 'c')]).toString().trim().split('=')[1]!;
  return { cert: readFileSync(join(d, 'c'), 'latin1'), key: readFileSync(join(d, 'k'), 'latin1'), fingerprint256: fp };
}

/** A directory holding `cert.pem` / `key.pem` of `pem`. */
function certDir(pem: Pem): { dir: string; certFile: string; keyFile: string } {
  const dir = join(root, `live-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cert.pem'), pem.cert);
  writeFileSync(join(dir, 'key.pem'), pem.key);
  return { dir, certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}

/** Replaces `path` atomically, as certbot/Caddy do: write a temp file beside it, rename it over. */
function replaceByRename(path: string, text: string): void {
  writeFileSync(`${path}.tmp-${++n}`, text);
  renameSync(`${path}.tmp-${n}`, path);
}

function captureLogger(): { logger: TlsLogger; lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }>; next(msg: string): Promise<Record<string, unknown>> } {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const waiters: Array<{ msg: string; resolve: (o: Record<string, unknown>) => void }> = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string): void => {
    lines.push({ level, msg, obj });
    for (const w of waiters.filter((x) => x.msg === msg)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(obj);
    }
  };
  return {
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    lines,
    next: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })),
  };
}

/** Rejects if `p` has not settled within `ms` (a generous bound: the wait itself is for an event). */
function within<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); })]).finally(() => clearTimeout(t));
}

const nextReload = (w: TlsFilesWatcher): Promise<CertificateInfo> =>
  within(new Promise((resolve) => {
    const off = w.subscribe((_o, info) => {
      off();
      resolve(info);
    });
  }), 'a reload');

/** Collects `onError` calls; `next()` resolves with the next one to arrive. */
function errorQueue(): { onError(e: Error): void; next(): Promise<Error> } {
  const waiters: Array<(e: Error) => void> = [];
  return {
    onError: (e) => waiters.shift()?.(e),
    next: () => within(new Promise<Error>((resolve) => waiters.push(resolve)), 'an onError call'),
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** Connects without verifying (we only look at what is served) and returns the socket and the served fingerprint. */
async function served(port: number): Promise<{ socket: TLSSocket; fingerprint256: string }> {
  const socket = connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  cleanups.push(() => {
    socket.destroy();
  });
  return { socket, fingerprint256: socket.getPeerCertificate().fingerprint256 };
}

/** A TLS echo server using the watcher's current options and applying its reloads. */
async function echoServer(w: TlsFilesWatcher): Promise<number> {
  const server = createTlsServer(w.current(), (s) => s.pipe(s));
  server.on('tlsClientError', (_e, s) => s.destroy());
  applyTlsReloads(w, server);
  return listen(server);
}

async function echo(socket: TLSSocket, text: string): Promise<string> {
  socket.write(text);
  return within(new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString()))), 'an echo');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tls-int-'));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('watchTlsFiles', () => {
  it('serves a certificate replaced by rename to new connections; established ones keep working', async () => {
    const first = newCert();
    const files = certDir(first);
    const w = watchTlsFiles(files, { debounceMs: 100 });
    cleanups.push(() => w.close());
    expect(w.certificate().fingerprint256).toBe(first.fingerprint256);
    const port = await echoServer(w);
    const before = await served(port);
    expect(before.fingerprint256).toBe(first.fingerprint256);

    const second = newCert();
    const reloaded = nextReload(w);
    replaceByRename(files.keyFile, second.key);
    replaceByRename(files.certFile, second.cert);
    expect((await reloaded).fingerprint256).toBe(second.fingerprint256);

    expect((await served(port)).fingerprint256).toBe(second.fingerprint256);
    expect(w.current().cert).toBe(second.cert);
    expect(await echo(before.socket, 'still here')).toBe('still here');
  });

  it('follows a Kubernetes-style symlink swap of the ..data directory', async () => {
    const dir = join(root, `k8s-${++n}`);
    mkdirSync(dir);
    const version = (pem: Pem): string => {
      const v = `..v${++n}`;
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, 'tls.crt'), pem.cert);
      writeFileSync(join(dir, v, 'tls.key'), pem.key);
      return v;
    };
    const first = newCert();
    symlinkSync(version(first), join(dir, '..data'));
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    const w = watchTlsFiles({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }, { debounceMs: 100 });
    cleanups.push(() => w.close());
    expect(w.certificate().fingerprint256).toBe(first.fingerprint256);

    const second = newCert();
    const reloaded = nextReload(w);
    symlinkSync(version(second), join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    expect((await reloaded).fingerprint256).toBe(second.fingerprint256);
  });

  it('keeps the previous certificate through a mismatched pair and a half-written file, then takes the complete one', async () => {
    const first = newCert();
    const files = certDir(first);
    const errors = errorQueue();
    const log = captureLogger();
    const w = watchTlsFiles(files, { debounceMs: 100, onError: errors.onError, logger: log.logger });
    cleanups.push(() => w.close());
    const port = await echoServer(w);
    const second = newCert();

    // certbot-style: the new certificate lands before its key.
    let err = errors.next();
    replaceByRename(files.certFile, second.cert);
    const mismatch = await err;
    expect(mismatch).toBeInstanceOf(TlsFileError);
    expect(mismatch).toMatchObject({ problem: 'KEY_MISMATCH', file: files.keyFile });
    expect(w.certificate().fingerprint256).toBe(first.fingerprint256);
    expect((await served(port)).fingerprint256).toBe(first.fingerprint256);
    expect(log.lines.find((l) => l.msg === 'TLS files not reloaded; keeping the previous certificate')).toMatchObject({ level: 'warn', obj: { problem: 'KEY_MISMATCH' } });

    // A key written in place, caught half-way.
    err = errors.next();
    writeFileSync(files.keyFile, second.key.slice(0, 60));
    expect(await err).toMatchObject({ problem: 'TRUNCATED', file: files.keyFile });
    expect((await served(port)).fingerprint256).toBe(first.fingerprint256);

    const reloaded = nextReload(w);
    writeFileSync(files.keyFile, second.key);
    expect((await reloaded).fingerprint256).toBe(second.fingerprint256);
    expect((await served(port)).fingerprint256).toBe(second.fingerprint256);
    expect(log.lines.filter((l) => l.msg === 'TLS certificate reloaded')).toEqual([
      expect.objectContaining({ level: 'info', obj: expect.objectContaining({ fingerprint256: second.fingerprint256 }) }),
    ]);
  });

  it('ignores a rewrite with the same content, and reload() applies a change at once', async () => {
    const first = newCert();
    const files = certDir(first);
    const log = captureLogger();
    let reloads = 0;
    const w = watchTlsFiles(files, { debounceMs: 100, logger: log.logger, onReload: () => reloads++ });
    cleanups.push(() => w.close());

    const unchanged = within(log.next('TLS files unchanged'), 'the unchanged line');
    replaceByRename(files.certFile, first.cert);
    expect(await unchanged).toMatchObject({ trigger: 'file change' });
    expect(reloads).toBe(0);
    expect(w.reload()).toBe(false);

    const second = newCert();
    writeFileSync(files.keyFile, second.key);
    writeFileSync(files.certFile, second.cert);
    const debounced = within(log.next('TLS files unchanged'), 'the debounced re-read');
    expect(w.reload()).toBe(true); // before the debounce fires
    expect(w.certificate().fingerprint256).toBe(second.fingerprint256);
    expect(await debounced).toMatchObject({ trigger: 'file change' }); // the events' re-read finds nothing new
    expect(reloads).toBe(1);

    w.close();
    w.close();
    writeFileSync(files.certFile, first.cert);
    writeFileSync(files.keyFile, first.key);
    expect(w.reload()).toBe(false);
    expect(w.certificate().fingerprint256).toBe(second.fingerprint256);
  });

  it('applies reloads to an https.Server (what Fastify runs on)', async () => {
    const first = newCert();
    const files = certDir(first);
    const w = watchTlsFiles(files, { debounceMs: 100 });
    cleanups.push(() => w.close());
    const server = createHttpsServer(w.current(), (_req, res) => res.end('ok'));
    const detach = applyTlsReloads(w, server);
    const port = await listen(server);
    expect((await served(port)).fingerprint256).toBe(first.fingerprint256);

    const second = newCert();
    const reloaded = nextReload(w);
    replaceByRename(files.keyFile, second.key);
    replaceByRename(files.certFile, second.cert);
    await reloaded;
    expect((await served(port)).fingerprint256).toBe(second.fingerprint256);

    // Once detached, the server keeps what it has.
    detach();
    replaceByRename(files.keyFile, first.key);
    replaceByRename(files.certFile, first.cert);
    await nextReload(w);
    expect((await served(port)).fingerprint256).toBe(second.fingerprint256);
  });

  it('reports a listener that throws and keeps serving the other listeners', async () => {
    const files = certDir(newCert());
    const errors = errorQueue();
    const log = captureLogger();
    const w = watchTlsFiles(files, { debounceMs: 100, onError: errors.onError, logger: log.logger, onReload: () => { throw new Error('listener broke'); } });
    cleanups.push(() => w.close());
    const second = newCert();
    const reloaded = nextReload(w);
    const err = errors.next();
    replaceByRename(files.keyFile, second.key);
    replaceByRename(files.certFile, second.cert);
    expect((await reloaded).fingerprint256).toBe(second.fingerprint256);
    expect((await err).message).toBe('listener broke');
    expect(log.lines.some((l) => l.level === 'error' && l.msg === 'TLS reload listener threw')).toBe(true);
  });

  it('throws at start for unusable files or options, and refuses a non-server in applyTlsReloads', () => {
    const files = certDir(newCert());
    const other = newCert();
    writeFileSync(files.keyFile, other.key);
    expect(() => watchTlsFiles(files)).toThrow(TlsFileError);
    expect(() => watchTlsFiles({ certFile: join(root, 'missing.pem'), keyFile: files.keyFile })).toThrow(/missing\.pem: cannot read \(ENOENT\)/);
    writeFileSync(files.certFile, other.cert);
    expect(() => watchTlsFiles(files, { debounceMs: -1 })).toThrow(TypeError);
    expect(() => watchTlsFiles(files, { pollIntervalMs: Number.NaN })).toThrow(TypeError);
    const w = watchTlsFiles(files, { pollIntervalMs: 0 });
    try {
      expect(() => applyTlsReloads(w, {} as never)).toThrow(/setSecureContext/);
    } finally {
      w.close();
    }
  });
});
