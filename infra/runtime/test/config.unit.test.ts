import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, List, Port, Secret, describeConfig, loadConfig, natsSettings, trustProxySettings } from '../src/index.js';

const schema = Type.Object({
  API_PORT: Port("The API's TCP port.", 8080),
  JWT_KEYS: Secret('Access-token key ring.', 8),
  ORIGINS: Type.Optional(List('Allowed origins.')),
  VERBOSE: Type.Optional(Type.Boolean({ description: 'Say more.' })),
  ...natsSettings,
  ...trustProxySettings,
});

function load(env: Record<string, string>) {
  return loadConfig(schema, { env });
}
function errorOf(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no error');
}
const ok = { JWT_KEYS: 'k1:0123456789', NATS_URL: 'nats://127.0.0.1:4222' };

describe('loadConfig', () => {
  it('converts, defaults and validates', () => {
    const c = load({ ...ok, ORIGINS: 'https://a.example, https://b.example,', VERBOSE: 'true', TRUST_PROXY: '10.0.0.0/8,loopback' });
    expect(c).toMatchObject({ API_PORT: 8080, ORIGINS: ['https://a.example', 'https://b.example'], VERBOSE: true, TRUST_PROXY: ['10.0.0.0/8', 'loopback'] });
    expect(load({ ...ok, API_PORT: '9000' }).API_PORT).toBe(9000);
  });

  it('names the variable and what was expected in one line', () => {
    const e = errorOf({ ...ok, API_PORT: 'abc' });
    expect(e.variable).toBe('API_PORT');
    expect(e.message).toBe('API_PORT must be an integer from 1 to 65535 (the API\'s TCP port); got "abc"');
    expect(e.message).not.toContain('\n');
    expect(errorOf({ ...ok, API_PORT: '70000' }).message).toMatch(/^API_PORT must be an integer from 1 to 65535/);
  });

  it('reports a missing required variable and hides secrets', () => {
    expect(errorOf({ NATS_URL: 'nats://x:1' }).message).toMatch(/^JWT_KEYS is required: a secret of at least 8 characters/);
    const e = errorOf({ ...ok, JWT_KEYS: 'short' });
    expect(e.message).toContain('got <hidden>');
    expect(e.message).not.toContain('short');
  });

  it('checks URL schemes, lists of URLs and CIDR lists', () => {
    expect(errorOf({ ...ok, NATS_URL: 'http://x:1' }).variable).toBe('NATS_URL');
    expect(load({ ...ok, NATS_URL: 'nats://a:1,nats://b:1' }).NATS_URL).toBe('nats://a:1,nats://b:1');
    expect(errorOf({ ...ok, TRUST_PROXY: 'my proxy' }).variable).toBe('TRUST_PROXY');
  });

  it('reads CONFIG_FILE and <NAME>_FILE, the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
    writeFileSync(join(dir, 'app.env'), 'API_PORT=7000\nNATS_URL=nats://file:4222\n# comment\n');
    writeFileSync(join(dir, 'jwt'), 'k9:from-a-file-secret\n');
    const c = load({ CONFIG_FILE: join(dir, 'app.env'), JWT_KEYS_FILE: join(dir, 'jwt'), API_PORT: '7001' });
    expect(c).toMatchObject({ API_PORT: 7001, NATS_URL: 'nats://file:4222', JWT_KEYS: 'k9:from-a-file-secret' });
    expect(errorOf({ ...ok, CONFIG_FILE: join(dir, 'missing.env') }).variable).toBe('CONFIG_FILE');
  });

  it('describes settings for the README table', () => {
    const rows = describeConfig(schema);
    expect(rows.find((r) => r.name === 'API_PORT')).toMatchObject({ required: false, defaultText: '`8080`', expected: 'an integer from 1 to 65535' });
    expect(rows.find((r) => r.name === 'JWT_KEYS')).toMatchObject({ required: true, secret: true });
    expect(rows.find((r) => r.name === 'NATS_URL')?.expected).toBe('a URL (nats://, tls://…)');
  });
});
