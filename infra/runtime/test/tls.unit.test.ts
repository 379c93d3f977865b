/**
 * loadTlsFiles / describeCertificate against throwaway certificates made by the openssl CLI:
 * what loads, and the error (file + problem) for each way a TLS file can be wrong.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCertificate, loadTlsFiles, MAX_TLS_FILE_BYTES, TlsFileError, type TlsFileProblem } from '../src/index.js';

let dir: string;
/** Two independent self-signed P-256 certificates for localhost / 127.0.0.1. */
let a: { cert: string; key: string };
let b: { cert: string; key: string };

const openssl = (...args: string[]): string => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}.localhost`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert);
  return { cert, key };
}

/** Writes `text` to a new file under the temp dir and returns its path. */
function file(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function problemOf(fn: () => unknown): { problem: TlsFileProblem; file: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TlsFileError);
    const e = err as TlsFileError;
    return { problem: e.problem, file: e.file, message: e.message };
  }
  throw new Error('expected a TlsFileError');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tls-unit-'));
  a = selfSigned('a');
  b = selfSigned('b');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadTlsFiles', () => {
  it('loads a certificate and its key into options OpenSSL accepts', () => {
    const o = loadTlsFiles({ certFile: a.cert, keyFile: a.key });
    expect(o.cert).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(o.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(o.ca).toBeUndefined();
    expect(() => createSecureContext(o)).not.toThrow();
  });

  it('describes the leaf certificate like openssl does', () => {
    const info = describeCertificate(loadTlsFiles({ certFile: a.cert, keyFile: a.key }).cert);
    const fp = openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', a.cert).trim().split('=')[1];
    const serial = openssl('x509', '-noout', '-serial', '-in', a.cert).trim().split('=')[1];
    expect(info.fingerprint256).toBe(fp);
    expect(info.serialNumber).toBe(serial);
    expect(info.subject).toBe('CN=a.localhost');
    expect(info.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(info.validTo.getTime()).toBeGreaterThan(Date.now());
    expect(info.validTo.getTime() - info.validFrom.getTime()).toBeLessThanOrEqual(86_400_000 + 1000);
    expect(() => describeCertificate('not a certificate')).toThrow(TypeError);
  });

  it('keeps a chain in order and drops non-certificate blocks of a combined cert+key file', () => {
    const combined = file('combined.pem', readFileSync(a.key, 'latin1') + readFileSync(a.cert, 'latin1') + readFileSync(b.cert, 'latin1'));
    const o = loadTlsFiles({ certFile: combined, keyFile: combined });
    expect(o.cert.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(o.cert).not.toContain('PRIVATE KEY');
    expect(describeCertificate(o.cert).subject).toBe('CN=a.localhost');
    expect(o.key.match(/BEGIN PRIVATE KEY/g)).toHaveLength(1);
  });

  it('accepts a traditional EC key file with an EC PARAMETERS block, and CRLF line endings', () => {
    const keyFile = join(dir, 'ec-trad.key');
    writeFileSync(keyFile, openssl('ecparam', '-name', 'prime256v1', '-genkey'));
    const certFile = join(dir, 'ec-trad.crt');
    openssl('req', '-x509', '-key', keyFile, '-days', '1', '-subj', '/CN=trad', '-out', certFile);
    expect(readFileSync(keyFile, 'latin1')).toContain('-----BEGIN EC PARAMETERS-----');
    const o = loadTlsFiles({ certFile, keyFile });
    expect(o.key).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    const crlf = file('crlf.crt', readFileSync(certFile, 'latin1').replace(/\n/g, '\r\n'));
    expect(loadTlsFiles({ certFile: crlf, keyFile }).cert).not.toContain('\r');
  });

  it('loads a CA file into ca', () => {
    const o = loadTlsFiles({ certFile: a.cert, keyFile: a.key, caFile: b.cert });
    expect(o.ca).toBe(readFileSync(b.cert, 'latin1'));
  });

  it('names a missing file, a directory and an oversized file as UNREADABLE', () => {
    const missing = join(dir, 'nope.pem');
    expect(problemOf(() => loadTlsFiles({ certFile: missing, keyFile: a.key }))).toMatchObject({ problem: 'UNREADABLE', file: missing, message: expect.stringContaining(`TLS certificate file ${missing}: cannot read (ENOENT)`) });
    mkdirSync(join(dir, 'adir'), { recursive: true });
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: join(dir, 'adir') }))).toMatchObject({ problem: 'UNREADABLE', message: expect.stringContaining('not a regular file') });
    const big = file('big.pem', Buffer.alloc(MAX_TLS_FILE_BYTES + 1, 0x41));
    expect(problemOf(() => loadTlsFiles({ certFile: big, keyFile: a.key }))).toMatchObject({ problem: 'UNREADABLE', file: big });
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: a.key, caFile: missing }))).toMatchObject({ problem: 'UNREADABLE', file: missing, message: expect.stringContaining('TLS CA file') });
  });

  it('reports an empty file and a file without the expected block as NO_PEM', () => {
    const empty = file('empty.pem', '');
    expect(problemOf(() => loadTlsFiles({ certFile: empty, keyFile: a.key }))).toMatchObject({ problem: 'NO_PEM', file: empty });
    expect(problemOf(() => loadTlsFiles({ certFile: a.key, keyFile: a.key }))).toMatchObject({ problem: 'NO_PEM', file: a.key });
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: a.cert }))).toMatchObject({ problem: 'NO_PEM', file: a.cert, message: expect.stringContaining('TLS key file') });
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: a.key, caFile: empty }))).toMatchObject({ problem: 'NO_PEM', file: empty });
    const der = join(dir, 'a.der');
    openssl('x509', '-in', a.cert, '-outform', 'der', '-out', der);
    expect(problemOf(() => loadTlsFiles({ certFile: der, keyFile: a.key }))).toMatchObject({ problem: 'NO_PEM', message: expect.stringContaining('a DER file?') });
  });

  it('reports a half-written certificate or key as TRUNCATED', () => {
    const certText = readFileSync(a.cert, 'latin1');
    const half = file('half.crt', certText.slice(0, Math.floor(certText.length / 2)));
    expect(problemOf(() => loadTlsFiles({ certFile: half, keyFile: a.key }))).toMatchObject({ problem: 'TRUNCATED', file: half, message: expect.stringContaining('half-written') });
    // A complete leaf followed by a chain certificate still being written.
    const chainHalf = file('chain-half.crt', certText + readFileSync(b.cert, 'latin1').slice(0, 100));
    expect(problemOf(() => loadTlsFiles({ certFile: chainHalf, keyFile: a.key }))).toMatchObject({ problem: 'TRUNCATED' });
    const keyText = readFileSync(a.key, 'latin1');
    const halfKey = file('half.key', keyText.slice(0, keyText.length - 30));
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: halfKey }))).toMatchObject({ problem: 'TRUNCATED', file: halfKey });
  });

  it('reports garbage inside the PEM armour as BAD_CERTIFICATE / BAD_KEY', () => {
    const junk = file('junk.crt', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    expect(problemOf(() => loadTlsFiles({ certFile: junk, keyFile: a.key }))).toMatchObject({ problem: 'BAD_CERTIFICATE', file: junk, message: expect.stringContaining('certificate #1') });
    const junkKey = file('junk.key', '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: junkKey }))).toMatchObject({ problem: 'BAD_KEY', file: junkKey });
    const twoKeys = file('two.key', readFileSync(a.key, 'latin1') + readFileSync(b.key, 'latin1'));
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: twoKeys }))).toMatchObject({ problem: 'BAD_KEY', message: expect.stringContaining('2 private keys') });
  });

  it('refuses an encrypted key as BAD_KEY', () => {
    const enc = join(dir, 'enc.key');
    openssl('pkey', '-in', a.key, '-aes256', '-passout', 'pass:secret', '-out', enc);
    expect(problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: enc }))).toMatchObject({ problem: 'BAD_KEY', file: enc, message: expect.stringContaining('encrypted') });
  });

  it('refuses a key that does not belong to the leaf certificate as KEY_MISMATCH, naming both files', () => {
    const e = problemOf(() => loadTlsFiles({ certFile: a.cert, keyFile: b.key }));
    expect(e).toMatchObject({ problem: 'KEY_MISMATCH', file: b.key });
    expect(e.message).toBe(`TLS key file ${b.key}: does not match the certificate in ${a.cert} (KEY_MISMATCH)`);
    // The key of the SECOND certificate of the chain is not good enough.
    const chain = file('ab.crt', readFileSync(a.cert, 'latin1') + readFileSync(b.cert, 'latin1'));
    expect(problemOf(() => loadTlsFiles({ certFile: chain, keyFile: b.key })).problem).toBe('KEY_MISMATCH');
  });

  it('throws a TypeError for missing paths', () => {
    expect(() => loadTlsFiles({ certFile: '', keyFile: a.key })).toThrow(TypeError);
    expect(() => loadTlsFiles(undefined as never)).toThrow(TypeError);
    expect(() => loadTlsFiles({ certFile: a.cert, keyFile: a.key, caFile: '' })).toThrow(TypeError);
  });
});
