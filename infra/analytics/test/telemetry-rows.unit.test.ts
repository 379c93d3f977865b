/**
 * The pure mappings from stored beacons, chat records and ingest-health events to analytics
 * rows, and their refusal of malformed input.
 */
import { describe, expect, it } from 'vitest';
import { chatSubject, domainEvent, streamEvent, type EventClock, type StoredBeacon } from '@live/events';
import { MalformedRecordError, chatMessageDeletionRow, chatMessageRow, ingestHealthRow, playbackBeaconRow } from '../src/index.js';

const fixedClock: EventClock = { now: () => Date.UTC(2026, 10, 20, 10, 0, 0, 123), randomBytes: (n) => new Uint8Array(n).fill(7) };
const AT = Date.UTC(2026, 10, 20, 10, 0, 5, 250);

const base = {
  playbackSessionId: 'pb-1', channelId: 'chan-1', sessionId: 'sess-1', viewerId: 'viewer-1', userId: null, receivedAt: AT + 40, at: AT,
} as const;

const empty = {
  live: null, autoplay: null, position_s: null, rendition: '', bandwidth_kbps: null, live_latency_ms: null, dropped_frames: null,
  ttff_ms: null, rebuffer_ms: 0, playing_ms: 0, from_rendition: '', to_rendition: '', reason: '', fatal: false, error_code: '',
};

function row(b: StoredBeacon) {
  return playbackBeaconRow(JSON.parse(JSON.stringify(b)));
}

describe('playbackBeaconRow', () => {
  it('maps the common fields: ids, times as DateTime64(3) UTC text, anonymous user as empty string', () => {
    expect(row({ ...base, seq: 0, type: 'session_start', live: true, autoplay: false })).toEqual({
      ...empty,
      channel_id: 'chan-1', session_id: 'sess-1', playback_session_id: 'pb-1', beacon_seq: 0, type: 'session_start',
      client_at: '2026-11-20 10:00:05.250', received_at: '2026-11-20 10:00:05.290', viewer_id: 'viewer-1', user_id: '',
      live: true, autoplay: false,
    });
    expect(row({ ...base, userId: 'user-9', seq: 1, type: 'session_end', playingMs: 4200 })).toMatchObject({ user_id: 'user-9', playing_ms: 4200, beacon_seq: 1 });
  });

  it('maps each beacon type to its columns, rounding ms and counts', () => {
    expect(row({ ...base, seq: 1, type: 'first_frame', ttffMs: 812.6, rendition: '720p' })).toMatchObject({ ttff_ms: 813, rendition: '720p', playing_ms: 0 });
    expect(row({ ...base, seq: 2, type: 'rebuffer_start', position: 12.5 })).toMatchObject({ position_s: 12.5, rebuffer_ms: 0 });
    expect(row({ ...base, seq: 3, type: 'rebuffer_end', position: 12.5, durationMs: 3000 })).toMatchObject({ position_s: 12.5, rebuffer_ms: 3000 });
    expect(row({ ...base, seq: 4, type: 'rendition_switch', from: null, to: '1080p', reason: 'initial' })).toMatchObject({ from_rendition: '', to_rendition: '1080p', reason: 'initial' });
    expect(row({ ...base, seq: 5, type: 'rendition_switch', from: '1080p', to: '480p', reason: 'abr' })).toMatchObject({ from_rendition: '1080p', to_rendition: '480p', reason: 'abr' });
    expect(row({ ...base, seq: 6, type: 'error', fatal: true, code: 'manifestLoadError' })).toMatchObject({ fatal: true, error_code: 'manifestLoadError' });
    expect(row({
      ...base, seq: 7, type: 'heartbeat', position: 30.25, rendition: '720p', bandwidthKbps: 5400.5, liveLatencyMs: 3100, droppedFrames: 2, playingMs: 10_000,
    })).toEqual({
      ...empty,
      channel_id: 'chan-1', session_id: 'sess-1', playback_session_id: 'pb-1', beacon_seq: 7, type: 'heartbeat',
      client_at: '2026-11-20 10:00:05.250', received_at: '2026-11-20 10:00:05.290', viewer_id: 'viewer-1', user_id: '',
      position_s: 30.25, rendition: '720p', bandwidth_kbps: 5400.5, live_latency_ms: 3100, dropped_frames: 2, playing_ms: 10_000,
    });
    expect(row({ ...base, seq: 8, type: 'heartbeat', position: 1, rendition: '240p', bandwidthKbps: 300, liveLatencyMs: null, droppedFrames: 0, playingMs: 0 })).toMatchObject({ live_latency_ms: null });
  });

  it('refuses malformed beacons with MalformedRecordError, naming the field', () => {
    const hb = { ...base, seq: 9, type: 'heartbeat', position: 1, rendition: '720p', bandwidthKbps: 1, liveLatencyMs: 1, droppedFrames: 0, playingMs: 10 };
    const bad: Array<[unknown, RegExp]> = [
      [null, /not an object/],
      ['heartbeat', /not an object/],
      [[hb], /not an object/],
      [{ ...hb, type: 'bogus' }, /unknown beacon type/],
      [{ ...hb, seq: -1 }, /seq/],
      [{ ...hb, seq: 1.5 }, /seq/],
      [{ ...hb, seq: '9' }, /seq/],
      [{ ...hb, playingMs: '10' }, /playingMs/],
      [{ ...hb, playingMs: -5 }, /playingMs/],
      [{ ...hb, playingMs: 2 ** 40 }, /playingMs/],
      [{ ...hb, position: Number.NaN }, /position/],
      [{ ...hb, rendition: 7 }, /rendition/],
      [{ ...hb, liveLatencyMs: undefined }, /liveLatencyMs/],
      [{ ...hb, channelId: '' }, /channelId/],
      [{ ...hb, viewerId: 'v'.repeat(500) }, /viewerId/],
      [{ ...hb, userId: 42 }, /userId/],
      [{ ...hb, at: 'yesterday' }, /at/],
      [{ ...hb, at: Date.UTC(2400, 0, 1) }, /at/],
      [{ ...hb, receivedAt: undefined }, /receivedAt/],
      [{ ...base, seq: 1, type: 'rendition_switch', from: null, to: '720p', reason: 'whim' }, /reason/],
      [{ ...base, seq: 1, type: 'error', fatal: 'yes', code: 'x' }, /fatal/],
      [{ ...base, seq: 1, type: 'session_start', live: 1, autoplay: false }, /live/],
    ];
    for (const [input, reason] of bad) {
      let caught: unknown;
      try { playbackBeaconRow(input); } catch (err) { caught = err; }
      expect(caught, JSON.stringify(input)).toBeInstanceOf(MalformedRecordError);
      expect((caught as MalformedRecordError).reason).toMatch(reason);
    }
  });
});

describe('chat rows', () => {
  const accepted = domainEvent(fixedClock, 'ChatMessageAccepted', chatSubject('chan-1'), {
    channelId: 'chan-1', userId: 'user-1', username: 'ann', kind: 'message', text: 'héllo 👋 world', sessionId: 'sess-1',
  }, { producer: 'chat:gw-1' });

  it('maps an accepted message without its text: its length in code points', () => {
    expect(chatMessageRow(accepted, 17)).toEqual({
      message_id: accepted.id, chat_seq: 17, channel_id: 'chan-1', session_id: 'sess-1', user_id: 'user-1', kind: 'message',
      occurred_at: '2026-11-20 10:00:00.123', text_length: 13,
    });
    expect(JSON.stringify(chatMessageRow(accepted, 17))).not.toContain('héllo');
    const offline = { ...accepted, data: { ...accepted.data, sessionId: null } };
    expect(chatMessageRow(offline, 18).session_id).toBe('');
  });

  it('refuses a bad sequence, kind or time', () => {
    expect(() => chatMessageRow(accepted, 0)).toThrow(MalformedRecordError);
    expect(() => chatMessageRow({ ...accepted, data: { ...accepted.data, kind: 'shout' as 'message' } }, 1)).toThrow(/kind/);
    expect(() => chatMessageRow({ ...accepted, occurredAt: 'soon' }, 1)).toThrow(/occurredAt/);
  });

  it('maps a tombstone without the moderator\'s reason', () => {
    const deleted = domainEvent(fixedClock, 'ChatMessageDeleted', chatSubject('chan-1'), {
      channelId: 'chan-1', messageId: accepted.id, messageSeq: 17, authorUserId: 'user-1', actorUserId: 'mod-1', reason: 'spam from a known troll',
    }, { producer: 'api' });
    const r = chatMessageDeletionRow(deleted);
    expect(r).toEqual({ event_id: deleted.id, message_id: accepted.id, channel_id: 'chan-1', deleted_at: '2026-11-20 10:00:00.123', author_user_id: 'user-1', actor_user_id: 'mod-1' });
    expect(JSON.stringify(r)).not.toContain('troll');
  });
});

describe('ingestHealthRow', () => {
  const report = streamEvent(fixedClock, 'StreamIngestHealthReported', {
    channelId: 'chan-1', sessionId: 'sess-1', intervalMs: 5000, bitrateKbps: 4128.5, videoBitrateKbps: 4000, audioBitrateKbps: 128.5,
    frameRate: 29.97, keyframeIntervalSeconds: 2, avDriftMs: -12,
  }, { producer: 'ingest:node-a' });

  it('maps the measurements with their units', () => {
    expect(ingestHealthRow(report)).toEqual({
      event_id: report.id, channel_id: 'chan-1', session_id: 'sess-1', occurred_at: '2026-11-20 10:00:00.123', interval_ms: 5000,
      bitrate_kbps: 4128.5, video_bitrate_kbps: 4000, audio_bitrate_kbps: 128.5, frame_rate: 29.97, keyframe_interval_s: 2, av_drift_ms: -12,
    });
    expect(ingestHealthRow({ ...report, data: { ...report.data, keyframeIntervalSeconds: null } }).keyframe_interval_s).toBeNull();
  });

  it('refuses missing, non-numeric or negative measurements', () => {
    for (const data of [
      { ...report.data, bitrateKbps: '4000' }, { ...report.data, frameRate: -1 }, { ...report.data, avDriftMs: Number.POSITIVE_INFINITY },
      { ...report.data, keyframeIntervalSeconds: undefined }, { ...report.data, intervalMs: undefined },
    ]) {
      expect(() => ingestHealthRow({ ...report, data: data as typeof report.data })).toThrow(MalformedRecordError);
    }
  });
});
