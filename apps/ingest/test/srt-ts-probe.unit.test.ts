/**
 * The MPEG-TS program probe (apps/ingest/src/srt/ts-probe.ts) on streams ffmpeg writes (H.264 and
 * HEVC with AAC), fed in SRT-sized and odd-sized pieces, after leading junk, and on bytes that are
 * not MPEG-TS; plus the remux codec choice and the sockaddr helpers of libsrt.ts.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { srtRemuxCodecArgs } from '../src/srt/connection.js';
import { addressOfSockaddr, sockaddrOf } from '../src/srt/libsrt.js';
import { STREAM_TYPE, TsProgramProbe, videoCodecOf, type TsProbeResult } from '../src/srt/ts-probe.js';

/** One second of a tiny test pattern with AAC as MPEG-TS, from ffmpeg. */
function ts(video: string[]): Buffer {
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=10', '-f', 'lavfi', '-i', 'sine', '-t', '1', ...video, '-c:a', 'aac', '-f', 'mpegts', 'pipe:1',
  ], { maxBuffer: 64 * 1024 * 1024 });
  expect(r.status).toBe(0);
  return r.stdout;
}

function feed(probe: TsProgramProbe, bytes: Buffer, size: number): TsProbeResult {
  let r: TsProbeResult = { state: 'more' };
  for (let i = 0; i < bytes.length && r.state === 'more'; i += size) r = probe.push(bytes.subarray(i, i + size));
  return r;
}

describe('TsProgramProbe', () => {
  const h264 = ts(['-c:v', 'libx264', '-preset', 'ultrafast']);
  const hevc = ts(['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error']);

  it.each([1316, 188, 1, 1000])('finds H.264 and AAC in %i-byte pieces', (size) => {
    const r = feed(new TsProgramProbe(), h264, size);
    expect(r.state).toBe('found');
    if (r.state !== 'found') return;
    expect(r.program.streams.map((s) => s.streamType)).toEqual([STREAM_TYPE.H264, STREAM_TYPE.AAC_ADTS]);
    expect(videoCodecOf(r.program)).toBe('h264');
  });

  it('finds HEVC after leading junk', () => {
    const r = feed(new TsProgramProbe(), Buffer.concat([Buffer.from('junk!junk'), hevc]), 1316);
    expect(r.state === 'found' && videoCodecOf(r.program)).toBe('hevc');
  });

  it('gives up on bytes that are not MPEG-TS once its budget is spent, and stays so', () => {
    const probe = new TsProgramProbe(64 * 1024);
    const r = feed(probe, randomBytes(128 * 1024), 1316);
    expect(r).toMatchObject({ state: 'not-ts', reason: expect.stringMatching(/no MPEG-TS program table/) });
    expect(probe.push(h264).state).toBe('not-ts');
  });

  it('names a program without video', () => {
    expect(videoCodecOf({ pmtPid: 4096, streams: [{ streamType: STREAM_TYPE.AAC_ADTS, pid: 257 }] })).toBe('none');
  });
});

describe('srtRemuxCodecArgs', () => {
  it('copies H.264 and transcodes HEVC to H.264', () => {
    expect(srtRemuxCodecArgs('h264')).toEqual(['-c:v', 'copy', '-c:a', 'copy']);
    expect(srtRemuxCodecArgs('hevc')).toEqual(expect.arrayContaining(['-c:v', 'libx264', '-c:a', 'copy']));
  });
});

describe('sockaddr helpers', () => {
  it.each([['127.0.0.1', 9000], ['0.0.0.0', 0], ['::', 5000], ['::1', 1], ['2001:db8::8:1', 65535]])('round-trips %s:%i', (host, port) => {
    const b = sockaddrOf(host, port);
    expect(b.readUInt16BE(2)).toBe(port);
    const back = addressOfSockaddr(b);
    if (host.includes(':')) expect(back?.split(':').map((g) => parseInt(g, 16))).toEqual(expandV6(host));
    else expect(back).toBe(host);
  });

  it('reads IPv4-mapped IPv6 as IPv4 and refuses a host name', () => {
    const b = sockaddrOf('::ffff:0:0', 1);
    b[20] = 10; b[21] = 1; b[22] = 2; b[23] = 3;
    expect(addressOfSockaddr(b)).toBe('10.1.2.3');
    expect(() => sockaddrOf('localhost', 1)).toThrow(/IP address/);
    expect(addressOfSockaddr(Buffer.alloc(4))).toBeUndefined();
  });
});

function expandV6(host: string): number[] {
  const [h = '', t = ''] = host.split('::');
  const a = h ? h.split(':') : [];
  const b = t ? t.split(':') : [];
  return [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b].map((g) => parseInt(g, 16));
}
