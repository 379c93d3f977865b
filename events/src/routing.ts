/**
 * Where the events of each type are stored: the subject families of the EVENTS stream
 * (`evt.<aggregate>.<id>`, subjects.ts) and the CHAT stream's rooms (`chat.<channelId>`). The
 * publishers build their subjects with the functions of subjects.ts and chat.ts; this table says
 * the same for readers, and is what the published event API (the AsyncAPI document) lists.
 */
import type { EventType } from './catalogue.js';

/**
 * A family of subjects events are stored under:
 * - `stream`: `evt.stream.<channelId>`, a channel's broadcast sessions (EVENTS);
 * - `channel`: `evt.channel.<channelId>`, the channel aggregate: keys, metadata, policy, moderation (EVENTS);
 * - `user`: `evt.user.<userId>`, the user aggregate: account, roles, follows (EVENTS);
 * - `claim`: `evt.claim.<kind>.<digest>`, the guards of unique usernames and emails (EVENTS);
 * - `platform`: `evt.platform.chat`, platform-wide chat policy: the global banned-term list (EVENTS);
 * - `chat`: `chat.<channelId>`, a room's messages and deletion tombstones (CHAT, 24 h).
 */
export type EventSubjectFamily = 'stream' | 'channel' | 'user' | 'claim' | 'platform' | 'chat';

/**
 * The subject families each event type is stored under (a deletion goes to its channel and, as a
 * tombstone, to its room; a banned-term list is a channel's or the platform's).
 */
export const EVENT_SUBJECT_FAMILIES: { readonly [K in EventType]: readonly EventSubjectFamily[] } = {
  StreamPublishStarted: ['stream'],
  StreamPublishEnded: ['stream'],
  StreamPublishInterrupted: ['stream'],
  StreamPublishResumed: ['stream'],
  TranscodeStarted: ['stream'],
  RenditionsReady: ['stream'],
  VodReady: ['stream'],
  StreamFailed: ['stream'],
  StreamStopRequested: ['stream'],
  StreamIngestHealthReported: ['stream'],
  UserRegistered: ['user'],
  UserProfileUpdated: ['user'],
  UserPasswordChanged: ['user'],
  UserRoleGranted: ['user'],
  UserRoleRevoked: ['user'],
  ChannelFollowed: ['user'],
  ChannelUnfollowed: ['user'],
  NotificationsRead: ['user'],
  UniqueValueClaimed: ['claim'],
  UniqueValueReleased: ['claim'],
  ChannelCreated: ['channel'],
  ChannelMetadataUpdated: ['channel'],
  ChannelModeratorAdded: ['channel'],
  ChannelModeratorRemoved: ['channel'],
  StreamKeyIssued: ['channel'],
  StreamKeyRotated: ['channel'],
  StreamKeyRevoked: ['channel'],
  ChannelPlaybackPolicyChanged: ['channel'],
  ChannelViewersCounted: ['channel'],
  ChatMessageAccepted: ['chat'],
  ChatMessageDeleted: ['channel', 'chat'],
  ChatUserTimedOut: ['channel'],
  ChatUserBanned: ['channel'],
  ChatUserUnbanned: ['channel'],
  ChatSettingsChanged: ['channel'],
  ChatBannedTermsSet: ['channel', 'platform'],
  ChatMessageReported: ['channel'],
  ChatMessageHeld: ['channel'],
  ModerationItemResolved: ['channel'],
  RestreamDestinationAdded: ['channel'],
  RestreamDestinationUpdated: ['channel'],
  RestreamDestinationRemoved: ['channel'],
  RestreamStarted: ['stream'],
  RestreamReconnecting: ['stream'],
  RestreamStopped: ['stream'],
  RecordingRenamed: ['stream'],
  RecordingDeletionRequested: ['stream'],
  RecordingDeleted: ['stream'],
  RecordingRetentionSet: ['channel'],
};

/**
 * The family of a stored event's subject (`evt.stream.c1` → `stream`, `chat.c1` → `chat`), or
 * undefined for a subject outside them.
 */
export function subjectFamilyOf(subject: string): EventSubjectFamily | undefined {
  const [head, family, ...rest] = subject.split('.');
  if (head === 'chat' && family !== undefined && rest.length === 0) return 'chat';
  if (head !== 'evt' || rest.length === 0) return undefined;
  if ((family === 'stream' || family === 'channel' || family === 'user') && rest.length === 1) return family;
  if (family === 'claim' && rest.length === 2) return 'claim';
  if (family === 'platform' && rest.length === 1 && rest[0] === 'chat') return 'platform';
  return undefined;
}
