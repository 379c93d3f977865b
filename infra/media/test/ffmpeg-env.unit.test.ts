import { describe, expect, it } from 'vitest';
import { ffmpegChildEnv } from '../src/index.js';

describe('ffmpegChildEnv', () => {
  it('keeps only the allow-listed variables: no token, key or URL of ours reaches ffmpeg', () => {
    const base = {
      PATH: '/usr/bin', HOME: '/home/w', TMPDIR: '/tmp', LANG: 'C.UTF-8', LC_ALL: 'C', LC_NUMERIC: 'C', TZ: 'UTC', LD_LIBRARY_PATH: '/opt/ff/lib',
      RELAY_TOKEN: 'r', INTERNAL_TOKEN: 'i', CONTENT_KEY_SECRET: 'k', DATABASE_URL: 'postgres://u:p@h/db', NATS_URL: 'nats://x', AWS_SECRET_ACCESS_KEY: 'a',
      FFMPEG_PATH: '/usr/bin/ffmpeg', NODE_OPTIONS: '--inspect', UNDEFINED: undefined,
    };
    const env = ffmpegChildEnv(base);
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/w', TMPDIR: '/tmp', LANG: 'C.UTF-8', LC_ALL: 'C', LC_NUMERIC: 'C', TZ: 'UTC', LD_LIBRARY_PATH: '/opt/ff/lib' });
    expect(base.RELAY_TOKEN).toBe('r'); // the input is not modified
    expect(ffmpegChildEnv({})).toEqual({});
  });
});
