/** The dashboard's webhook bodies and labels (src/webhooks.ts). */
import { describe, expect, it } from 'vitest';
import { WEBHOOK_EVENT_TYPE_NAMES } from '@live/events';
import { attemptLabel, parseDeliveryLog, parseWebhookList, parseWebhookWithSecret, webhookPath, webhooksPath, WEBHOOK_TYPE_CHOICES } from '../src/webhooks';

const endpoint = { id: 'w1', scope: 'channel', channelId: 'c1', url: 'https://x/h', description: '', eventTypes: ['vod.ready'], enabled: false, disabledReason: 'HTTP 500', disabledAt: null, createdAt: '2026-12-07T00:00:00.000Z', createdBy: 'u1' };

describe('webhook bodies', () => {
  it('parses lists, create answers and delivery logs, dropping malformed entries', () => {
    expect(parseWebhookList({ endpoints: [endpoint, { id: 3 }] })).toEqual([
      { id: 'w1', url: 'https://x/h', description: '', eventTypes: ['vod.ready'], enabled: false, disabledReason: 'HTTP 500', createdAt: endpoint.createdAt },
    ]);
    expect(parseWebhookList(null)).toEqual([]);
    expect(parseWebhookWithSecret({ endpoint, secret: 'whsec_x' })?.secret).toBe('whsec_x');
    expect(parseWebhookWithSecret({ endpoint })).toBeNull();
    const log = parseDeliveryLog({ deliveries: [
      { id: 'd1', eventId: 'e1', eventType: 'vod.ready', status: 'pending', createdAt: endpoint.createdAt, nextAttemptAt: endpoint.createdAt, redeliveryOf: null, payload: '{}',
        attempts: [{ at: endpoint.createdAt, statusCode: null, error: 'ECONNREFUSED', durationMs: 1.4, ok: false }, { bad: true }] },
      { id: 'd2', status: 'lost' },
    ] });
    expect(log).toHaveLength(1);
    expect(log[0]!.attempts).toEqual([{ at: endpoint.createdAt, statusCode: null, error: 'ECONNREFUSED', durationMs: 1.4, ok: false }]);
  });

  it('labels attempts and offers every webhook type', () => {
    expect(attemptLabel({ at: '', statusCode: 200, error: null, durationMs: 12.3, ok: true })).toBe('200 in 12 ms');
    expect(attemptLabel({ at: '', statusCode: 500, error: 'HTTP 500', durationMs: 3, ok: false })).toBe('HTTP 500 in 3 ms');
    expect(attemptLabel({ at: '', statusCode: null, error: 'ECONNREFUSED', durationMs: 1, ok: false })).toBe('ECONNREFUSED after 1 ms');
    expect(WEBHOOK_TYPE_CHOICES.map((c) => c.type)).toEqual(WEBHOOK_EVENT_TYPE_NAMES);
    expect(webhooksPath('c 1')).toBe('/api/webhooks?channelId=c+1');
    expect(webhookPath('w/1', '/enable')).toBe('/api/webhooks/w%2F1/enable');
  });
});
