import { useState, type FormEvent } from 'react';
import { errorMessage } from './api';
import { timeAgo } from './format';
import { useApiList } from './useApiList';
import { appSession } from './useSession';
import { useAction } from './useAction';
import {
  attemptLabel, parseDeliveryLog, parseWebhookList, parseWebhookWithSecret, webhookPath, webhooksPath, WEBHOOK_TYPE_CHOICES, WEBHOOK_TYPE_LABELS,
  type WebhookDelivery, type WebhookEndpoint,
} from './webhooks';

/** A secret just issued: shown once, until the panel is left. */
function SecretNotice({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div className="webhook-secret" role="note" data-testid="webhook-secret-notice">
      <p>
        Signing secret: <code className="secret" data-testid="webhook-secret">{secret}</code>
      </p>
      <p className="hint hint-warning">
        Shown only this once: store it with your receiver now. Verify each delivery’s <code>Live-Signature</code> header with it (see the README).
      </p>
      <button type="button" className="button" onClick={onDone}>
        I have stored it
      </button>
    </div>
  );
}

/** The form that registers an endpoint: URL, description, event types. */
function AddEndpoint({ channelId, onCreated }: { channelId: string; onCreated: (endpoint: WebhookEndpoint, secret: string) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [types, setTypes] = useState<string[]>(['stream.started', 'stream.ended']);
  const { busy, error, setError, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (types.length === 0) {
      setError('Pick at least one event type.');
      return;
    }
    await run(async () => {
      const body = await appSession().request('/api/webhooks', { method: 'POST', body: { channelId, url: url.trim(), description: description.trim(), eventTypes: types }, auth: 'required' });
      const created = parseWebhookWithSecret(body);
      if (!created) throw new Error('POST /api/webhooks: unexpected response');
      setUrl('');
      setDescription('');
      onCreated(created.endpoint, created.secret);
    });
  };
  const toggle = (t: string) => setTypes((list) => (list.includes(t) ? list.filter((x) => x !== t) : [...list, t]));
  return (
    <form className="form" onSubmit={(e) => void submit(e)} data-testid="webhook-form">
      {error !== null && (
        <p className="form-error" role="alert" data-testid="webhook-form-error">
          {error}
        </p>
      )}
      <div className="field">
        <label htmlFor="webhook-url">Endpoint URL</label>
        <input id="webhook-url" name="url" type="url" required maxLength={2048} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/hooks/live" />
      </div>
      <div className="field">
        <label htmlFor="webhook-description">
          Description <span className="muted">(optional)</span>
        </label>
        <input id="webhook-description" name="description" maxLength={200} value={description} onChange={(e) => setDescription(e.target.value)} />
      </div>
      <fieldset className="field webhook-types">
        <legend>Events</legend>
        {WEBHOOK_TYPE_CHOICES.map((c) => (
          <label key={c.type} className="webhook-type">
            <input type="checkbox" checked={types.includes(c.type)} onChange={() => toggle(c.type)} /> {c.label} <code className="muted">{c.type}</code>
          </label>
        ))}
      </fieldset>
      <button type="submit" className="button button-primary" disabled={busy} aria-busy={busy} data-testid="webhook-add">
        {busy ? 'Adding…' : 'Add endpoint'}
      </button>
    </form>
  );
}

/** An endpoint's delivery log with a redelivery button per delivery. */
function DeliveryLog({ endpointId }: { endpointId: string }) {
  const { data: log, error, setError, reload: load } = useApiList(webhookPath(endpointId, '/deliveries?limit=20'), parseDeliveryLog);
  const redeliver = async (d: WebhookDelivery) => {
    try {
      await appSession().request(webhookPath(endpointId, `/deliveries/${encodeURIComponent(d.id)}/redeliver`), { method: 'POST', body: {}, auth: 'required' });
    } catch (err) {
      setError(errorMessage(err));
    }
    await load();
  };
  return (
    <div className="webhook-log" data-testid="webhook-log">
      <div className="queue-head">
        <h3>Deliveries</h3>
        <button type="button" className="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {log === null ? null : log.length === 0 ? (
        <p className="muted">No deliveries yet.</p>
      ) : (
        <ul className="queue-list">
          {log.map((d) => (
            <li key={d.id} className="queue-item" data-testid="webhook-delivery" data-status={d.status}>
              <div className="queue-meta muted">
                <span className={d.status === 'delivered' ? 'webhook-ok' : 'webhook-pending'}>{d.status === 'delivered' ? 'Delivered' : 'Pending'}</span>
                <code>{d.eventType}</code>
                <span title={d.eventId}>event {d.eventId.slice(0, 13)}…</span>
                {d.redeliveryOf !== null && <span>redelivery</span>}
                <time dateTime={d.createdAt}>{timeAgo(d.createdAt)}</time>
              </div>
              <ol className="webhook-attempts">
                {d.attempts.map((a, i) => (
                  <li key={i} className={a.ok ? 'webhook-ok' : 'webhook-failed'} data-testid="webhook-attempt">
                    <time dateTime={a.at}>{new Date(a.at).toLocaleTimeString()}</time> {attemptLabel(a)}
                  </li>
                ))}
              </ol>
              {d.status === 'pending' && d.nextAttemptAt !== null && <p className="muted">Next attempt {new Date(d.nextAttemptAt).toLocaleTimeString()}</p>}
              <button type="button" className="button" onClick={() => void redeliver(d)} data-testid="webhook-redeliver">
                Redeliver
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** One endpoint: state, actions (deliveries, rotate the secret, enable, delete). */
function EndpointItem({ endpoint, onChanged, onSecret }: { endpoint: WebhookEndpoint; onChanged: () => Promise<void>; onSecret: (secret: string) => void }) {
  const [open, setOpen] = useState(false);
  const { busy, error, run } = useAction();
  const act = (path: string, method: 'POST' | 'DELETE', after?: (body: unknown) => void) =>
    run(async () => {
      const body = await appSession().request(webhookPath(endpoint.id, path), { method, ...(method === 'POST' ? { body: {} } : {}), auth: 'required' });
      after?.(body);
      await onChanged();
    });
  return (
    <li className="queue-item" data-testid="webhook-endpoint" data-enabled={endpoint.enabled}>
      <p className="webhook-url">
        <code>{endpoint.url}</code> {endpoint.description !== '' && <span className="muted">— {endpoint.description}</span>}
      </p>
      <p className="muted">{endpoint.eventTypes.map((t) => WEBHOOK_TYPE_LABELS[t as keyof typeof WEBHOOK_TYPE_LABELS] ?? t).join(', ')}</p>
      {!endpoint.enabled && (
        <p className="form-error" role="status" data-testid="webhook-disabled">
          Disabled: {endpoint.disabledReason ?? 'no reason given'}
        </p>
      )}
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="queue-actions">
        <button type="button" className="button" onClick={() => setOpen((o) => !o)} aria-expanded={open} data-testid="webhook-toggle-log">
          {open ? 'Hide deliveries' : 'Deliveries'}
        </button>
        <button type="button" className="button" disabled={busy} onClick={() => void act('/rotate-secret', 'POST', (b) => { const r = parseWebhookWithSecret(b); if (r) onSecret(r.secret); })}>
          Rotate secret
        </button>
        {!endpoint.enabled && (
          <button type="button" className="button button-primary" disabled={busy} onClick={() => void act('/enable', 'POST')}>
            Enable
          </button>
        )}
        <button type="button" className="button" disabled={busy} onClick={() => void act('', 'DELETE')}>
          Delete
        </button>
      </div>
      {open && <DeliveryLog endpointId={endpoint.id} />}
    </li>
  );
}

/**
 * The dashboard's Webhooks section: the channel's endpoints (state, the reason a disabled one
 * stopped), a form to add one (URL, event types), the signing secret shown once after adding
 * or rotating, and each endpoint's delivery log (attempts: time, status or error, duration)
 * with a redelivery button.
 */
export function WebhooksPanel({ channelId }: { channelId: string }) {
  const { data: endpoints, error, reload: load } = useApiList(webhooksPath(channelId), parseWebhookList);
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <section className="panel" aria-labelledby="webhooks-heading" data-testid="webhooks">
      <h2 id="webhooks-heading">Webhooks</h2>
      <p className="muted">Get an HTTP POST, signed with your endpoint’s secret, when something happens on your channel.</p>
      {secret !== null && <SecretNotice secret={secret} onDone={() => setSecret(null)} />}
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {endpoints !== null && endpoints.length > 0 && (
        <ul className="queue-list" data-testid="webhook-endpoints">
          {endpoints.map((ep) => (
            <EndpointItem key={ep.id} endpoint={ep} onChanged={load} onSecret={setSecret} />
          ))}
        </ul>
      )}
      {endpoints !== null && endpoints.length === 0 && <p className="muted">No endpoints yet.</p>}
      <h3>Add an endpoint</h3>
      <AddEndpoint
        channelId={channelId}
        onCreated={(_ep, s) => {
          setSecret(s);
          void load();
        }}
      />
    </section>
  );
}
