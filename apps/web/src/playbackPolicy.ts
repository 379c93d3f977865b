/**
 * The channel's playback policy as the dashboard edits it (PlaybackPolicyEditor.tsx): the shape
 * of `GET/PUT /api/channels/{channelId}/playback-policy` and the allow-list text box.
 */
import { ApiError } from './api';

/** Who may watch: anyone, signed-in followers, or the listed users (owner and moderators always). */
export type PlaybackVisibility = 'public' | 'followers' | 'allowlist';

/** A channel's playback policy, as the API returns it. */
export interface PlaybackPolicy {
  readonly visibility: PlaybackVisibility;
  /** Usernames of the allow-listed users. */
  readonly allowListUsernames: readonly string[];
  /** AES-128 encryption of the HLS segments (keys served to token holders only). */
  readonly encryption: { readonly enabled: boolean; readonly rotateEverySegments: number };
  readonly bindAddress: boolean;
}

const VISIBILITIES: ReadonlySet<string> = new Set(['public', 'followers', 'allowlist']);

/**
 * Validates a `GET/PUT …/playback-policy` answer.
 * @throws ApiError `shape` when it is not one.
 */
export function parsePlaybackPolicy(body: unknown): PlaybackPolicy {
  const o = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : null;
  const enc = o && typeof o.encryption === 'object' && o.encryption !== null ? (o.encryption as Record<string, unknown>) : null;
  const names = o?.allowListUsernames;
  if (!o || typeof o.visibility !== 'string' || !VISIBILITIES.has(o.visibility) || !Array.isArray(names) || !names.every((n) => typeof n === 'string') ||
    !enc || typeof enc.enabled !== 'boolean' || typeof enc.rotateEverySegments !== 'number') {
    throw new ApiError('GET …/playback-policy: unexpected response', 'shape');
  }
  return {
    visibility: o.visibility as PlaybackVisibility, allowListUsernames: names as string[],
    encryption: { enabled: enc.enabled, rotateEverySegments: enc.rotateEverySegments }, bindAddress: o.bindAddress === true,
  };
}

/** The usernames of an allow-list text box: split on commas, spaces and new lines, `@` dropped, duplicates (any case) once. */
export function parseUsernameList(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const name = raw.replace(/^@/, '');
    if (name === '' || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    out.push(name);
  }
  return out;
}

/** API path of a channel's playback policy. */
export function playbackPolicyPath(channelId: string): string {
  return `/api/channels/${encodeURIComponent(channelId)}/playback-policy`;
}

/** The PUT body for `policy` (the allow-list by usernames; the key rotation and address binding kept as they were). */
export function playbackPolicyBody(policy: PlaybackPolicy): Record<string, unknown> {
  return {
    visibility: policy.visibility,
    allowListUsernames: policy.visibility === 'allowlist' ? [...policy.allowListUsernames] : [],
    encryption: { enabled: policy.encryption.enabled, rotateEverySegments: policy.encryption.rotateEverySegments },
    bindAddress: policy.bindAddress,
  };
}
