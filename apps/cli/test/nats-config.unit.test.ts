/** The CLI's NATS credentials (environment, else the embedded stack's `cli` user) and `pnpm cli nats-config`. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { natsAuthFor } from '../src/config.js';
import { natsConfigCredentials } from '../src/nats-command.js';
import { runCli } from '../src/program.js';

function collector() {
  let text = '';
  return { write: (s: string) => { text += s; return true; }, text: () => text };
}

describe('natsAuthFor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-nats-'));
  const file = join(dir, 'stack.json');
  writeFileSync(file, JSON.stringify({ natsUrl: 'nats://127.0.0.1:4333', natsCredentials: { cli: { user: 'cli', password: 'from-stack' }, api: { user: 'api', password: 'x' } } }));

  it('prefers the environment, else takes the stack\'s cli user when the URL is the stack\'s', () => {
    expect(natsAuthFor({ NATS_USER: 'ops', NATS_PASSWORD: 'pw' }, file)).toEqual({ user: 'ops', pass: 'pw' });
    expect(natsAuthFor({ NATS_TOKEN: 't' }, file)).toEqual({ token: 't' });
    expect(natsAuthFor({}, file)).toEqual({ user: 'cli', pass: 'from-stack' });
    expect(natsAuthFor({ NATS_URL: 'nats://127.0.0.1:4333' }, file)).toEqual({ user: 'cli', pass: 'from-stack' });
    expect(natsAuthFor({ NATS_URL: 'nats://elsewhere:4222' }, file)).toBeUndefined();
    expect(natsAuthFor({ LIVE_STACK_FILE: join(dir, 'missing.json') })).toBeUndefined();
    expect(() => natsAuthFor({ NATS_USER: 'ops' }, file)).toThrow(/NATS_PASSWORD/);
  });
});

describe('nats-config', () => {
  it('takes passwords from options, then NATS_PASSWORD_<SERVICE>, else generates them', () => {
    const { credentials, generated } = natsConfigCredentials(['api', 'chat', 'worker'], { api: 'api-prod' }, { api: 'p-api' }, { NATS_PASSWORD_CHAT: 'p-chat' });
    expect(credentials.api).toEqual({ user: 'api-prod', password: 'p-api' });
    expect(credentials.chat).toEqual({ user: 'chat', password: 'p-chat' });
    expect(generated).toEqual(['worker']);
    expect(credentials.worker!.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('prints the authorization block on stdout (bcrypt hashes) and the generated credentials on stderr', async () => {
    const out = collector();
    const err = collector();
    const code = await runCli(['nats-config', '--service', 'ingest', 'api', '--password', 'api=secret-api', '--bcrypt-cost', '4'], { stdout: out, stderr: err, env: {} });
    expect(code).toBe(0);
    expect(out.text()).toMatch(/authorization \{\n {2}users = \[/);
    expect(out.text()).not.toContain('secret-api');
    expect(out.text()).not.toContain('no_auth_user');
    expect(out.text()).toContain('"evt.stream.*"');
    const hashes = [...out.text().matchAll(/password: "([^"]+)"/g)].map((m) => m[1]!);
    expect(hashes).toHaveLength(2);
    // bcrypt at cost 4 (hash verification: infra/messaging/test/permissions.unit.test.ts).
    for (const h of hashes) expect(h).toMatch(/^\$2[ab]\$04\$[./A-Za-z0-9]{53}$/);
    const generated = /NATS_USER=ingest\nNATS_PASSWORD=(\S+)\n/.exec(err.text())?.[1];
    expect(generated).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(out.text()).not.toContain(generated);
    expect(err.text()).not.toContain('secret-api');
  });

  it('prints the permissions as JSON for decentralized authentication, and refuses a bad service', async () => {
    const out = collector();
    expect(await runCli(['nats-config', '--json', '--service', 'worker'], { stdout: out, stderr: collector(), env: {} })).toBe(0);
    const j = JSON.parse(out.text()) as { users: Array<{ service: string; inboxPrefix: string; permissions: { subscribe: { allow: string[] } } }> };
    expect(j.users.map((u) => u.service)).toEqual(['worker']);
    expect(j.users[0]!.permissions.subscribe.allow).toEqual(['_INBOX_worker.>']);
    const err = collector();
    expect(await runCli(['nats-config', '--password', 'nosuch=x'], { stdout: collector(), stderr: err, env: {} })).toBe(2);
    expect(err.text()).toMatch(/<service>=<value>/);
  });
});
