/**
 * Debian's nginx with `libnginx-mod-rtmp` as a throwaway RTMP server for tests: its own prefix,
 * configuration and HLS directory in a temp dir, on a port it is given, one process
 * (`master_process off`, so a SIGKILL leaves no worker holding the port), never the system's
 * nginx service. The configuration is {@link nginxRtmpConfig} (pure).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Where Debian installs the binary and the RTMP module. */
export const NGINX_BIN = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';
export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

/**
 * nginx.conf for one RTMP server on 127.0.0.1:`port` with application `live` (`live on`), which
 * also writes HLS of every stream into `<dir>/hls/<key>.m3u8`.
 */
export function nginxRtmpConfig(dir: string, port: number): string {
  return [
    `load_module ${NGINX_RTMP_MODULE};`,
    'daemon off;',
    'master_process off;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} info;`,
    'events { worker_connections 64; }',
    'rtmp {',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    application live {',
    '      live on;',
    '      record off;',
    '      hls on;',
    `      hls_path ${join(dir, 'hls')};`,
    '      hls_fragment 1s;',
    '      hls_playlist_length 6s;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** A running nginx-rtmp. */
export interface NginxRtmp {
  readonly child: ChildProcess;
  /** `rtmp://127.0.0.1:<port>/live` */
  readonly url: string;
  /** Directory of the HLS it writes (`<key>.m3u8`). */
  readonly hlsDir: string;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts nginx-rtmp with its files in `dir` on `port`, resolved once the port accepts
 * connections (within 10 s).
 * @throws when it exits or does not listen in time.
 */
export async function startNginxRtmp(dir: string, port: number): Promise<NginxRtmp> {
  mkdirSync(join(dir, 'hls'), { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxRtmpConfig(dir, port));
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    if (await accepts(port)) return { child, url: `rtmp://127.0.0.1:${port}/live`, hlsDir: join(dir, 'hls') };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not listen on ${port}: ${stderr}`);
}

/** SIGKILLs nginx and waits for it to be gone. */
export async function killNginx(n: NginxRtmp): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  const gone = new Promise((r) => n.child.once('exit', r));
  n.child.kill('SIGKILL');
  await gone;
}
