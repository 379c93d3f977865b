/** The ingest settings that bound the RTMP listeners: defaults, overrides and refusals. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@live/runtime';
import { deriveIngestConfig, ingestConfigSchema } from '../src/config.js';

const BASE = {
  INTERNAL_TOKEN: 'a-test-token-of-32-characters-xx',
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  NATS_URL: 'nats://127.0.0.1:4222',
};

const derive = (env: Record<string, string>) => deriveIngestConfig(loadConfig(ingestConfigSchema, { env: { ...BASE, ...env } }));

describe('ingest config: RTMP bounds', () => {
  it('defaults every bound', () => {
    expect(derive({}).rtmpLimits).toEqual({
      maxConnections: 1000,
      maxConnectionsPerAddress: 20,
      unpublishedTimeoutMs: 10_000,
      maxPendingBytesUnpublished: 64 * 1024,
      maxPendingBytesPerConnection: 16 * 1024 * 1024,
      maxPendingBytes: 256 * 1024 * 1024,
    });
  });

  it('reads each bound from its variable (the timeout in seconds, fractions allowed)', () => {
    expect(derive({
      RTMP_MAX_CONNECTIONS: '50',
      RTMP_MAX_CONNECTIONS_PER_ADDRESS: '3',
      RTMP_UNPUBLISHED_TIMEOUT_SECONDS: '2.5',
      RTMP_MAX_PENDING_BYTES_UNPUBLISHED: '32768',
      RTMP_MAX_PENDING_BYTES_PER_CONNECTION: '4194304',
      RTMP_MAX_PENDING_BYTES: '67108864',
    }).rtmpLimits).toEqual({
      maxConnections: 50,
      maxConnectionsPerAddress: 3,
      unpublishedTimeoutMs: 2500,
      maxPendingBytesUnpublished: 32768,
      maxPendingBytesPerConnection: 4194304,
      maxPendingBytes: 67108864,
    });
  });

  it('refuses values a bound cannot work with, naming the variable', () => {
    for (const [name, value] of [['RTMP_MAX_CONNECTIONS_PER_ADDRESS', '0'], ['RTMP_MAX_CONNECTIONS', 'many'], ['RTMP_MAX_PENDING_BYTES', '100'], ['RTMP_UNPUBLISHED_TIMEOUT_SECONDS', '-1']] as const) {
      let err: unknown;
      try {
        derive({ [name]: value });
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(name);
    }
  });
});

describe('ingest config: SRT listener', () => {
  it('has no SRT listener without SRT_PORT', () => {
    expect(derive({}).srt).toBeUndefined();
  });

  it('binds RTMP_HOST by default (localhost as 127.0.0.1) with the default latency and bounds', () => {
    expect(derive({ SRT_PORT: '9000', RTMP_HOST: '0.0.0.0' }).srt).toEqual({
      port: 9000, host: '0.0.0.0', latencyMs: 200, limits: { maxConnections: 200, maxConnectionsPerAddress: 10, idleTimeoutMs: 10_000 },
    });
    expect(derive({ SRT_PORT: '0', RTMP_HOST: 'localhost' }).srt?.host).toBe('127.0.0.1');
  });

  it('reads the host, latency, passphrase and bounds', () => {
    expect(derive({
      SRT_PORT: '9001', SRT_HOST: '::', SRT_LATENCY_MS: '800', SRT_PASSPHRASE: 'a-long-passphrase', SRT_MAX_CONNECTIONS: '5', SRT_MAX_CONNECTIONS_PER_ADDRESS: '2', SRT_IDLE_TIMEOUT_SECONDS: '2.5',
    }).srt).toEqual({
      port: 9001, host: '::', latencyMs: 800, passphrase: 'a-long-passphrase', limits: { maxConnections: 5, maxConnectionsPerAddress: 2, idleTimeoutMs: 2500 },
    });
  });

  it.each([
    [{ SRT_PORT: '9000', SRT_PASSPHRASE: 'short' }, 'SRT_PASSPHRASE'],
    [{ SRT_PORT: '9000', SRT_LATENCY_MS: '5' }, 'SRT_LATENCY_MS'],
    [{ SRT_PORT: '9000', SRT_HOST: 'example.com' }, 'SRT_HOST'],
  ])('refuses %j', (env, name) => {
    expect(() => derive(env)).toThrow(ConfigError);
    expect(() => derive(env)).toThrow(name);
  });
});
