/**
 * A synthetic EVENTS history for the read-model replay benchmark (`bench:replay`) and the
 * batch-invariance test: accounts, channels with stream keys and restream destinations, follows,
 * broadcasts with viewer counts, ingest health and restream states, and chat moderation, in
 * proportions like a running platform's log (most events are viewer counts and ingest health of
 * live sessions). Deterministic for a seed.
 */
import {
  channelSubject, domainEvent, streamEvent, userSubject, type DomainEvent, type EventClock, type EventDataByType, type EventType,
} from '@live/events';
import { prng } from '@live/dev/random';

/** Options of {@link syntheticHistory}. */
export interface HistoryOptions {
  /** Events to produce (the result may exceed it by the few events of the last action). */
  readonly events: number;
  /** Users registered up front (more register along the way). */
  readonly users: number;
  /** Channels created up front, each with an owner and a stream key. */
  readonly channels: number;
  /** PRNG seed (same seed, same history). */
  readonly seed: number;
  /** First event time, ms since the epoch; events are 250 ms apart. Default 2026-01-01. */
  readonly startMs?: number;
}

interface Sim {
  readonly rnd: () => number;
  readonly clock: EventClock & { t: number };
  readonly out: DomainEvent[];
  readonly users: string[];
  readonly channels: Array<{ id: string; owner: string; keyId: string; keyN: number; live: string | null; sessions: number; destinations: string[] }>;
  readonly follows: Set<string>;
  readonly queue: Array<{ id: string; channelId: string; messageId: string }>;
  nextUser: number;
  nextMessage: number;
  nextDestination: number;
}

const producer = 'bench:history';

function pick<T>(s: Sim, xs: readonly T[]): T {
  return xs[Math.floor(s.rnd() * xs.length)]!;
}

function emit<K extends EventType>(s: Sim, type: K, subject: string, data: EventDataByType[K]): void {
  s.clock.t += 250;
  s.out.push(domainEvent(s.clock, type, subject, data, { producer }) as DomainEvent);
}

function emitStream<K extends Parameters<typeof streamEvent>[1]>(s: Sim, type: K, data: EventDataByType[K]): void {
  s.clock.t += 250;
  s.out.push(streamEvent(s.clock, type, data, { producer }) as DomainEvent);
}

function register(s: Sim): void {
  const n = s.nextUser++;
  // One registration in 50 reuses an earlier username (the projection skips the duplicate).
  const duplicate = n > 0 && s.rnd() < 0.02;
  const name = duplicate ? `user${Math.floor(s.rnd() * n)}` : `user${n}`;
  const userId = `u-${n}`;
  emit(s, 'UserRegistered', userSubject(userId), {
    userId, username: name, email: `${name}@example.com`, displayName: name, passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$${n}`, roles: n === 0 ? ['admin'] : [],
  });
  // A skipped duplicate has no row: nothing later refers to it (the live tables' foreign keys).
  if (!duplicate) s.users.push(userId);
}

function issueKey(s: Sim, c: Sim['channels'][number], rotate: boolean): void {
  const keyId = `key-${c.id}-${++c.keyN}`;
  const data = {
    channelId: c.id, keyId, keyHash: `${c.id}:${c.keyN}`.padEnd(64, '0'), keyLast4: String(c.keyN % 10_000).padStart(4, '0'), label: 'OBS',
    expiresAt: null, allowedCidrs: [], actorUserId: c.owner,
  };
  if (rotate) emit(s, 'StreamKeyRotated', channelSubject(c.id), { ...data, oldKeyId: c.keyId });
  else emit(s, 'StreamKeyIssued', channelSubject(c.id), data);
  c.keyId = keyId;
}

function createChannel(s: Sim): void {
  const owner = pick(s, s.users);
  const c = { id: `ch-${s.channels.length}`, owner, keyId: '', keyN: 0, live: null, sessions: 0, destinations: [] as string[] };
  s.channels.push(c);
  emit(s, 'ChannelCreated', channelSubject(c.id), { channelId: c.id, ownerUserId: owner, displayName: `Channel ${s.channels.length}` });
  issueKey(s, c, false);
}

function toggleFollow(s: Sim): void {
  const userId = pick(s, s.users);
  const channelId = pick(s, s.channels).id;
  const k = `${userId}>${channelId}`;
  const following = s.follows.has(k);
  if (following) s.follows.delete(k); else s.follows.add(k);
  emit(s, following ? 'ChannelUnfollowed' : 'ChannelFollowed', userSubject(userId), { userId, channelId });
}

function startBroadcast(s: Sim, c: Sim['channels'][number]): void {
  const sessionId = `s-${c.id}-${++c.sessions}`;
  c.live = sessionId;
  const base = { channelId: c.id, sessionId };
  emitStream(s, 'StreamPublishStarted', {
    ...base, ingestNodeId: 'ingest-a', relayUrl: `http://127.0.0.1:9/relay/${sessionId}.flv`, app: 'live',
    source: { video: { codec: 'h264', width: 1920, height: 1080, frameRate: 30 }, audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } },
  });
  emitStream(s, 'TranscodeStarted', { ...base, attempt: 1, renditions: ['1080p', '720p', '480p', '240p'], worker: 'w1' });
  emitStream(s, 'RenditionsReady', {
    ...base, masterPlaylistKey: `sessions/${sessionId}/master.m3u8`,
    renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', passthrough: false }],
  });
}

function endBroadcast(s: Sim, c: Sim['channels'][number]): void {
  const base = { channelId: c.id, sessionId: c.live! };
  if (s.rnd() < 0.2) {
    emitStream(s, 'StreamPublishInterrupted', { ...base, ingestNodeId: 'ingest-a', detail: 'socket closed', reconnectWindowSeconds: 30, bytesReceived: 1e6 });
    if (s.rnd() < 0.5) return;
  }
  if (s.rnd() < 0.1) {
    emitStream(s, 'StreamFailed', { ...base, stage: 'transcode', reason: 'ffmpeg exited' });
  } else {
    emitStream(s, 'StreamPublishEnded', { ...base, reason: 'unpublished', bytesReceived: 5e8, durationMs: 3_600_000 });
    emitStream(s, 'VodReady', { ...base, durationSeconds: 3600, masterPlaylistKey: `sessions/${base.sessionId}/vod.m3u8`, mp4Key: `sessions/${base.sessionId}/vod.mp4`, renditions: ['720p'] });
    recordingChange(s, c, base.sessionId);
  }
  c.live = null;
}

/** Sometimes the owner renames the new recording, or deletes it (then the worker's RecordingDeleted follows). */
function recordingChange(s: Sim, c: Sim['channels'][number], sessionId: string): void {
  const base = { channelId: c.id, sessionId };
  const r = s.rnd();
  if (r < 0.2) emitStream(s, 'RecordingRenamed', { ...base, title: `Highlights ${s.clock.t}`, actorUserId: c.owner });
  else if (r < 0.3) {
    emitStream(s, 'RecordingDeletionRequested', { ...base, reason: 'owner', actorUserId: c.owner });
    emitStream(s, 'RecordingDeleted', { ...base, reason: 'owner', objectsDeleted: 1800, bytesFreed: 5e8, actorUserId: c.owner });
  }
}

function liveTelemetry(s: Sim): void {
  const live = s.channels.filter((c) => c.live);
  if (live.length === 0) { startBroadcast(s, pick(s, s.channels)); return; }
  const c = pick(s, live);
  const r = s.rnd();
  if (r < 0.55) {
    emit(s, 'ChannelViewersCounted', channelSubject(c.id), { channelId: c.id, viewers: Math.floor(s.rnd() * 5000) });
  } else if (r < 0.6 && c.destinations.length > 0) {
    restreamState(s, c);
  } else {
    emitStream(s, 'StreamIngestHealthReported', {
      channelId: c.id, sessionId: c.live!, intervalMs: 5000, bitrateKbps: 6000, videoBitrateKbps: 5800, audioBitrateKbps: 160,
      frameRate: 30, keyframeIntervalSeconds: 2, avDriftMs: 3,
    });
  }
}

/** A restream push of a live channel changed state (RestreamStarted / Reconnecting / Stopped). */
function restreamState(s: Sim, c: Sim['channels'][number]): void {
  const base = { channelId: c.id, sessionId: c.live!, destinationId: pick(s, c.destinations), ingestNodeId: 'ingest-a' };
  const r = s.rnd();
  const attempt = 1 + Math.floor(s.rnd() * 4);
  if (r < 0.5) emitStream(s, 'RestreamStarted', { ...base, attempt });
  else if (r < 0.8) emitStream(s, 'RestreamReconnecting', { ...base, attempt, reason: 'Connection refused', retryInMs: 1000 * 2 ** (attempt - 1) });
  else emitStream(s, 'RestreamStopped', { ...base, reason: 'session-ended' });
}

/** A channel's restream destinations: one added, changed or removed. */
function restreamChange(s: Sim, c: Sim['channels'][number]): void {
  const sub = channelSubject(c.id);
  const r = s.rnd();
  if (c.destinations.length === 0 || r < 0.4) {
    const destinationId = `d-${++s.nextDestination}`;
    c.destinations.push(destinationId);
    emit(s, 'RestreamDestinationAdded', sub, { channelId: c.id, destinationId, name: 'Twitch', url: 'rtmp://live.twitch.tv/app', keySealed: `v1.sealed${s.nextDestination}`, keyLast4: '1234', enabled: s.rnd() < 0.8 });
  } else if (r < 0.8) {
    const destinationId = pick(s, c.destinations);
    emit(s, 'RestreamDestinationUpdated', sub, {
      channelId: c.id, destinationId, name: `Dest ${Math.floor(s.rnd() * 100)}`, url: 'rtmps://a.rtmp.youtube.com/live2', enabled: s.rnd() < 0.7,
      ...(s.rnd() < 0.3 ? { keySealed: `v1.resealed${s.clock.t}`, keyLast4: '5678' } : {}),
    });
  } else {
    // A removed destination's later state events (a push still stopping) change nothing.
    const destinationId = pick(s, c.destinations);
    if (s.rnd() < 0.8) c.destinations = c.destinations.filter((d) => d !== destinationId);
    emit(s, 'RestreamDestinationRemoved', sub, { channelId: c.id, destinationId });
  }
}

function moderate(s: Sim): void {
  const c = pick(s, s.channels);
  const userId = pick(s, s.users);
  const sub = channelSubject(c.id);
  const actorUserId = c.owner;
  const r = s.rnd();
  if (r < 0.15) emit(s, 'ChatUserBanned', sub, { channelId: c.id, userId, actorUserId, reason: 'spam' });
  else if (r < 0.3) emit(s, 'ChatUserTimedOut', sub, { channelId: c.id, userId, actorUserId, durationSeconds: 600, until: new Date(s.clock.t + 600_000).toISOString(), reason: '' });
  else if (r < 0.4) emit(s, 'ChatUserUnbanned', sub, { channelId: c.id, userId, actorUserId });
  else if (r < 0.47) emit(s, 'ChatSettingsChanged', sub, { channelId: c.id, actorUserId, settings: { slowModeSeconds: s.rnd() < 0.5 ? 0 : 10, followersOnly: s.rnd() < 0.3, emoteOnly: false, linksAllowed: true, duplicateFilter: s.rnd() < 0.5 } });
  else if (r < 0.52) emit(s, 'ChatBannedTermsSet', sub, { channelId: c.id, actorUserId, terms: [{ pattern: `bad${Math.floor(s.rnd() * 9)}`, action: 'block' }, { pattern: 'spoiler', action: 'hold' }] });
  else if (r < 0.7) {
    const messageId = `m-${++s.nextMessage}`;
    s.queue.push({ id: '', channelId: c.id, messageId });
    emit(s, 'ChatMessageReported', sub, { channelId: c.id, messageId, messageSeq: s.nextMessage, reporterUserId: userId, reason: 'rude', authorUserId: pick(s, s.users), authorUsername: 'someone', text: 'a rude message' });
    s.queue[s.queue.length - 1]!.id = s.out[s.out.length - 1]!.id;
  } else if (r < 0.8) {
    emit(s, 'ChatMessageHeld', sub, { channelId: c.id, userId, username: 'someone', kind: 'message', text: 'spoiler ahead', term: 'spoiler', sessionId: c.live });
    s.queue.push({ id: s.out[s.out.length - 1]!.id, channelId: c.id, messageId: s.out[s.out.length - 1]!.id });
  } else if (s.queue.length > 0) {
    const item = pick(s, s.queue);
    if (r < 0.9) emit(s, 'ModerationItemResolved', channelSubject(item.channelId), { channelId: item.channelId, itemId: item.id, actorUserId, resolution: s.rnd() < 0.5 ? 'approved' : 'dismissed' });
    else emit(s, 'ChatMessageDeleted', channelSubject(item.channelId), { channelId: item.channelId, messageId: item.messageId, messageSeq: 1, authorUserId: userId, actorUserId, reason: 'rude' });
  }
}

function accountChange(s: Sim): void {
  const userId = pick(s, s.users);
  const r = s.rnd();
  if (r < 0.4) emit(s, 'UserProfileUpdated', userSubject(userId), { userId, displayName: `Name ${Math.floor(s.rnd() * 1e6)}`, bio: 'streams things' });
  else if (r < 0.55) emit(s, 'UserPasswordChanged', userSubject(userId), { userId, passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$p${s.clock.t}` });
  else if (r < 0.9) emit(s, 'NotificationsRead', userSubject(userId), { userId, readUpTo: new Date(s.clock.t).toISOString() });
  else emit(s, s.rnd() < 0.5 ? 'UserRoleGranted' : 'UserRoleRevoked', userSubject(userId), { userId, role: 'admin', actorUserId: s.users[0]! });
}

function channelChange(s: Sim): void {
  const c = pick(s, s.channels);
  const sub = channelSubject(c.id);
  const r = s.rnd();
  if (r < 0.5) {
    emit(s, 'ChannelMetadataUpdated', sub, { channelId: c.id, title: `Stream ${Math.floor(s.rnd() * 1e6)}`, category: pick(s, ['gaming', 'music', 'talk']), tags: ['live', pick(s, ['en', 'speedrun', 'chill'])], language: 'en', mature: s.rnd() < 0.1 });
  } else if (r < 0.65) issueKey(s, c, true);
  else if (r < 0.7) emit(s, 'StreamKeyRevoked', sub, { channelId: c.id, keyId: c.keyId, actorUserId: c.owner });
  else if (r < 0.82) emit(s, s.rnd() < 0.6 ? 'ChannelModeratorAdded' : 'ChannelModeratorRemoved', sub, { channelId: c.id, userId: pick(s, s.users), actorUserId: c.owner });
  else if (r < 0.85) emit(s, 'RecordingRetentionSet', sub, { channelId: c.id, retentionDays: s.rnd() < 0.3 ? null : 1 + Math.floor(s.rnd() * 90), actorUserId: c.owner });
  else if (r < 0.93) {
    emit(s, 'ChannelPlaybackPolicyChanged', sub, {
      channelId: c.id, visibility: pick(s, ['public', 'followers', 'allowlist'] as const), allowList: [pick(s, s.users), pick(s, s.users)],
      encryption: { enabled: s.rnd() < 0.3, rotateEverySegments: Math.floor(s.rnd() * 10) }, bindAddress: s.rnd() < 0.2, actorUserId: c.owner,
    });
  } else restreamChange(s, c);
}

/**
 * Builds a history of about `opts.events` events in stream order.
 * @returns the events (ids are UUIDv7 from the simulated clock and the seeded PRNG).
 */
export function syntheticHistory(opts: HistoryOptions): DomainEvent[] {
  const rnd = prng(opts.seed);
  const clock = { t: opts.startMs ?? Date.UTC(2026, 0, 1), now() { return this.t; }, randomBytes: (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256)) };
  const s: Sim = { rnd, clock, out: [], users: [], channels: [], follows: new Set(), queue: [], nextUser: 0, nextMessage: 0, nextDestination: 0 };
  for (let i = 0; i < opts.users; i++) register(s);
  for (let i = 0; i < opts.channels; i++) createChannel(s);
  while (s.out.length < opts.events) {
    const r = s.rnd();
    if (r < 0.45) liveTelemetry(s);
    else if (r < 0.6) toggleFollow(s);
    else if (r < 0.64) {
      const c = pick(s, s.channels);
      if (c.live) endBroadcast(s, c); else startBroadcast(s, c);
    } else if (r < 0.76) moderate(s);
    else if (r < 0.86) accountChange(s);
    else if (r < 0.93) channelChange(s);
    else if (r < 0.985) register(s);
    else createChannel(s);
  }
  return s.out;
}
