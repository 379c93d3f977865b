/**
 * TLS certificate files that are picked up again when they change.
 *
 * {@link loadTlsFiles} reads a PEM certificate chain, its private key and an optional CA bundle
 * and checks them (complete PEM blocks, parsable X.509 certificates, an unencrypted private key
 * that matches the leaf certificate, accepted by OpenSSL) before returning the
 * `tls.SecureContextOptions` a `tls.Server` / `https.Server` is created with.
 *
 * {@link watchTlsFiles} keeps those options current: it watches the files' DIRECTORIES (certbot,
 * Caddy and cert-manager replace files by renaming a new file or symlink over the old one, which
 * a watch on the old inode never sees), debounces the burst of events a renewal makes, re-reads
 * the files, and hands a changed, valid set to its listeners. A half-written file or a cert and
 * key that do not match (the window between two renames) is logged and reported, and the
 * previous options stay in force; the next event (or the periodic re-check) tries again.
 *
 * {@link applyTlsReloads} connects a watcher to any server that has `setSecureContext` (a
 * `tls.Server`, hence an `https.Server`, e.g. Fastify's `app.server`): new connections get the
 * new certificate, established ones are not interrupted (Node.js docs, `server.setSecureContext`).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** Paths of the PEM files making up a TLS identity. */
export interface TlsFiles {
  /**
   * PEM certificate chain: the leaf certificate first, then its intermediates (what certbot
   * calls `fullchain.pem`, cert-manager `tls.crt`). Other PEM blocks in the file (e.g. a private
   * key in a combined file) are ignored.
   */
  certFile: string;
  /**
   * PEM private key of the leaf certificate (PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or
   * `EC PRIVATE KEY`), unencrypted. May be the same path as `certFile` (a combined PEM).
   */
  keyFile: string;
  /**
   * Optional PEM CA bundle, passed as `ca`: the issuers trusted for client certificates (mutual
   * TLS with `requestCert`). It does not complete the served chain; put intermediates in `certFile`.
   */
  caFile?: string;
}

/**
 * What {@link loadTlsFiles} returns: `tls.SecureContextOptions` holding only the certificate
 * blocks of `certFile` (as `cert`), the private key block of `keyFile` (as `key`) and, with a
 * `caFile`, its certificate blocks (as `ca`). All strings are PEM.
 */
export interface TlsCredentials extends SecureContextOptions {
  cert: string;
  key: string;
  ca?: string;
}

/** Facts about a leaf certificate, for logs and metrics (see {@link describeCertificate}). */
export interface CertificateInfo {
  /** Distinguished name, one `attr=value` per line as Node.js prints it (e.g. `CN=example.com`). */
  subject: string;
  issuer: string;
  /** Serial number, upper-case hexadecimal. */
  serialNumber: string;
  /** SHA-256 fingerprint, `AB:CD:...` — what `TLSSocket.getPeerCertificate().fingerprint256` shows. */
  fingerprint256: string;
  /** `DNS:example.com, IP Address:127.0.0.1`, or undefined without the extension. */
  subjectAltName: string | undefined;
  validFrom: Date;
  validTo: Date;
}

/** What went wrong with a TLS file (see {@link TlsFileError}). */
export type TlsFileProblem =
  /** The file could not be read: missing, not a regular file, no permission, too large. */
  | 'UNREADABLE'
  /** No complete PEM block of the expected kind (empty, or still being written). */
  | 'NO_PEM'
  /** A PEM block starts but never ends: a half-written file. */
  | 'TRUNCATED'
  /** A certificate block does not parse as X.509. */
  | 'BAD_CERTIFICATE'
  /** The key block does not parse, is encrypted, is not a private key, or there are several. */
  | 'BAD_KEY'
  /** The private key does not belong to the leaf certificate. */
  | 'KEY_MISMATCH'
  /** OpenSSL refused the combination (`tls.createSecureContext` threw). */
  | 'REJECTED';

/**
 * A TLS file that cannot be used. `message` names the file and the problem, e.g.
 * `TLS key file /etc/tls/key.pem: does not match the certificate in /etc/tls/cert.pem (KEY_MISMATCH)`.
 */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';
  /**
   * @param file the file at fault (for KEY_MISMATCH and REJECTED: the key file).
   * @param problem what is wrong with it.
   */
  constructor(
    readonly file: string,
    readonly problem: TlsFileProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (${problem})`, options);
  }
}

/** Largest TLS file read, bytes: a PEM chain or bundle is a few KiB, a system CA bundle ~200 KiB. */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

interface PemBlock {
  label: string;
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

function readPem(file: string, what: string): string {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new TlsFileError(file, 'UNREADABLE', `${what} ${file}: not a regular file`);
    if (st.size > MAX_TLS_FILE_BYTES) throw new TlsFileError(file, 'UNREADABLE', `${what} ${file}: ${st.size} bytes, more than ${MAX_TLS_FILE_BYTES} for a PEM file`);
    return readFileSync(file, 'latin1');
  } catch (err) {
    if (err instanceof TlsFileError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new TlsFileError(file, 'UNREADABLE', `${what} ${file}: cannot read (${e.code ?? e.message})`, { cause: err });
  }
}

/** Complete PEM blocks of `text`; throws TRUNCATED when a BEGIN line has no matching END line. */
function pemBlocks(text: string, file: string, what: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) blocks.push({ label: m[1]!, text: `${m[0].replace(/\r\n/g, '\n')}\n` });
  const begins = text.match(/-----BEGIN [A-Z0-9 ]+-----/g)?.length ?? 0;
  if (begins > blocks.length) throw new TlsFileError(file, 'TRUNCATED', `${what} ${file}: a PEM block has no END line (file half-written?)`);
  return blocks;
}

function certificates(file: string, what: string): { pem: string; certs: X509Certificate[] } {
  const text = readPem(file, what);
  const blocks = pemBlocks(text, file, what).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) {
    const der = text.length > 0 && !text.includes('-----BEGIN') && text.charCodeAt(0) === 0x30;
    throw new TlsFileError(file, 'NO_PEM', `${what} ${file}: no "-----BEGIN CERTIFICATE-----" block${der ? ' (a DER file? convert it: openssl x509 -inform der -in FILE -out FILE.pem)' : ''}`);
  }
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b.text);
    } catch (err) {
      throw new TlsFileError(file, 'BAD_CERTIFICATE', `${what} ${file}: certificate #${i + 1} is not valid X.509 (${(err as Error).message})`, { cause: err });
    }
  });
  return { pem: blocks.map((b) => b.text).join(''), certs };
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

function privateKey(file: string): { pem: string; key: KeyObject } {
  const what = 'TLS key file';
  const blocks = pemBlocks(readPem(file, what), file, what);
  if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY' || (KEY_LABELS.has(b.label) && b.text.includes('Proc-Type: 4,ENCRYPTED')))) {
    throw new TlsFileError(file, 'BAD_KEY', `${what} ${file}: the private key is encrypted; provide it without a passphrase`);
  }
  const keys = blocks.filter((b) => KEY_LABELS.has(b.label));
  if (keys.length === 0) throw new TlsFileError(file, 'NO_PEM', `${what} ${file}: no "-----BEGIN PRIVATE KEY-----" (or RSA/EC PRIVATE KEY) block`);
  if (keys.length > 1) throw new TlsFileError(file, 'BAD_KEY', `${what} ${file}: ${keys.length} private keys; expected one`);
  const pem = keys[0]!.text;
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch (err) {
    throw new TlsFileError(file, 'BAD_KEY', `${what} ${file}: the private key does not parse (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Reads and checks a certificate chain, its private key and an optional CA bundle (PEM files,
 * RFC 7468), synchronously (a few KiB).
 *
 * Checks, in order: each file is a regular file of at most {@link MAX_TLS_FILE_BYTES}; every
 * PEM block is complete; the cert file holds at least one certificate and each parses as X.509;
 * the key file holds exactly one unencrypted private key; the key matches the FIRST certificate
 * (the leaf); the CA file (if any) holds certificates; OpenSSL accepts the set
 * (`tls.createSecureContext`). An expired certificate is NOT refused (see
 * {@link describeCertificate} to check dates).
 * @returns the options to pass to `tls.createServer` / `https.createServer` /
 *   `server.setSecureContext` (only the relevant PEM blocks: other blocks are dropped).
 * @throws {TlsFileError} naming the file and the problem.
 */
export function loadTlsFiles(files: TlsFiles): TlsCredentials {
  if (!files || typeof files.certFile !== 'string' || files.certFile === '' || typeof files.keyFile !== 'string' || files.keyFile === '') {
    throw new TypeError('loadTlsFiles: certFile and keyFile must be non-empty paths');
  }
  if (files.caFile !== undefined && (typeof files.caFile !== 'string' || files.caFile === '')) {
    throw new TypeError('loadTlsFiles: caFile must be a non-empty path when given');
  }
  const chain = certificates(files.certFile, 'TLS certificate file');
  const key = privateKey(files.keyFile);
  if (!chain.certs[0]!.checkPrivateKey(key.key)) {
    throw new TlsFileError(files.keyFile, 'KEY_MISMATCH', `TLS key file ${files.keyFile}: does not match the certificate in ${files.certFile}`);
  }
  const out: TlsCredentials = { cert: chain.pem, key: key.pem };
  if (files.caFile !== undefined) out.ca = certificates(files.caFile, 'TLS CA file').pem;
  try {
    createSecureContext(out);
  } catch (err) {
    throw new TlsFileError(files.keyFile, 'REJECTED', `TLS files ${files.certFile} / ${files.keyFile}: refused by OpenSSL (${(err as Error).message})`, { cause: err });
  }
  return out;
}

/**
 * Describes the leaf (first) certificate of a PEM chain.
 * @param certPem PEM text or buffer, e.g. `loadTlsFiles(...).cert`.
 * @throws {TypeError} when it holds no parsable certificate.
 */
export function describeCertificate(certPem: string | Buffer): CertificateInfo {
  const text = typeof certPem === 'string' ? certPem : certPem.toString('latin1');
  const block = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  let cert: X509Certificate;
  try {
    if (block === undefined) throw new Error('no CERTIFICATE block');
    cert = new X509Certificate(block);
  } catch (err) {
    throw new TypeError(`describeCertificate: not a PEM certificate (${(err as Error).message})`);
  }
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber.toUpperCase(),
    fingerprint256: cert.fingerprint256,
    subjectAltName: cert.subjectAltName,
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
  };
}

/**
 * The logging a watcher does; pino's `Logger` fits. Lines: `debug` for ignored events, `info`
 * for a reload, `warn` for a refused reload or a certificate outside its validity period, `error`
 * for a listener that threw.
 */
export interface TlsLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Called with the new options (and their leaf certificate) after each successful reload. */
export type TlsReloadListener = (options: TlsCredentials, certificate: CertificateInfo) => void;

/** Options of {@link watchTlsFiles}. */
export interface WatchTlsFilesOptions {
  /** Listener registered before the first event (same as calling `subscribe` at once). */
  onReload?: TlsReloadListener;
  /**
   * Called when a reload is refused ({@link TlsFileError}; the previous options stay) or a
   * listener throws. Never called for the initial load, which throws instead.
   */
  onError?: (err: Error) => void;
  logger?: TlsLogger;
  /** Quiet period after the last file-system event before re-reading, ms. Default 250. */
  debounceMs?: number;
  /**
   * Also re-read every this many ms, in case file-system events are missed (network file
   * systems, a watched directory that was replaced). 0 disables. Default 60 000.
   */
  pollIntervalMs?: number;
}

/** A running watch of TLS files (see {@link watchTlsFiles}). */
export interface TlsFilesWatcher {
  /** The options last loaded successfully (never a refused set). */
  current(): TlsCredentials;
  /** The leaf certificate of {@link current}. */
  certificate(): CertificateInfo;
  /**
   * Adds a listener called after each successful reload (not for the initial load: read
   * {@link current} for that). Returns a function that removes it.
   */
  subscribe(listener: TlsReloadListener): () => void;
  /**
   * Re-reads the files now (e.g. on SIGHUP). Returns true when a changed, valid set was applied;
   * false when nothing changed or the set was refused (reported to `onError` and the logger).
   */
  reload(): boolean;
  /** Stops watching; idempotent. `current()` keeps answering. */
  close(): void;
}

/**
 * Loads `files` (like {@link loadTlsFiles}) and keeps them current: watches the directory of
 * each file with `fs.watch` (inotify on Linux) and, `debounceMs` after the last event (at most
 * 4 × `debounceMs` after the first), re-reads all files. A changed, valid set replaces
 * {@link TlsFilesWatcher.current} and is given to every listener; an unchanged set is ignored;
 * an invalid one is logged at warn and passed to `onError`, the previous set staying in force.
 * Any event in a watched directory triggers a re-read, so a Kubernetes secret volume (whose
 * files are symlinks through `..data`, swapped by rename) and certbot's `live/` symlinks are
 * followed too. Timers and watchers do not keep the process alive.
 * @throws {TlsFileError} when the initial load fails; {@link TypeError} for bad options.
 */
export function watchTlsFiles(files: TlsFiles, opts: WatchTlsFilesOptions = {}): TlsFilesWatcher {
  const debounceMs = opts.debounceMs ?? 250;
  const pollIntervalMs = opts.pollIntervalMs ?? 60_000;
  if (!Number.isFinite(debounceMs) || debounceMs < 0) throw new TypeError(`watchTlsFiles: debounceMs must be a number >= 0, got ${debounceMs}`);
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 0) throw new TypeError(`watchTlsFiles: pollIntervalMs must be a number >= 0, got ${pollIntervalMs}`);
  const logger = opts.logger;
  let options = loadTlsFiles(files);
  let info = describeCertificate(options.cert);
  const listeners = new Set<TlsReloadListener>();
  if (opts.onReload) listeners.add(opts.onReload);
  const paths = [files.certFile, files.keyFile, ...(files.caFile !== undefined ? [files.caFile] : [])];
  const dirs = [...new Set(paths.map((p) => dirname(resolve(p))))];
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  /** Key of the last refused set, so a broken file is reported once, not on every poll. */
  let lastRefused: string | undefined;

  const report = (err: Error): void => {
    try {
      opts.onError?.(err);
    } catch (e) {
      logger?.error({ err: (e as Error).message }, 'TLS onError callback threw');
    }
  };

  const checkValidity = (c: CertificateInfo): void => {
    const now = Date.now();
    if (c.validTo.getTime() < now || c.validFrom.getTime() > now) {
      logger?.warn({ certFile: files.certFile, validFrom: c.validFrom.toISOString(), validTo: c.validTo.toISOString() }, 'TLS certificate is outside its validity period');
    }
  };
  checkValidity(info);

  const reload = (trigger: string): boolean => {
    if (closed) return false;
    let next: TlsCredentials;
    try {
      next = loadTlsFiles(files);
    } catch (err) {
      const key = (err as Error).message;
      if (key !== lastRefused) {
        lastRefused = key;
        logger?.warn({ err: key, file: (err as TlsFileError).file, problem: (err as TlsFileError).problem, trigger }, 'TLS files not reloaded; keeping the previous certificate');
        report(err as Error);
      }
      return false;
    }
    lastRefused = undefined;
    if (next.cert === options.cert && next.key === options.key && next.ca === options.ca) {
      logger?.debug({ trigger }, 'TLS files unchanged');
      return false;
    }
    const nextInfo = describeCertificate(next.cert);
    options = next;
    info = nextInfo;
    logger?.info({ trigger, certFile: files.certFile, serialNumber: info.serialNumber, fingerprint256: info.fingerprint256, validTo: info.validTo.toISOString() }, 'TLS certificate reloaded');
    checkValidity(info);
    for (const l of [...listeners]) {
      try {
        l(options, info);
      } catch (err) {
        logger?.error({ err: (err as Error).message }, 'TLS reload listener threw');
        report(err as Error);
      }
    }
    return true;
  };

  const schedule = (): void => {
    if (closed) return;
    const now = Date.now();
    if (debounce === undefined) firstEventAt = now;
    else if (now - firstEventAt >= 4 * debounceMs) return; // a steady stream of events must not starve the reload
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      reload('file change');
    }, debounceMs);
    debounce.unref();
  };

  const watchDir = (dir: string): void => {
    if (closed || watchers.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        logger?.debug({ dir, file: filename === null ? null : basename(String(filename)) }, 'TLS directory event');
        schedule();
      });
      w.on('error', (err) => {
        logger?.warn({ dir, err: err.message }, 'TLS directory watch failed; relying on the periodic re-check');
        w.close();
        watchers.delete(dir);
      });
      watchers.set(dir, w);
    } catch (err) {
      logger?.warn({ dir, err: (err as Error).message }, 'cannot watch TLS directory; relying on the periodic re-check');
    }
  };
  for (const d of dirs) watchDir(d);

  const poll = pollIntervalMs > 0
    ? setInterval(() => {
      for (const d of dirs) watchDir(d); // re-arm a watch that failed
      reload('periodic check');
    }, pollIntervalMs)
    : undefined;
  poll?.unref();

  return {
    current: () => options,
    certificate: () => info,
    subscribe(listener) {
      if (typeof listener !== 'function') throw new TypeError('TlsFilesWatcher.subscribe: listener must be a function');
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    reload: () => reload('manual'),
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      listeners.clear();
    },
  };
}

/** Anything whose TLS identity can be replaced in place: a `tls.Server`, an `https.Server`. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * Applies every reload of `watcher` to `server` with `server.setSecureContext(options)` (Node.js
 * `tls.Server#setSecureContext`): connections accepted afterwards use the new certificate;
 * established ones are untouched. Use `watcher.current()` as the server's initial options.
 * A `setSecureContext` failure is logged by the watcher and passed to its `onError`; the server
 * keeps its previous context.
 * @returns a function that stops applying reloads to this server.
 */
export function applyTlsReloads(watcher: TlsFilesWatcher, server: SecureContextTarget): () => void {
  if (!server || typeof server.setSecureContext !== 'function') throw new TypeError('applyTlsReloads: server has no setSecureContext method (not a tls.Server / https.Server)');
  return watcher.subscribe((options) => server.setSecureContext(options));
}
