import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { JetStreamApiError } from '@nats-io/jetstream';
import { isTransientJetStreamError, retryTransient } from '../src/transient.js';

const apiError = (code: number, errCode: number, description: string) => new JetStreamApiError({ code, err_code: errCode, description });

describe('isTransientJetStreamError', () => {
  it('retries timeouts, no responders and a cluster that is not available yet', () => {
    expect(isTransientJetStreamError(new TimeoutError())).toBe(true);
    expect(isTransientJetStreamError(new RequestError('request failed', { cause: new NoRespondersError('$JS.API.INFO') }))).toBe(true);
    expect(isTransientJetStreamError(apiError(503, 10008, 'JetStream system temporarily unavailable'))).toBe(true);
  });

  it('does not retry refusals', () => {
    expect(isTransientJetStreamError(apiError(404, 10059, 'stream not found'))).toBe(false);
    expect(isTransientJetStreamError(apiError(400, 10058, 'stream name already in use with a different configuration'))).toBe(false);
    expect(isTransientJetStreamError(new Error('Permissions Violation for Publish to "$JS.API.STREAM.CREATE.EVENTS"'))).toBe(false);
    expect(isTransientJetStreamError(undefined)).toBe(false);
  });
});

describe('retryTransient', () => {
  const logger = pino({ level: 'silent' });

  it('runs again after a transient failure and returns the result', async () => {
    let calls = 0;
    const out = await retryTransient(async () => {
      calls += 1;
      if (calls < 3) throw new TimeoutError();
      return 'ok';
    }, { what: 'test', logger, delaysMs: [1] });
    expect(out).toBe('ok');
    expect(calls).toBe(3);
  });

  it('rethrows a refusal at once and the last transient failure after the deadline', async () => {
    let calls = 0;
    await expect(retryTransient(async () => { calls += 1; throw apiError(404, 10059, 'stream not found'); }, { what: 'test', logger })).rejects.toThrow('stream not found');
    expect(calls).toBe(1);
    calls = 0;
    await expect(retryTransient(async () => { calls += 1; throw new TimeoutError(); }, { what: 'test', logger, deadlineMs: 0, delaysMs: [1] })).rejects.toThrow('timeout');
    expect(calls).toBe(1);
  });
});
