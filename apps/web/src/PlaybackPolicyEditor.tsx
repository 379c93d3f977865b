import { useEffect, useState, type FormEvent } from 'react';
import { parsePlaybackPolicy, parseUsernameList, playbackPolicyBody, playbackPolicyPath, type PlaybackVisibility } from './playbackPolicy';
import { SaveButton } from './SaveButton';
import { useAction } from './useAction';
import { useApiList } from './useApiList';
import { appSession } from './useSession';

const CHOICES: ReadonlyArray<{ value: PlaybackVisibility; label: string; hint: string }> = [
  { value: 'public', label: 'Public', hint: 'Anyone can watch.' },
  { value: 'followers', label: 'Followers only', hint: 'Signed-in followers of your channel.' },
  { value: 'allowlist', label: 'Allow-list', hint: 'Only the users you list below.' },
];

/**
 * The dashboard's Playback section: who may watch (public, followers only, an allow-list of
 * usernames) and HLS encryption on/off, loaded from and saved to
 * `GET/PUT /api/channels/{channelId}/playback-policy` (unknown usernames: the API's USER_NOT_FOUND
 * message). You, your moderators and admins can always watch.
 */
export function PlaybackPolicyEditor({ channelId }: { channelId: string }) {
  const { data: policy, error: loadError, setData } = useApiList(playbackPolicyPath(channelId), parsePlaybackPolicy);
  const [visibility, setVisibility] = useState<PlaybackVisibility>('public');
  const [names, setNames] = useState('');
  const [encrypted, setEncrypted] = useState(false);
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction();

  useEffect(() => {
    if (!policy) return;
    setVisibility(policy.visibility);
    setNames(policy.allowListUsernames.join(', '));
    setEncrypted(policy.encryption.enabled);
  }, [policy]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!policy) return;
    setSaved(false);
    await run(async () => {
      const body = playbackPolicyBody({ ...policy, visibility, allowListUsernames: parseUsernameList(names), encryption: { ...policy.encryption, enabled: encrypted } });
      const next = parsePlaybackPolicy(await appSession().request(playbackPolicyPath(channelId), { method: 'PUT', body, auth: 'required' }));
      setData(next);
      setSaved(true);
    });
  };

  return (
    <section className="panel" aria-labelledby="playback-heading" data-testid="playback-policy">
      <h2 id="playback-heading">Playback</h2>
      {loadError !== null && (
        <p className="form-error" role="alert">
          Can’t load the playback policy: {loadError}
        </p>
      )}
      {policy && (
        <form className="form" onSubmit={(e) => void submit(e)}>
          {error !== null && (
            <p className="form-error" role="alert" data-testid="policy-error">
              {error}
            </p>
          )}
          <fieldset className="radio-group">
            <legend>Who can watch</legend>
            {CHOICES.map((c) => (
              <label key={c.value} className="field-inline">
                <input type="radio" name="visibility" value={c.value} checked={visibility === c.value} onChange={() => setVisibility(c.value)} />
                <span>
                  <strong>{c.label}</strong> <span className="muted">{c.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {visibility === 'allowlist' && (
            <div className="field">
              <label htmlFor="policy-allowlist">Allowed users</label>
              <textarea id="policy-allowlist" rows={3} value={names} onChange={(e) => setNames(e.target.value)} placeholder="alice, bob" aria-describedby="policy-allowlist-hint" />
              <small id="policy-allowlist-hint" className="muted">
                Usernames, separated by commas or spaces.
              </small>
            </div>
          )}
          <label className="field-inline">
            <input type="checkbox" checked={encrypted} onChange={(e) => setEncrypted(e.target.checked)} />
            Encrypt the video (AES-128; only viewers allowed above get the keys)
          </label>
          <p className="hint">You, your moderators and admins can always watch. Changes apply to new playback at once.</p>
          <SaveButton label="Save playback settings" busy={busy} saved={saved} primary />
        </form>
      )}
    </section>
  );
}
