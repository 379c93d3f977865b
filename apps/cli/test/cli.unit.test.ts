/** Pure parts of the CLI: --from parsing, progress and summary formatting, history lines, configuration. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { streamEvent, domainEvent, channelSubject, systemClock } from '@live/events';
import {
  advisoryLockKey, clickhouseAuthFor, ConfigError, createProgress, endpointUrl, formatCount, formatDuration, formatHistoryJson, formatHistoryLine,
  formatReplaySummary, formatTable, parseLogPosition, progressFigures, withAsyncCommit, type ReplayReport,
} from '../src/index.js';

describe('parseLogPosition', () => {
  it('reads a positive integer as a stream sequence', () => {
    expect(parseLogPosition('1')).toEqual({ kind: 'seq', seq: 1 });
    expect(parseLogPosition(' 120000 ')).toEqual({ kind: 'seq', seq: 120_000 });
  });

  it('reads ISO-8601 dates and times, UTC when no zone is given', () => {
    expect(parseLogPosition('2025-06-01')).toEqual({ kind: 'time', time: new Date('2025-06-01T00:00:00Z') });
    expect(parseLogPosition('2025-06-01T12:30:00Z')).toEqual({ kind: 'time', time: new Date('2025-06-01T12:30:00Z') });
    expect(parseLogPosition('2025-06-01T12:30')).toEqual({ kind: 'time', time: new Date('2025-06-01T12:30:00Z') });
    expect(parseLogPosition('2025-06-01 14:30:00.250+02:00')).toEqual({ kind: 'time', time: new Date('2025-06-01T12:30:00.250Z') });
  });

  it('refuses anything else with a one-line message', () => {
    for (const bad of ['0', '-5', '1.5', 'yesterday', '2025-13-45T99:00Z', '', '9007199254740993']) {
      expect(() => parseLogPosition(bad), bad).toThrow(RangeError);
    }
    expect(() => parseLogPosition('soon')).toThrow(/expected a stream sequence \(e\.g\. 1200\) or an ISO-8601 time/);
  });
});

describe('progress', () => {
  it('computes percent, events per second and the time left', () => {
    expect(progressFigures(250, 1000, 5000)).toEqual({ percent: 25, rate: 50, etaSeconds: 15 });
    expect(progressFigures(1000, 1000, 2000)).toMatchObject({ percent: 100, etaSeconds: 0 });
    expect(progressFigures(0, 0, 0)).toMatchObject({ percent: 100, rate: 0 });
    expect(Number.isNaN(progressFigures(0, 10, 1000).etaSeconds)).toBe(true);
  });

  it('formats counts and durations', () => {
    expect([formatCount(0), formatCount(999), formatCount(1234567)]).toEqual(['0', '999', '1,234,567']);
    expect([formatDuration(0), formatDuration(75), formatDuration(3725), formatDuration(Number.NaN)]).toEqual(['0:00', '1:15', '1:02:05', '--:--']);
  });

  it('writes plain lines at most every 5 s when not on a terminal, and a final 100% line', () => {
    let t = 0;
    const out: string[] = [];
    const p = createProgress({ sink: { write: (s: string) => out.push(s), isTTY: false }, label: 'replay x', total: 1000, now: () => t });
    t = 1000; p.update(100);
    t = 2000; p.update(200);
    t = 6500; p.update(650);
    p.setTotal(1200);
    t = 8000; p.update(1150);
    p.finish();
    p.finish();
    expect(out).toEqual([
      'replay x: 100/1,000 events (10.0%), 100 events/s, ETA 0:09\n',
      'replay x: 650/1,000 events (65.0%), 100 events/s, ETA 0:04\n',
      'replay x: 1,150/1,150 events (100.0%), 144 events/s, ETA 0:00\n',
    ]);
  });

  it('redraws one line in place on a terminal and ends it once', () => {
    let t = 0;
    const out: string[] = [];
    const p = createProgress({ sink: { write: (s: string) => out.push(s), isTTY: true, columns: 100 }, label: 'replay', total: 200, now: () => t });
    t = 1000; p.update(50);
    t = 1050; p.update(60); // within 100 ms: not drawn
    t = 2000; p.update(100);
    p.finish();
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(/^\rreplay \[#{10}-{30}\] 50\/200 {2}25\.0% {2}50 ev\/s {2}ETA 0:03\x1b\[K$/);
    expect(out[2]).toMatch(/^\rreplay \[#{40}\] 100\/100 100\.0%/);
    expect(out[3]).toBe('\n');
  });

  it('writes nothing when silent', () => {
    const out: string[] = [];
    const p = createProgress({ sink: { write: (s: string) => out.push(s), isTTY: true }, label: 'x', total: 1, silent: true });
    p.update(1);
    p.finish();
    expect(out).toEqual([]);
  });
});

describe('summary', () => {
  it('aligns a table: numbers right, text left', () => {
    expect(formatTable(['table', 'rows', 'difference'], [['users', 1200, '+3'], ['projection_offsets', 1, '0']])).toBe(
      'table                rows  difference\n'
      + '------------------  -----  ----------\n'
      + 'users               1,200          +3\n'
      + 'projection_offsets      1           0\n',
    );
  });

  it('prints totals, rows per table with the difference, and notes', () => {
    const r: ReplayReport = {
      projection: 'readmodels', builtIn: 'schema replay_20250601_120000_000', fromSeq: 1, toSeq: 5000, eventsRead: 5000, eventsApplied: 4999,
      eventsSkipped: 1, seconds: 2.5, eventsPerSecond: 2000, swapped: true, notes: ['dropped schema replay_x left by an interrupted replay'],
      tables: [{ table: 'users', rows: 10, liveRows: 9 }, { table: 'follows', rows: 3, liveRows: 3 }],
    };
    const text = formatReplaySummary(r);
    expect(text).toContain('readmodels: rebuilt and swapped in (sequences 1..5000, built in schema replay_20250601_120000_000)');
    expect(text).toMatch(/events read +applied +skipped +events\/s +seconds\n[- ]+\n +5,000 +4,999 +1 +2,000 +2\.5\n/);
    expect(text).toMatch(/table +rows +rows before +difference\n[- ]+\nusers +10 +9 +\+1\nfollows +3 +3 +0\n/);
    expect(text).toContain('note: dropped schema replay_x');
    expect(formatReplaySummary({ ...r, swapped: false })).toMatch(/dry run, live tables untouched[^]*live rows/);
  });
});

describe('history lines', () => {
  const started = { ...streamEvent(systemClock, 'StreamPublishStarted', {
    channelId: 'alice', sessionId: 's-1', ingestNodeId: 'ingest-a', relayUrl: 'http://x/relay/s-1.flv', app: 'live',
    source: { video: { codec: 'h264', width: 1280, height: 720 } },
  }, { producer: 'ingest:ingest-a' }), occurredAt: '2025-06-01T12:00:00.000Z' };
  const key = { ...domainEvent(systemClock, 'StreamKeyIssued', channelSubject('alice'), {
    channelId: 'alice', keyId: 'k1', keyHash: 'deadbeef', keyLast4: 'abcd', label: 'OBS at home', expiresAt: null, allowedCidrs: ['10.0.0.0/8'], actorUserId: 'u1',
  }, { producer: 'api' }), occurredAt: '2025-06-01T11:00:00.000Z' };
  const storedAt = new Date('2025-06-01T12:00:00.005Z');

  it('shows time, sequence, aggregate, type and data fields, without the channel id and with hashes redacted', () => {
    expect(formatHistoryLine({ seq: 42, storedAt, subject: started.subject, event: started })).toBe(
      '2025-06-01T12:00:00.000Z  #42  stream  StreamPublishStarted     sessionId=s-1 ingestNodeId=ingest-a relayUrl=http://x/relay/s-1.flv app=live source={"video":{"codec":"h264","width":1280,"height":720}}',
    );
    expect(formatHistoryLine({ seq: 7, storedAt, subject: key.subject, event: key })).toBe(
      '2025-06-01T11:00:00.000Z  #7  channel StreamKeyIssued          keyId=k1 keyHash=[redacted] keyLast4=abcd label="OBS at home" expiresAt=null allowedCidrs=10.0.0.0/8 actorUserId=u1',
    );
    expect(formatHistoryLine({ seq: 9, storedAt, subject: 'evt.stream.alice', error: 'unknown event type Bogus' })).toBe(
      '2025-06-01T12:00:00.005Z  #9  (undecodable on evt.stream.alice: unknown event type Bogus)',
    );
  });

  it('writes JSON lines with the sequence, the storage time and the envelope, hashes redacted', () => {
    const j = JSON.parse(formatHistoryJson({ seq: 7, storedAt, subject: key.subject, event: key })) as Record<string, unknown>;
    expect(j).toEqual({ seq: 7, storedAt: '2025-06-01T12:00:00.005Z', ...key, data: { ...key.data, keyHash: '[redacted]' } });
    expect(JSON.parse(formatHistoryJson({ seq: 9, storedAt, subject: 'evt.stream.alice', error: 'bad' }))).toEqual({ seq: 9, storedAt: '2025-06-01T12:00:00.005Z', subject: 'evt.stream.alice', error: 'bad' });
  });
});

describe('configuration', () => {
  it('takes the environment first, then the embedded stack file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'live-cli-unit-'));
    const file = join(dir, 'stack.json');
    writeFileSync(file, JSON.stringify({ natsUrl: 'nats://127.0.0.1:4333', databaseUrl: 'postgres://x@127.0.0.1/live' }));
    expect(endpointUrl('nats', { NATS_URL: 'nats://other:4222' }, file)).toBe('nats://other:4222');
    expect(endpointUrl('nats', {}, file)).toBe('nats://127.0.0.1:4333');
    expect(endpointUrl('database', { LIVE_STACK_FILE: file }, '/nonexistent')).toBe('postgres://x@127.0.0.1/live');
    expect(() => endpointUrl('clickhouse', {}, file)).toThrow(ConfigError);
    expect(() => endpointUrl('clickhouse', {}, file)).toThrow(`CLICKHOUSE_URL is not set and ${file} has no clickhouseUrl`);
    expect(() => endpointUrl('nats', {}, join(dir, 'missing.json'))).toThrow('NATS_URL is not set (and no embedded stack is running: no .run/stack.json)');
  });

  it('connects to the embedded stack\'s ClickHouse endpoint as its writer, unless the environment names a user', () => {
    const dir = mkdtempSync(join(tmpdir(), 'live-cli-unit-'));
    const file = join(dir, 'stack.json');
    writeFileSync(file, JSON.stringify({ clickhouseUrl: 'http://127.0.0.1:8123', clickhouseWriter: { username: 'writer', password: 'p@ss/w:rd' }, clickhouseReader: { username: 'reader', password: 'r' } }));
    expect(clickhouseAuthFor({}, file)).toEqual({ username: 'writer', password: 'p@ss/w:rd' });
    const url = new URL(endpointUrl('clickhouse', {}, file));
    expect([url.host, decodeURIComponent(url.username), decodeURIComponent(url.password)]).toEqual(['127.0.0.1:8123', 'writer', 'p@ss/w:rd']);
    // The same URL from the environment: the stack's writer too.
    expect(decodeURIComponent(new URL(endpointUrl('clickhouse', { CLICKHOUSE_URL: 'http://127.0.0.1:8123' }, file)).username)).toBe('writer');
    // The environment's own credentials win (the CLI passes them to the client), and another server gets none from the stack.
    expect(clickhouseAuthFor({ CLICKHOUSE_USER: 'ops', CLICKHOUSE_PASSWORD: 'x' }, file)).toEqual({ username: 'ops', password: 'x' });
    expect(endpointUrl('clickhouse', { CLICKHOUSE_USER: 'ops', CLICKHOUSE_PASSWORD: 'x' }, file)).toBe('http://127.0.0.1:8123');
    expect(clickhouseAuthFor({ CLICKHOUSE_URL: 'http://clickhouse:8123' }, file)).toBeUndefined();
    expect(endpointUrl('clickhouse', { CLICKHOUSE_URL: 'http://clickhouse:8123' }, file)).toBe('http://clickhouse:8123');
    expect(clickhouseAuthFor({}, join(dir, 'missing.json'))).toBeUndefined();
  });

  it('turns synchronous commit off for the replay\'s own connections only', () => {
    expect(withAsyncCommit('postgres://u:p@db:5432/live')).toBe('postgres://u:p@db:5432/live?options=-c+synchronous_commit%3Doff');
    expect(withAsyncCommit('postgres://db/live?sslmode=require')).toBe('postgres://db/live?sslmode=require&options=-c+synchronous_commit%3Doff');
    expect(withAsyncCommit('postgres://db/live?options=-c%20x%3Dy')).toBe('postgres://db/live?options=-c%20x%3Dy');
    expect(withAsyncCommit('host=db dbname=live')).toBe('host=db dbname=live');
  });

  it('derives a stable signed 64-bit advisory-lock key per name', () => {
    const k = advisoryLockKey('replay readmodels');
    expect(k).toBe(advisoryLockKey('replay readmodels'));
    expect(k).not.toBe(advisoryLockKey('replay analytics'));
    expect(BigInt(k) >= -(2n ** 63n) && BigInt(k) < 2n ** 63n).toBe(true);
  });
});
