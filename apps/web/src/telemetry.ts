/**
 * Player telemetry, the pure part (no DOM, no timers; clocks and transport are injected):
 * quality-of-experience beacons of one playback session, their sequence numbers, batching,
 * retries, and the accounting of time actually spent playing. `playerTelemetry.ts` wires it to
 * the `<video>` element, hls.js, the page lifecycle and `POST /api/beacons`.
 *
 * Contract: `Beacon` / `BeaconBatch` of `@live/events` (events/src/telemetry.ts).
 */
import {
  HEARTBEAT_INTERVAL_MS, MAX_BEACONS_PER_BATCH,
  type Beacon, type BeaconBatch, type RenditionSwitchReason,
} from '@live/events';

/** Re-exported from `@live/events`: heartbeat period (ms) and most beacons per `POST /api/beacons` batch. */
export { HEARTBEAT_INTERVAL_MS, MAX_BEACONS_PER_BATCH };

/** localStorage key of the viewer id. */
export const VIEWER_ID_KEY = 'live.viewerId';
/** Most beacons kept while they cannot be sent (API down, session id not known yet); the oldest go first. */
export const MAX_PENDING_BEACONS = 1000;
/** Most error beacons per heartbeat interval (hls.js can repeat a non-fatal error many times a second). */
export const MAX_ERRORS_PER_INTERVAL = 20;
/** Longest rendition name or error code sent (the API refuses longer ones). */
const MAX_NAME = 64;
const MAX_CODE = 128;

/** A beacon before it is numbered: every field but `seq`. */
export type UnnumberedBeacon = Beacon extends infer B ? (B extends Beacon ? Omit<B, 'seq'> : never) : never;

/** The two clocks telemetry needs: `now` for beacon times (ms since the epoch), `mono` for durations (monotonic ms, e.g. `performance.now()`). */
export interface TelemetryClock {
  now(): number;
  mono(): number;
}

/**
 * A random RFC 9562 version-4 UUID from `getRandomValues` (works outside secure contexts,
 * where `crypto.randomUUID` is missing, e.g. a LAN address over plain HTTP).
 */
export function uuidV4(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const b = random(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The browser's viewer id: read from `storage` under {@link VIEWER_ID_KEY}, or made and stored
 * there. A random id (not a user id) that counts unique viewers; a fresh one per call when
 * storage is unavailable or refuses (private mode, quota).
 */
export function viewerIdFrom(storage: Pick<Storage, 'getItem' | 'setItem'> | null, make: () => string = () => uuidV4()): string {
  try {
    const kept = storage?.getItem(VIEWER_ID_KEY);
    if (kept && /^[A-Za-z0-9_-]{8,64}$/.test(kept)) return kept;
    const id = make();
    storage?.setItem(VIEWER_ID_KEY, id);
    return id;
  } catch {
    return make();
  }
}

/** Name of an hls.js level as beacons report it: `720p`, or `1200kbps` without a height. */
export function renditionName(level: { readonly height?: number; readonly bitrate?: number } | undefined | null): string {
  if (!level) return '';
  if (level.height && level.height > 0) return `${level.height}p`;
  return level.bitrate ? `${Math.round(level.bitrate / 1000)}kbps` : '';
}

/**
 * Time actually spent playing, in ms of the monotonic clock: it runs between `set(true)` (the
 * `<video>` fired `playing`) and `set(false)` (paused, stalled, ended, torn down). Whether the
 * page is visible does not matter: a video playing in a background tab is being played (browsers
 * that pause it fire `pause`, which stops the clock).
 */
export class PlayingClock {
  #since: number | null = null;
  #carried = 0;

  /** Whether the clock runs. */
  get playing(): boolean {
    return this.#since !== null;
  }

  /** Starts (`true`) or stops (`false`) the clock at monotonic time `mono`; repeated calls change nothing. */
  set(playing: boolean, mono: number): void {
    if (playing && this.#since === null) this.#since = mono;
    else if (!playing && this.#since !== null) {
      this.#carried += Math.max(0, mono - this.#since);
      this.#since = null;
    }
  }

  /**
   * The playing time since the previous `take` (or since creation), whole ms; the clock keeps
   * running if it was. The fraction of a ms is carried over, so the takes add up exactly.
   */
  take(mono: number): number {
    if (this.#since !== null) {
      this.#carried += Math.max(0, mono - this.#since);
      this.#since = mono;
    }
    const whole = Math.floor(this.#carried);
    this.#carried -= whole;
    return whole;
  }
}

/**
 * Numbers beacons (per playback session from 0, +1 per beacon) and hands them out in batches
 * of at most {@link MAX_BEACONS_PER_BATCH}. A batch that could not be delivered is put back in
 * front ({@link requeue}) and resent with the same numbers, so the API stores each beacon once.
 */
export class BeaconQueue {
  #next = 0;
  #pending: Beacon[] = [];

  constructor(private readonly maxPending = MAX_PENDING_BEACONS) {}

  /** Beacons waiting to be sent. */
  get size(): number {
    return this.#pending.length;
  }

  /** Numbers `b`, queues it and returns it. Drops the oldest pending beacon beyond `maxPending`. */
  push(b: UnnumberedBeacon): Beacon {
    const numbered = { ...b, seq: this.#next++ } as Beacon;
    this.#pending.push(numbered);
    if (this.#pending.length > this.maxPending) this.#pending.splice(0, this.#pending.length - this.maxPending);
    return numbered;
  }

  /** Removes and returns the oldest pending beacons, at most `max`; [] when none. */
  take(max = MAX_BEACONS_PER_BATCH): Beacon[] {
    return this.#pending.splice(0, max);
  }

  /** Puts beacons that were taken but not delivered back in front, in their order. */
  requeue(beacons: readonly Beacon[]): void {
    const seen = new Set(this.#pending.map((b) => b.seq));
    this.#pending.unshift(...beacons.filter((b) => !seen.has(b.seq)));
    this.#pending.sort((a, b) => a.seq - b.seq);
    if (this.#pending.length > this.maxPending) this.#pending.splice(0, this.#pending.length - this.maxPending);
  }
}

/** What the player knows at a heartbeat. */
export interface HeartbeatSample {
  /** Media position, seconds. */
  readonly position: number;
  /** Rendition playing ('' when unknown). */
  readonly rendition: string;
  /** Bandwidth estimate, bit/s (hls.js `bandwidthEstimate`; NaN/absent → 0). */
  readonly bandwidthBps: number;
  /** Distance to the live edge, seconds (hls.js `latency`); null for VOD. */
  readonly liveLatencySeconds: number | null;
  /** Running total of dropped video frames (`getVideoPlaybackQuality().droppedVideoFrames`). */
  readonly droppedFrames: number;
}

/** Options of {@link PlaybackTelemetry}. */
export interface PlaybackTelemetryOptions {
  readonly playbackSessionId: string;
  readonly viewerId: string;
  readonly live: boolean;
  /** Whether playback starts without a click. */
  readonly autoplay: boolean;
  readonly clock: TelemetryClock;
  /** The broadcast session watched, when already known (else {@link PlaybackTelemetry.setSessionId} later). */
  readonly sessionId?: string | null;
  readonly maxPending?: number;
}

const finite = (v: number, min = 0): number => (Number.isFinite(v) ? Math.max(min, v) : min);
const clip = (s: string, max: number): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/**
 * The beacons of one playback session (one page view playing one stream), from the player's
 * events:
 * - `session_start` when created (the player was asked to play);
 * - `first_frame` at the first `playing`: `ttffMs` = monotonic ms since session_start;
 * - `rebuffer_start` / `rebuffer_end` around a stall: `waiting` after the first frame (not
 *   while seeking: a seek's wait is not a rebuffer) until `playing` — or until `pause` /
 *   `ended` / teardown, which end the stall too; `durationMs` is monotonic;
 * - `rendition_switch` when the playing rendition changes (`from` null the first time);
 * - `error` (fatal or not, at most {@link MAX_ERRORS_PER_INTERVAL} per heartbeat interval);
 * - `heartbeat` (call it every {@link HEARTBEAT_INTERVAL_MS}) with `playingMs` from the
 *   {@link PlayingClock}: ms playing since the previous heartbeat;
 * - `session_end` with the playing ms since the last heartbeat; nothing after it.
 * Times (`at`) come from `clock.now()`; durations from `clock.mono()`.
 */
export class PlaybackTelemetry {
  readonly playbackSessionId: string;
  readonly viewerId: string;
  #sessionId: string | null;
  readonly #clock: TelemetryClock;
  readonly #queue: BeaconQueue;
  readonly #playing = new PlayingClock();
  readonly #startMono: number;
  #firstFrame = false;
  #stallSince: number | null = null;
  #rendition: string | null = null;
  #errorsThisInterval = 0;
  #ended = false;

  constructor(o: PlaybackTelemetryOptions) {
    this.playbackSessionId = o.playbackSessionId;
    this.viewerId = o.viewerId;
    this.#sessionId = o.sessionId ?? null;
    this.#clock = o.clock;
    this.#queue = new BeaconQueue(o.maxPending);
    this.#startMono = o.clock.mono();
    this.#push({ type: 'session_start', at: o.clock.now(), live: o.live, autoplay: o.autoplay });
  }

  /** True after {@link end}. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Whether the first frame was rendered. */
  get started(): boolean {
    return this.#firstFrame;
  }

  /** Beacons not yet handed out in a batch. */
  get pending(): number {
    return this.#queue.size;
  }

  /** Sets the broadcast session once known; later calls with another id are ignored (one playback session watches one broadcast). */
  setSessionId(id: string | null): void {
    if (id && this.#sessionId === null) this.#sessionId = id;
  }

  #push(b: UnnumberedBeacon): void {
    if (!this.#ended) this.#queue.push(b);
  }

  #endStall(position: number): void {
    if (this.#stallSince === null) return;
    const durationMs = Math.round(finite(this.#clock.mono() - this.#stallSince));
    this.#stallSince = null;
    this.#push({ type: 'rebuffer_end', at: this.#clock.now(), position: finite(position), durationMs });
  }

  /** The `<video>` fired `playing`: media is advancing (`rendition`: the one playing, '' if unknown). */
  playing(position: number, rendition: string): void {
    if (this.#ended) return;
    if (!this.#firstFrame) {
      this.#firstFrame = true;
      this.#push({ type: 'first_frame', at: this.#clock.now(), ttffMs: Math.round(finite(this.#clock.mono() - this.#startMono)), rendition: clip(rendition, MAX_NAME) });
    }
    this.#endStall(position);
    this.#playing.set(true, this.#clock.mono());
  }

  /** The `<video>` fired `waiting` (its buffer ran dry). A stall when it happens after the first frame and not during a seek. */
  waiting(position: number, seeking: boolean): void {
    if (this.#ended) return;
    this.#playing.set(false, this.#clock.mono());
    if (!this.#firstFrame || seeking || this.#stallSince !== null) return;
    this.#stallSince = this.#clock.mono();
    this.#push({ type: 'rebuffer_start', at: this.#clock.now(), position: finite(position) });
  }

  /** The `<video>` paused, ended, or lost its media: the playing clock stops and a stall ends. */
  stopped(position: number): void {
    if (this.#ended) return;
    this.#playing.set(false, this.#clock.mono());
    this.#endStall(position);
  }

  /** The rendition playing changed to `to`. Ignored when it is the same as before. */
  renditionSwitch(to: string, reason: RenditionSwitchReason): void {
    const name = clip(to, MAX_NAME);
    if (this.#ended || name === this.#rendition) return;
    const from = this.#rendition;
    this.#rendition = name;
    this.#push({ type: 'rendition_switch', at: this.#clock.now(), from, to: name, reason: from === null ? 'initial' : reason });
  }

  /** A player error, `code` e.g. `networkError/fragLoadError` (hls.js type/details). */
  error(fatal: boolean, code: string): void {
    if (this.#ended || this.#errorsThisInterval >= MAX_ERRORS_PER_INTERVAL) return;
    this.#errorsThisInterval += 1;
    this.#push({ type: 'error', at: this.#clock.now(), fatal, code: clip(code, MAX_CODE) || 'unknown' });
  }

  /** Appends a heartbeat from `s`: kbit/s from bit/s, latency in ms (null for VOD), playing ms since the previous heartbeat. */
  heartbeat(s: HeartbeatSample): void {
    if (this.#ended) return;
    this.#errorsThisInterval = 0;
    this.#push({
      type: 'heartbeat',
      at: this.#clock.now(),
      position: finite(s.position),
      rendition: clip(s.rendition, MAX_NAME),
      bandwidthKbps: Math.round(finite(s.bandwidthBps) / 100) / 10,
      liveLatencyMs: s.liveLatencySeconds === null || !Number.isFinite(s.liveLatencySeconds) ? null : Math.round(Math.max(0, s.liveLatencySeconds) * 1000),
      droppedFrames: Math.round(finite(s.droppedFrames)),
      playingMs: this.#playing.take(this.#clock.mono()),
    });
  }

  /** Ends the playback session: a stall in progress ends, `session_end` carries the playing ms since the last heartbeat. Idempotent. */
  end(position: number): void {
    if (this.#ended) return;
    this.stopped(position);
    this.#push({ type: 'session_end', at: this.#clock.now(), playingMs: this.#playing.take(this.#clock.mono()) });
    this.#ended = true;
  }

  /**
   * The next batch to send (at most {@link MAX_BEACONS_PER_BATCH} beacons, oldest first), or
   * null when nothing is pending or the broadcast session is not known yet. The beacons leave
   * the queue: give the batch back with {@link requeue} when it could not be delivered.
   */
  takeBatch(): BeaconBatch | null {
    if (this.#sessionId === null || this.#queue.size === 0) return null;
    return { playbackSessionId: this.playbackSessionId, sessionId: this.#sessionId, viewerId: this.viewerId, beacons: this.#queue.take() };
  }

  /** Puts an undelivered batch back (sent again, with the same sequence numbers, by the next flush). */
  requeue(batch: BeaconBatch): void {
    this.#queue.requeue(batch.beacons);
  }
}

/** How a send went: `sent` (2xx), `retry` (network error, 429, 5xx: keep the beacons), `drop` (refused for good: 4xx). */
export type SendResult = 'sent' | 'retry' | 'drop';

/**
 * Delivers one batch. `final`: the page is going away (pagehide): the request must be started
 * synchronously and survive the page (fetch `keepalive` / `navigator.sendBeacon`); its result
 * is not waited for.
 */
export type BeaconTransport = (batch: BeaconBatch, final: boolean) => Promise<SendResult>;

/** Classifies an HTTP status of `POST /api/beacons` (0 = no response). */
export function sendResultOf(status: number): SendResult {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 0 || status === 408 || status === 429 || status >= 500) return 'retry';
  return 'drop';
}

/**
 * Sends every pending batch of `t`, one request at a time, and stops at the first `retry`
 * (that batch goes back into the queue for the next flush). With `final`, starts every
 * request at once without waiting (the page is being hidden or unloaded) and returns.
 * Never throws: a transport that throws counts as `retry`.
 * @returns the number of beacons delivered (0 with `final`).
 */
export async function flushTelemetry(t: PlaybackTelemetry, send: BeaconTransport, final = false): Promise<number> {
  let delivered = 0;
  for (let batch = t.takeBatch(); batch; batch = t.takeBatch()) {
    if (final) {
      void send(batch, true).catch(() => 'retry');
      continue;
    }
    let result: SendResult;
    try {
      result = await send(batch, false);
    } catch {
      result = 'retry';
    }
    if (result === 'retry') {
      t.requeue(batch);
      break;
    }
    if (result === 'sent') delivered += batch.beacons.length;
  }
  return delivered;
}
