/**
 * The systemd units of infra/deploy/systemd: one per app (the chat gateway as the template
 * `live-chat@.service`, instance = port), each running the app's bundle with the settings
 * production needs (environment files, restart policy that stops at exit status 78, a stop
 * timeout for the drain, the same sandbox everywhere), checked by `systemd-analyze verify`
 * (with the paths rewritten to this checkout: verify needs ExecStart's binary to exist) and
 * `systemd-analyze security --offline`; and the sysusers.d file creating the `live` user.
 * `npm test`'s bootstrap installs systemd-analyze (Debian package systemd) when missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(deployDir, '..', '..');
const unitDir = join(deployDir, 'systemd');

/** App → unit file name. */
const UNITS: Record<string, string> = {
  api: 'live-api.service',
  edge: 'live-edge.service',
  ingest: 'live-ingest.service',
  worker: 'live-worker.service',
  projector: 'live-projector.service',
  chat: 'live-chat@.service',
};
/** The name `systemd-analyze` is given for each unit (a template is verified as an instance). */
const verifyName = (unit: string) => unit.replace('@.', '@8082.');

type Unit = Record<string, Record<string, string[]>>;

/** A unit file's sections → key → values in order (comments and blank lines dropped). */
function parseUnit(text: string): Unit {
  const out: Unit = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    ((out[section]!)[key] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

/** The sandbox block: from the `# Sandbox` comment through `UMask=`. */
function sandboxBlock(text: string): string {
  const m = /^# Sandbox[^]*?^UMask=.*$/m.exec(text);
  return m ? m[0] : '';
}

/** systemd time span → seconds (`45s`, `2min`, `90`). */
function seconds(span: string): number {
  const m = /^(\d+)\s*(s|sec|min|m)?$/.exec(span.trim());
  if (!m) throw new Error(`unsupported time span ${span}`);
  return Number(m[1]) * (m[2] === 'min' || m[2] === 'm' ? 60 : 1);
}

const texts = Object.fromEntries(Object.entries(UNITS).map(([app, file]) => [app, readFileSync(join(unitDir, file), 'utf8')]));
const units = Object.fromEntries(Object.entries(texts).map(([app, text]) => [app, parseUnit(text)]));
const service = (app: string) => units[app]!.Service!;
const one = (app: string, key: string) => {
  const v = service(app)[key];
  expect(v, `${UNITS[app]}: ${key}=`).toBeDefined();
  return v![v!.length - 1]!;
};

describe('systemd units', () => {
  it('are one per app, nothing else', () => {
    const files = readdirSync(unitDir).filter((f) => /\.(service|target|socket|timer)$/.test(f)).sort();
    expect(files).toEqual(Object.values(UNITS).sort());
  });

  it('run the app\'s bundle as User=live from /opt/live, configured by /etc/live/common.env then /etc/live/<app>.env', () => {
    for (const app of Object.keys(UNITS)) {
      expect(units[app]!.Unit!.After, app).toContain('network-online.target');
      expect(units[app]!.Unit!.Wants, app).toContain('network-online.target');
      expect(units[app]!.Install!.WantedBy, app).toEqual(['multi-user.target']);
      expect(service(app).ExecStart, app).toEqual([`/usr/bin/node --enable-source-maps /opt/live/apps/${app}/dist/main.js`]);
      expect(one(app, 'WorkingDirectory')).toBe('/opt/live');
      expect(one(app, 'User')).toBe('live');
      expect(one(app, 'Group')).toBe('live');
      expect(service(app).DynamicUser, app).toBeUndefined();
      // Later files win: the app's own file overrides the shared one; only the shared one may be absent.
      expect(service(app).EnvironmentFile, app).toEqual(['-/etc/live/common.env', `/etc/live/${app}.env`]);
      // Each app is built to exactly that path (infra/dev/bin/build-app.mjs writes dist/main.js).
      const pkg = JSON.parse(readFileSync(join(root, 'apps', app, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      expect(pkg.scripts?.build, app).toMatch(/infra\/dev\/bin\/build-app\.mjs/);
    }
  });

  it('restart on failure but not after a configuration error (exit status 78), with time to drain', () => {
    // The status the configuration loaders exit with (infra/runtime).
    expect(readFileSync(join(root, 'infra', 'runtime', 'src', 'config.ts'), 'utf8')).toMatch(/export const EXIT_CONFIG = 78;/);
    for (const app of Object.keys(UNITS)) {
      expect(one(app, 'Type')).toBe('exec');
      expect(one(app, 'Restart')).toBe('on-failure');
      expect(one(app, 'RestartPreventExitStatus')).toBe('78');
      expect(one(app, 'KillMode')).toBe('mixed');
      // The shutdown helper gives each step up to 15 s; the worker also lets ffmpeg stop.
      expect(seconds(one(app, 'TimeoutStopSec')), app).toBeGreaterThanOrEqual(app === 'worker' ? 60 : 30);
    }
  });

  it('raise the open-file limit where clients connect (chat, edge, ingest, API)', () => {
    for (const app of ['chat', 'edge', 'ingest', 'api']) expect(Number(one(app, 'LimitNOFILE')), app).toBeGreaterThanOrEqual(65536);
    expect(Number(one('chat', 'LimitNOFILE'))).toBeGreaterThanOrEqual(1 << 20);
  });

  it('share one sandbox: no capabilities, read-only system, private /tmp, no home directories', () => {
    const block = sandboxBlock(texts.api!);
    expect(block).not.toBe('');
    for (const app of Object.keys(UNITS)) expect(sandboxBlock(texts[app]!), `${UNITS[app]}: sandbox differs from live-api.service's`).toBe(block);
    const s = parseUnit(`[Service]\n${block}`).Service!;
    expect(s).toMatchObject({
      NoNewPrivileges: ['yes'], CapabilityBoundingSet: [''], AmbientCapabilities: [''], ProtectSystem: ['strict'],
      PrivateTmp: ['yes'], ProtectHome: ['yes'], PrivateDevices: ['yes'],
    });
    // V8's JIT needs writable executable memory.
    expect(s.MemoryDenyWriteExecute).toBeUndefined();
    // Only the worker writes to disk; nothing else gets a capability (ingest's 443 lines stay commented).
    for (const app of Object.keys(UNITS)) {
      if (app !== 'worker') expect([service(app).StateDirectory, service(app).ReadWritePaths], app).toEqual([undefined, undefined]);
      expect(service(app).CapabilityBoundingSet, app).toEqual(['']);
    }
    expect(texts.ingest).toMatch(/^#AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  });

  it('give the worker ffmpeg on PATH and a writable WORK_DIR and local storage', () => {
    const env = service('worker').Environment!;
    expect(env).toContain('WORK_DIR=/var/lib/live/work');
    expect(env.find((e) => e.startsWith('PATH='))!.split(/[=:]/)).toContain('/usr/bin');
    expect(service('worker').StateDirectory).toEqual(['live/work live/storage']);
  });

  it('run the chat template\'s instance on the port its name gives, with a stable gateway id', () => {
    expect(service('chat').Environment).toEqual(['CHAT_PORT=%i', 'GATEWAY_ID=%l-%i']);
  });
});

describe('systemd-analyze on the units (paths rewritten to this checkout)', () => {
  let dir: string;

  beforeAll(() => {
    expect(spawnSync('systemd-analyze', ['--version']).status, 'systemd-analyze is missing: run `bash infra/dev/bin/ensure.sh --test` (Debian package systemd)').toBe(0);
    // ExecStart's script must exist too: build the apps whose bundle is missing.
    const missing = Object.keys(UNITS).filter((app) => !existsSync(join(root, 'apps', app, 'dist', 'main.js')));
    if (missing.length) {
      const r = spawnSync('pnpm', ['turbo', 'run', 'build', ...missing.map((a) => `--filter=@live/${a}`)], { cwd: root, encoding: 'utf8' });
      expect(r.status, `building ${missing.join(', ')} failed:\n${r.stdout}${r.stderr}`).toBe(0);
    }
    dir = mkdtempSync(join(tmpdir(), 'deploy-systemd-'));
    for (const [app, file] of Object.entries(UNITS)) {
      const text = texts[app]!
        .replaceAll('/usr/bin/node', process.execPath)
        .replaceAll('/opt/live', root);
      writeFileSync(join(dir, file), text);
    }
  }, 600_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verify: no warning about any unit', { timeout: 60_000 }, () => {
    for (const [app, file] of Object.entries(UNITS)) {
      const rewritten = parseUnit(readFileSync(join(dir, file), 'utf8')).Service!.ExecStart![0]!;
      const script = rewritten.split(' ').pop()!;
      expect(existsSync(script), `${file}: ${script}`).toBe(true);
      const name = verifyName(file);
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, name)], { cwd: dir, encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      // Lines about other units (the host's own) are not ours to fix; any line naming this one is.
      const ours = output.split('\n').filter((l) => l.includes(file) || l.includes(name));
      expect(ours, `systemd-analyze verify ${name} (${app}):\n${output}`).toEqual([]);
      expect(r.status, `systemd-analyze verify ${name}:\n${output}`).toBe(0);
    }
  });

  it('verify catches a broken unit (the check itself works)', () => {
    const file = 'live-broken.service';
    writeFileSync(join(dir, file), `${readFileSync(join(dir, UNITS.api!), 'utf8').replace('[Service]', '[Service]\nRestartPreventExitStatuz=78')}`);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, file)], { cwd: dir, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/live-broken\.service:\d+: Unknown key 'RestartPreventExitStatuz'/);
    rmSync(join(dir, file));
  });

  it('security --offline: exposure at most 2.0 of 10 for each (--threshold is on a 0-100 scale)', { timeout: 60_000 }, () => {
    for (const file of Object.values(UNITS)) {
      const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', join(dir, verifyName(file))], { cwd: dir, encoding: 'utf8' });
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
      expect(level, `systemd-analyze security ${file}:\n${r.stdout}${r.stderr}`).toBeDefined();
      expect(Number(level), `${file}:\n${r.stdout}`).toBeLessThanOrEqual(2.0);
      expect(r.status, `${file}:\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('live.sysusers.conf creates the system user and group `live` (systemd-sysusers --root)', () => {
    const fakeRoot = join(dir, 'root');
    mkdirSync(join(fakeRoot, 'etc'), { recursive: true });
    // `-`: the file from stdin (a path would be taken inside --root).
    const r = spawnSync('systemd-sysusers', [`--root=${fakeRoot}`, '-'], { input: readFileSync(join(unitDir, 'live.sysusers.conf')), encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const passwd = readFileSync(join(fakeRoot, 'etc', 'passwd'), 'utf8');
    expect(passwd).toMatch(/^live:x:(\d+):\d+:[^:]*:\/var\/lib\/live:\/usr\/sbin\/nologin$/m);
    expect(Number(/^live:x:(\d+):/m.exec(passwd)![1])).toBeLessThan(1000); // a system user
    expect(readFileSync(join(fakeRoot, 'etc', 'group'), 'utf8')).toMatch(/^live:x:\d+:/m);
  });
});
