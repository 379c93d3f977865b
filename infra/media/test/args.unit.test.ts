import { describe, expect, it } from 'vitest';
import {
  FFMPEG_STDIN_INPUT, buildLadderArgs, buildLowLatencyLadderArgs, ffmpegInitSegmentName, isPipeInput, selectLadder, type Rendition, type SourceInfo,
} from '../src/index.js';

/** What ffprobe reports for OBS-style H.264 High 4.0 1080p30 + AAC-LC 48 kHz stereo over FLV. */
const source1080: SourceInfo = {
  video: { codec: 'h264', codecString: 'avc1.640028', width: 1920, height: 1080, frameRate: 30, bitrateKbps: 4500 },
  audio: { codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, bitrateKbps: 160 },
};

const input = 'http://127.0.0.1:8935/relay/stream-1.flv';

describe('buildLadderArgs', () => {
  it('(a) 1080p30 H.264 + AAC: passthrough top rendition, 3 encodes, audio copied', () => {
    const ladder = selectLadder(source1080);
    const args = buildLadderArgs({
      input,
      source: source1080,
      ladder,
      outputDir: '/var/lib/live/work/sess-1/attempt-1',
      segmentSeconds: 2,
      startNumber: 0,
      initSegmentName: 'init_1.mp4',
      frameRate: 30,
    });
    expect(args).toEqual([
      '-hide_banner',
      '-nostats',
      '-loglevel', 'warning',
      '-progress', 'pipe:1',
      '-y',
      '-probesize', '1000000',
      '-analyzeduration', '1000000',
      '-fflags', '+genpts',
      '-rw_timeout', '10000000',
      '-i', 'http://127.0.0.1:8935/relay/stream-1.flv',
      '-filter_complex',
      '[0:v:0]split=3[in720p][in480p][in240p];' +
        '[in720p]scale=1280:720,format=yuv420p[out720p];' +
        '[in480p]scale=854:480,format=yuv420p[out480p];' +
        '[in240p]scale=426:240,format=yuv420p[out240p]',
      // 1080p: the source, copied
      '-map', '0:v:0', '-c:v:0', 'copy',
      '-map', '0:a:0',
      // 720p
      '-map', '[out720p]',
      '-c:v:1', 'libx264', '-preset:v:1', 'veryfast', '-profile:v:1', 'main', '-level:v:1', '3.1',
      '-b:v:1', '3000k', '-maxrate:v:1', '3300k', '-bufsize:v:1', '6000k',
      '-g:v:1', '60', '-keyint_min:v:1', '60', '-sc_threshold:v:1', '0',
      '-force_key_frames:v:1', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0',
      // 480p
      '-map', '[out480p]',
      '-c:v:2', 'libx264', '-preset:v:2', 'veryfast', '-profile:v:2', 'main', '-level:v:2', '3.1',
      '-b:v:2', '1200k', '-maxrate:v:2', '1320k', '-bufsize:v:2', '2400k',
      '-g:v:2', '60', '-keyint_min:v:2', '60', '-sc_threshold:v:2', '0',
      '-force_key_frames:v:2', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0',
      // 240p
      '-map', '[out240p]',
      '-c:v:3', 'libx264', '-preset:v:3', 'veryfast', '-profile:v:3', 'baseline', '-level:v:3', '2.1',
      '-b:v:3', '400k', '-maxrate:v:3', '440k', '-bufsize:v:3', '800k',
      '-g:v:3', '60', '-keyint_min:v:3', '60', '-sc_threshold:v:3', '0',
      '-force_key_frames:v:3', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0',
      '-c:a', 'copy',
      '-f', 'hls',
      '-hls_time', '2',
      '-hls_segment_type', 'fmp4',
      '-hls_flags', 'independent_segments+program_date_time+temp_file',
      '-hls_playlist_type', 'event',
      '-hls_fmp4_init_filename', 'init_1_%v.mp4',
      '-hls_segment_filename', '/var/lib/live/work/sess-1/attempt-1/%v/seg_%05d.m4s',
      '-start_number', '0',
      '-var_stream_map', 'v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:240p',
      '/var/lib/live/work/sess-1/attempt-1/%v/ffmpeg.m3u8',
    ]);
  });

  it('(b) 720p H.264 + MP3: no upscale, 720p passthrough, audio encoded to AAC per variant', () => {
    const source: SourceInfo = {
      video: { codec: 'h264', codecString: 'avc1.4d401f', width: 1280, height: 720, frameRate: 25, bitrateKbps: 2500 },
      audio: { codec: 'mp3', sampleRate: 44100, channels: 2, bitrateKbps: 192 },
    };
    const ladder = selectLadder(source);
    expect(ladder.map((r) => [r.name, r.width, r.height, r.passthrough])).toEqual([
      ['720p', 1280, 720, true],
      ['480p', 854, 480, false],
      ['240p', 426, 240, false],
    ]);
    const args = buildLadderArgs({
      input: '/media/in.flv',
      source,
      ladder,
      outputDir: '/work/out',
      segmentSeconds: 2,
      startNumber: 0,
      initSegmentName: 'init_1.mp4',
      frameRate: 25,
    });
    expect(args).toEqual([
      '-hide_banner', '-nostats', '-loglevel', 'warning', '-progress', 'pipe:1', '-y',
      '-probesize', '1000000', '-analyzeduration', '1000000', '-fflags', '+genpts', '-rw_timeout', '10000000',
      '-i', '/media/in.flv',
      '-filter_complex',
      '[0:v:0]split=2[in480p][in240p];[in480p]scale=854:480,format=yuv420p[out480p];[in240p]scale=426:240,format=yuv420p[out240p]',
      '-map', '0:v:0', '-c:v:0', 'copy',
      '-map', '0:a:0',
      '-map', '[out480p]',
      '-c:v:1', 'libx264', '-preset:v:1', 'veryfast', '-profile:v:1', 'main', '-level:v:1', '3.0',
      '-b:v:1', '1200k', '-maxrate:v:1', '1320k', '-bufsize:v:1', '2400k',
      '-g:v:1', '50', '-keyint_min:v:1', '50', '-sc_threshold:v:1', '0',
      '-force_key_frames:v:1', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0',
      '-map', '[out240p]',
      '-c:v:2', 'libx264', '-preset:v:2', 'veryfast', '-profile:v:2', 'baseline', '-level:v:2', '2.1',
      '-b:v:2', '400k', '-maxrate:v:2', '440k', '-bufsize:v:2', '800k',
      '-g:v:2', '50', '-keyint_min:v:2', '50', '-sc_threshold:v:2', '0',
      '-force_key_frames:v:2', 'expr:gte(t,n_forced*2)',
      '-map', '0:a:0',
      '-c:a', 'aac', '-ac', '2', '-b:a:0', '128k', '-b:a:1', '128k', '-b:a:2', '128k',
      '-f', 'hls', '-hls_time', '2', '-hls_segment_type', 'fmp4',
      '-hls_flags', 'independent_segments+program_date_time+temp_file',
      '-hls_playlist_type', 'event',
      '-hls_fmp4_init_filename', 'init_1_%v.mp4',
      '-hls_segment_filename', '/work/out/%v/seg_%05d.m4s',
      '-start_number', '0',
      '-var_stream_map', 'v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:240p',
      '/work/out/%v/ffmpeg.m3u8',
    ]);
  });

  it('(b2) 720p HEVC without audio: every rung encoded, nothing taller than the source', () => {
    const source: SourceInfo = { video: { codec: 'hevc', width: 1280, height: 720, frameRate: 30 } };
    const ladder = selectLadder(source);
    expect(ladder.map((r) => r.name)).toEqual(['720p', '480p', '240p']);
    const args = buildLadderArgs({
      input: 'in.flv', source, ladder, outputDir: 'w', segmentSeconds: 2, startNumber: 0, initSegmentName: 'init_1.mp4', frameRate: 30,
      inputOptions: { realtime: true, extra: ['-stream_loop', '-1'] }, threads: 1,
    });
    expect(args.slice(7, 19)).toEqual([
      '-re', '-probesize', '1000000', '-analyzeduration', '1000000', '-fflags', '+genpts', '-rw_timeout', '10000000',
      '-stream_loop', '-1', '-i',
    ]);
    expect(args).toContain('[0:v:0]split=3[in720p][in480p][in240p];[in720p]scale=1280:720,format=yuv420p[out720p];[in480p]scale=854:480,format=yuv420p[out480p];[in240p]scale=426:240,format=yuv420p[out240p]');
    expect(args).not.toContain('0:a:0');
    expect(args).not.toContain('-c:a');
    expect(args.filter((a) => a.startsWith('-threads:'))).toEqual(['-threads:v:0', '-threads:v:1', '-threads:v:2']);
    expect(args.at(-2)).toBe('v:0,name:720p v:1,name:480p v:2,name:240p');
  });

  it('(c) resume: startNumber and the attempt\'s init segment name', () => {
    const ladder = selectLadder(source1080);
    const args = buildLadderArgs({
      input,
      source: source1080,
      ladder,
      outputDir: '/w/attempt-3',
      segmentSeconds: 2,
      startNumber: 1234,
      initSegmentName: 'init_3.mp4',
      frameRate: 30,
    });
    expect(args.slice(-11)).toEqual([
      '-hls_playlist_type', 'event',
      '-hls_fmp4_init_filename', 'init_3_%v.mp4',
      '-hls_segment_filename', '/w/attempt-3/%v/seg_%05d.m4s',
      '-start_number', '1234',
      '-var_stream_map', 'v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:240p',
      '/w/attempt-3/%v/ffmpeg.m3u8',
    ]);
    // the only differences from attempt 1 are those two values
    const first = buildLadderArgs({ input, source: source1080, ladder, outputDir: '/w/attempt-3', segmentSeconds: 2, startNumber: 0, initSegmentName: 'init_1.mp4', frameRate: 30 });
    const diff = args.map((a, i) => [first[i], a]).filter(([a, b]) => a !== b);
    expect(diff).toEqual([
      ['init_1_%v.mp4', 'init_3_%v.mp4'],
      ['0', '1234'],
    ]);
  });

  it('a single variant keeps the init name (ffmpeg only substitutes %v with several variants)', () => {
    expect(ffmpegInitSegmentName('init_2.mp4', 1)).toBe('init_2.mp4');
    expect(ffmpegInitSegmentName('init_2.mp4', 4)).toBe('init_2_%v.mp4');
    expect(ffmpegInitSegmentName('init_%v_2.mp4', 4)).toBe('init_%v_2.mp4');
    const source: SourceInfo = { video: { codec: 'h264', width: 320, height: 180, frameRate: 30 }, audio: { codec: 'aac' } };
    const ladder = selectLadder(source);
    const args = buildLadderArgs({ input: 'i', source, ladder, outputDir: 'o', segmentSeconds: 2, startNumber: 0, initSegmentName: 'init_2.mp4', frameRate: 30 });
    expect(args).not.toContain('-filter_complex');
    expect(args).toContain('init_2.mp4');
    expect(args.at(-2)).toBe('v:0,a:0,name:180p');
  });

  it('the relay stream on stdin: `-f flv -i pipe:0`, no -rw_timeout (the feeder watches for stalls), same for the low-latency args', () => {
    expect(FFMPEG_STDIN_INPUT).toBe('pipe:0');
    expect(['pipe:0', 'pipe:', 'pipe:3', '-'].map(isPipeInput)).toEqual([true, true, true, true]);
    expect(['in.flv', 'http://x/relay/a.flv', '/tmp/pipe:0', 'pipes.flv'].map(isPipeInput)).toEqual([false, false, false, false]);
    const ladder = selectLadder(source1080);
    const opts = { input: FFMPEG_STDIN_INPUT, inputOptions: { format: 'flv' }, source: source1080, ladder, outputDir: '/w/s/attempt-1', segmentSeconds: 2, frameRate: 30 };
    const head = [
      '-hide_banner', '-nostats', '-loglevel', 'warning', '-progress', 'pipe:1', '-y',
      '-probesize', '1000000', '-analyzeduration', '1000000', '-fflags', '+genpts',
      '-f', 'flv', '-i', 'pipe:0',
      '-filter_complex',
    ];
    const hls = buildLadderArgs({ ...opts, startNumber: 0, initSegmentName: 'init_1.mp4' });
    expect(hls.slice(0, head.length)).toEqual(head);
    const ll = buildLowLatencyLadderArgs({ ...opts, partFrames: 15 });
    expect(ll.slice(0, head.length)).toEqual(head);
    // apart from the input, the URL variant is the same list
    const url = buildLadderArgs({ ...opts, input, inputOptions: {}, startNumber: 0, initSegmentName: 'init_1.mp4' });
    expect(url.slice(head.length)).toEqual(hls.slice(head.length));
    expect(url.slice(0, head.length)).toEqual([...head.slice(0, 13), '-rw_timeout', '10000000', '-i', input, '-filter_complex']);
  });

  it('refuses malformed ladders', () => {
    const ladder = selectLadder(source1080);
    const base = { input, source: source1080, outputDir: 'o', segmentSeconds: 2, startNumber: 0, initSegmentName: 'i.mp4', frameRate: 30 };
    expect(() => buildLadderArgs({ ...base, ladder: [] })).toThrow(RangeError);
    const twoCopies: Rendition[] = [ladder[0]!, { ...ladder[1]!, passthrough: true }];
    expect(() => buildLadderArgs({ ...base, ladder: twoCopies })).toThrow(RangeError);
    expect(() => buildLadderArgs({ ...base, ladder, frameRate: 0 })).toThrow(RangeError);
  });
});

describe('buildLowLatencyLadderArgs keyframe interval', () => {
  const ladder = selectLadder(source1080);
  const base = { input: FFMPEG_STDIN_INPUT, inputOptions: { format: 'flv' }, source: source1080, ladder, outputDir: '/w/s/attempt-1', segmentSeconds: 2, frameRate: 30, partFrames: 15 };
  /** The keyframe options of each encoded rendition: [-g, -keyint_min, -force_key_frames]. */
  const keyframeOptions = (args: string[]) => {
    const out: string[][] = [];
    args.forEach((a, i) => { if (a === '-g:v') out.push([args[i + 1]!, args[i + 3]!, args[i + 7]!]); });
    expect(args.filter((a) => a === '-keyint_min:v').length).toBe(out.length);
    return out;
  };

  it('default: one GOP per segment (60 frames at 30 fps, forced every 2 s), as before the option existed', () => {
    const args = buildLowLatencyLadderArgs(base);
    expect(keyframeOptions(args)).toEqual(Array(3).fill(['60', '60', 'expr:gte(t,n_forced*2)']));
    expect(buildLowLatencyLadderArgs({ ...base, keyframesPerSegment: 1 })).toEqual(args);
    // the passthrough top rung keeps the source's own keyframes: no GOP options for it
    expect(args.slice(args.indexOf('0:v:0') - 1, args.indexOf('0:v:0') + 3)).toEqual(['-map', '0:v:0', '-c:v', 'copy']);
  });

  it('2 keyframes per segment: a 1 s GOP (30 frames), forced every 2/2 s; 4: a 0.5 s GOP, one per 0.5 s part', () => {
    const two = buildLowLatencyLadderArgs({ ...base, keyframesPerSegment: 2 });
    expect(keyframeOptions(two)).toEqual(Array(3).fill(['30', '30', 'expr:gte(t,n_forced*2/2)']));
    const four = buildLowLatencyLadderArgs({ ...base, keyframesPerSegment: 4 });
    expect(keyframeOptions(four)).toEqual(Array(3).fill(['15', '15', 'expr:gte(t,n_forced*2/4)']));
    // nothing else changes: same fragments (one per part, a new one at every keyframe), same outputs
    const strip = (a: string[]) => a.map((x) => (/^(\d+|expr:.*)$/.test(x) ? '' : x));
    expect(strip(four)).toEqual(strip(buildLowLatencyLadderArgs(base)));
    expect(four[four.indexOf('-frag_duration') + 1]).toBe('500000');
    expect(four[four.indexOf('-movflags') + 1]).toContain('+frag_keyframe');
  });

  it('at 29.97 and 25 fps the GOP is rounded to whole frames while the forced keyframes stay on the segment grid', () => {
    const ntsc = buildLowLatencyLadderArgs({ ...base, frameRate: 30000 / 1001, keyframesPerSegment: 2 });
    expect(keyframeOptions(ntsc)[0]).toEqual(['30', '30', 'expr:gte(t,n_forced*2/2)']);
    const pal = buildLowLatencyLadderArgs({ ...base, frameRate: 25, partFrames: 13, keyframesPerSegment: 4 });
    expect(keyframeOptions(pal)[0]).toEqual(['13', '13', 'expr:gte(t,n_forced*2/4)']);
  });

  it('refuses a keyframe count that is not a positive integer, or that leaves less than a frame per GOP', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => buildLowLatencyLadderArgs({ ...base, keyframesPerSegment: bad }), String(bad)).toThrow(/keyframesPerSegment must be a positive integer/);
    expect(() => buildLowLatencyLadderArgs({ ...base, frameRate: 1, keyframesPerSegment: 8 })).toThrow(/less than one frame/);
    expect(() => buildLowLatencyLadderArgs({ ...base, keyframesPerSegment: 60 })).not.toThrow();
  });
});
