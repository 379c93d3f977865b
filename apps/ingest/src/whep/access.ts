/**
 * Who may play a channel over WHEP: the playback rules of HLS (`playbackTokenRequired` of
 * `@live/db`, the edge's rule) and the playback token of `POST /api/streams/{id}/playback-token`,
 * sent as `Authorization: Bearer <token>` (the WHEP draft §4.3) and verified as the edge does
 * (`verifyPlaybackToken`: channel, session, address binding, policy version).
 */
import { PLAYBACK_TOKEN_ERRORS, PlaybackTokenError, verifyPlaybackToken, type PlaybackKeyRing } from '@live/auth';
import { channelPlaybackPolicy, playbackTokenRequired, type Db } from '@live/db';
import { bearerToken } from '../whip/request.js';

/** A refusal: HTTP status, catalogue code and message. */
export interface WhepRefusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** The request to decide on: the channel and its live session, the `Authorization` header, the viewer's address. */
export interface WhepAccessRequest {
  readonly channelId: string;
  readonly sessionId: string;
  readonly authorization: string | undefined;
  readonly remoteAddress: string;
}

/**
 * Decides whether the viewer may play: null when yes, else the refusal: 404 CHANNEL_NOT_FOUND
 * (no policy row), 401 PLAYBACK_TOKEN_MISSING (a token is needed and none came), 401
 * PLAYBACK_TOKEN_INVALID (a token came but no key ring is configured), or the
 * `PlaybackTokenError` of the token's check. A token is checked whenever one is sent.
 * @throws what the database throws, and TypeError for an invalid key ring.
 */
export async function authoriseWhepViewer(db: Db, ring: PlaybackKeyRing | null, r: WhepAccessRequest): Promise<WhepRefusal | null> {
  const policy = await channelPlaybackPolicy(db, r.channelId);
  if (!policy) return { status: 404, code: 'CHANNEL_NOT_FOUND', message: 'No such channel.' };
  const token = bearerToken(r.authorization);
  if (token === undefined) {
    if (!playbackTokenRequired(policy)) return null;
    return { status: 401, code: 'PLAYBACK_TOKEN_MISSING', message: 'This stream needs a playback token: send "Authorization: Bearer <token>" with one from POST /api/streams/{id}/playback-token.' };
  }
  if (!ring) return { status: 401, code: 'PLAYBACK_TOKEN_INVALID', message: PLAYBACK_TOKEN_ERRORS.PLAYBACK_TOKEN_INVALID.message };
  try {
    verifyPlaybackToken(token, ring, { channelId: r.channelId, sessionId: r.sessionId, clientAddress: r.remoteAddress, policyVersion: policy.version });
    return null;
  } catch (err) {
    if (err instanceof PlaybackTokenError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
}
