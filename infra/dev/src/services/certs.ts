/**
 * Self-signed TLS certificates for the embedded stack's own listeners (the ingest's RTMPS): an
 * ECDSA P-256 key and a certificate for `localhost` and 127.0.0.1, made with the `openssl`
 * command (OpenSSL `req -x509`). A publisher trusts it explicitly (ffmpeg `-tls_verify 1
 * -ca_file <cert>`) or not at all; production uses real certificates (RTMPS_TLS_CERT_FILE).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** PEM files of a certificate and its key. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Returns `<dir>/<name>.crt` and `<dir>/<name>.key`, making them first when either is missing
 * (valid `days` days, default 825; the key file is mode 0600).
 * @throws Error with openssl's message when the command is missing or fails.
 */
export async function ensureSelfSignedCertificate(dir: string, name: string, days = 825): Promise<CertificateFiles> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };
  return makeSelfSignedCertificate(dir, name, { days, commonName: 'localhost' });
}

/**
 * Makes (or replaces) `<dir>/<name>.crt` and `<dir>/<name>.key`: a new P-256 key and a
 * self-signed certificate for `localhost` and 127.0.0.1 with subject CN `commonName` (tests tell
 * certificates apart by it), valid `days` days (default 1).
 * @throws Error with openssl's message when the command is missing or fails.
 */
export async function makeSelfSignedCertificate(dir: string, name: string, opts: { commonName?: string; days?: number } = {}): Promise<CertificateFiles> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(opts.days ?? 1),
      '-subj', `/CN=${opts.commonName ?? 'localhost'}/O=live-platform ${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyFile, '-out', certFile,
    ], { timeout: 30_000 });
  } catch (err) {
    throw new Error(`openssl could not make the ${name} certificate in ${dir}: ${(err as Error).message}`);
  }
  return { certFile, keyFile };
}
