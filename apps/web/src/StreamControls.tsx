import { useState } from 'react';
import { ApiError } from './api';
import { countLabel, type ChannelView } from './platform';
import { hrefFor, Link } from './router';
import { ConfirmButton } from './ConfirmButton';
import { useAction } from './useAction';
import { appSession } from './useSession';
import { srtPublishUrl } from '@live/events';
import { HIDDEN_KEY, parseIssuedKey, rotateKeyPath, stopStreamPath, type KnownStreamKey } from './streamKey';

/** A button that copies `text` to the clipboard and says whether it worked. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [result, setResult] = useState<'copied' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setResult('copied');
    } catch {
      setResult('failed');
    }
  };
  return (
    <>
      <button type="button" className="button" onClick={() => void copy()} aria-label={label}>
        Copy
      </button>
      <span className="muted copy-result" role="status">
        {result === 'copied' ? 'Copied' : result === 'failed' ? 'Copy failed: reveal the text and copy it' : ''}
      </span>
    </>
  );
}

/**
 * The live state line and, while live, End stream (with confirmation): `POST /api/streams/{channelId}/stop`
 * appends StreamStopRequested and the ingest node disconnects the publisher; `onStopped` then
 * re-reads the channel.
 */
export function LiveStatus({ channelId, channel, onStopped }: { channelId: string; channel: ChannelView | null; onStopped: () => Promise<void> }) {
  const live = channel?.live ?? false;
  const { error, run } = useAction();
  const [stopping, setStopping] = useState(false);
  const stop = () =>
    run(async () => {
      try {
        await appSession().request(stopStreamPath(channelId), { method: 'POST', auth: 'required' });
        setStopping(true);
      } catch (err) {
        // Ended meanwhile (the encoder stopped): nothing left to stop.
        if (!(err instanceof ApiError && err.code === 'STREAM_NOT_LIVE')) throw err;
      }
      await onStopped();
    });
  return (
    <div className="live-status">
      <p className="channel-status" role="status" data-testid="channel-status" data-live={live}>
        {live ? (
          <>
            <span className="badge badge-live">LIVE</span> You’re live with {countLabel(channel?.viewers ?? 0, 'viewer')}.{' '}
            {stopping && <span className="muted">Ending… </span>}
          </>
        ) : (
          'Offline: start streaming in your encoder to go live. '
        )}
        <Link href={hrefFor({ name: 'channel', channelId })}>Open your channel page</Link>
      </p>
      {live && (
        <ConfirmButton label="End stream" title="End the stream?" confirmLabel="End stream" tone="danger" testId="end-stream" onConfirm={stop}>
          <p>Your encoder is disconnected and viewers see the stream end. The recording is kept. Start streaming in your encoder again to go live again.</p>
        </ConfirmButton>
      )}
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * Where to publish (OBS settings): the server URL, and the stream key hidden by default
 * (Reveal / Hide, Copy while its clear text is known), Rotate key with confirmation
 * (`POST …/stream-keys/{keyId}/rotate`: the old key stops working and its live publisher is
 * disconnected by the ingest node; the new key is known to this page until it is left).
 */
export function StreamKeySettings({ channelId, streamKey, onRotated }: { channelId: string; streamKey: KnownStreamKey; onRotated: (k: KnownStreamKey) => void }) {
  const [revealed, setRevealed] = useState(false);
  const { error, run } = useAction();
  const rotate = () =>
    run(async () => {
      const body = await appSession().request(rotateKeyPath(channelId, streamKey.keyId), { method: 'POST', body: {}, auth: 'required' });
      const next = parseIssuedKey(body);
      if (!next) throw new ApiError('POST …/rotate: unexpected response', 'shape');
      setRevealed(false);
      onRotated(next);
    });
  const clear = streamKey.streamKey;
  return (
    <section className="panel" aria-labelledby="obs-title" data-testid="obs-settings">
      <h2 id="obs-title">Stream with OBS</h2>
      <p className="muted">In OBS: Settings → Stream → Service “Custom…”, then paste the server and the stream key and press “Start Streaming”.</p>
      {error !== null && (
        <p className="form-error" role="alert" data-testid="key-error">
          {error}
        </p>
      )}
      <dl className="settings">
        <dt>Server</dt>
        <dd>
          <code data-testid="ingest-url">{streamKey.ingestUrl}</code> <CopyButton text={streamKey.ingestUrl} label="Copy the server URL" />
        </dd>
        <dt>Stream key</dt>
        <dd>
          {clear !== null ? (
            <>
              {revealed ? (
                <code className="secret" data-testid="stream-key">
                  {clear}
                </code>
              ) : (
                <code data-testid="stream-key-hidden" aria-label="Stream key hidden">
                  {HIDDEN_KEY}
                </code>
              )}
              <button type="button" className="button" aria-pressed={revealed} aria-label={revealed ? 'Hide stream key' : 'Reveal stream key'} onClick={() => setRevealed((r) => !r)}>
                {revealed ? 'Hide' : 'Reveal'}
              </button>
              <CopyButton text={clear} label="Copy the stream key" />
            </>
          ) : (
            <code data-testid="stream-key-masked">{streamKey.maskedKey}</code>
          )}
          <ConfirmButton label="Rotate stream key" ariaLabel="Rotate stream key" title="Rotate the stream key?" confirmLabel="Rotate key" tone="danger" testId="rotate-key" onConfirm={rotate}>
            <p>A new key replaces this one at once. Anyone streaming with the old key, you included, is disconnected: put the new key into your encoder.</p>
          </ConfirmButton>
          <p className="hint" role="note">
            {clear !== null
              ? 'Anyone with this key can stream to your channel: keep it hidden while you share your screen. It is shown only on this page until you leave it.'
              : 'Your key was shown when it was issued and is not stored in readable form. Lost it? Rotate it to get a new one.'}
          </p>
        </dd>
      </dl>
      <OtherProtocols streamKey={streamKey} revealed={revealed} />
    </section>
  );
}

/** The placeholder shown in a URL in place of a key the page does not show. */
const KEY_PLACEHOLDER = '<stream key>';

/**
 * The SRT and WHIP ways to publish, when the platform offers them: SRT's server URL carries the
 * key in its `streamid` (shown only while the key is revealed; copied with the key when the page
 * knows it), WHIP's takes the key as the Bearer token.
 */
function OtherProtocols({ streamKey, revealed }: { streamKey: KnownStreamKey; revealed: boolean }) {
  const { srtUrl, whipUrl, streamKey: clear } = streamKey;
  if (!srtUrl && !whipUrl) return null;
  return (
    <>
      <h3>Other protocols</h3>
      <dl className="settings" data-testid="other-ingest">
        {whipUrl && (
          <>
            <dt>WHIP</dt>
            <dd>
              <code data-testid="whip-url">{whipUrl}</code> <CopyButton text={whipUrl} label="Copy the WHIP URL" />
              <p className="hint">OBS 30 or later: Service “WHIP”, this Server, and the stream key as the Bearer Token. Real-time viewers need a stream without B-frames.</p>
            </dd>
          </>
        )}
        {srtUrl && (
          <>
            <dt>SRT</dt>
            <dd>
              <code data-testid="srt-url">{srtPublishUrl(srtUrl, revealed && clear !== null ? clear : KEY_PLACEHOLDER)}</code>{' '}
              <CopyButton text={srtPublishUrl(srtUrl, clear ?? KEY_PLACEHOLDER)} label="Copy the SRT URL" />
              <p className="hint">For lossy or distant links: in OBS, Service “Custom…” with this Server and an empty stream key (MPEG-TS, H.264 or HEVC, AAC).</p>
            </dd>
          </>
        )}
      </dl>
    </>
  );
}
