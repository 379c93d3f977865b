/**
 * test-report.mjs on real Vitest runs: test files written to a temp dir (removed afterwards) are
 * run by this repository's vitest with the JSON reporter, as test.mjs runs a tier, and the report
 * and exit code are read by interpretVitestRun.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpretVitestRun } from '../bin/test-report.mjs';
import { REPO_ROOT } from '../src/stack.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'test-report-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Runs vitest on `files` (name → source) in a fresh folder of `dir`; resolves its report and exit code. */
async function runVitest(name: string, files: Record<string, string>): Promise<{ report: unknown; exitCode: number | null; output: string }> {
  const root = join(dir, name);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  for (const [file, source] of Object.entries(files)) await writeFile(join(root, file), source);
  const out = join(root, 'report.json');
  // The child must not think it is a worker of this run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'));
  const child = spawn(process.execPath, [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', root, '--reporter=json', `--outputFile.json=${out}`],
    { cwd: REPO_ROOT, env: { ...env, FORCE_COLOR: '0', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => { output += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { output += b.toString(); });
  const exitCode = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', (code) => resolve(code)); });
  const report = await readFile(out, 'utf8').then((s) => JSON.parse(s) as unknown, () => null);
  return { report, exitCode, output };
}

describe('test-report.mjs on real Vitest runs', () => {
  it('counts the tests of a file whose beforeAll failed as failed', async () => {
    const r = await runVitest('before-all', {
      'hook.unit.test.ts': "import { beforeAll, it, expect } from 'vitest';\nbeforeAll(() => { throw new Error('boom in beforeAll'); });\nit('a', () => { expect(1).toBe(1); });\nit('b', () => { expect(1).toBe(1); });\n",
      'fine.unit.test.ts': "import { it, expect } from 'vitest';\nit('c', () => { expect(1).toBe(1); });\n",
    });
    expect(r.exitCode, r.output).toBe(1);
    const c = interpretVitestRun(r.report, { exitCode: r.exitCode });
    expect([c.passed, c.failed, c.skipped], r.output).toEqual([1, 2, 0]);
    expect(c.problems.join('\n')).toMatch(/hook\.unit\.test\.ts: 2 test\(s\) did not run: boom in beforeAll/);
  }, 120_000);

  it('counts a failed afterAll and an unhandled rejection as failures', async () => {
    const after = await runVitest('after-all', {
      'hook.unit.test.ts': "import { afterAll, it, expect } from 'vitest';\nafterAll(() => { throw new Error('boom in afterAll'); });\nit('a', () => { expect(1).toBe(1); });\n",
    });
    expect(interpretVitestRun(after.report, { exitCode: after.exitCode }), after.output).toMatchObject({ passed: 1, failed: 1, skipped: 0 });

    const unhandled = await runVitest('unhandled', {
      'late.unit.test.ts': "import { it, expect } from 'vitest';\nit('a', () => { void Promise.reject(new Error('nobody waits for me')); expect(1).toBe(1); });\n",
    });
    expect(unhandled.exitCode, unhandled.output).toBe(1);
    expect((unhandled.report as { success: boolean }).success).toBe(true); // the report alone would say all is well
    expect(interpretVitestRun(unhandled.report, { exitCode: unhandled.exitCode }), unhandled.output).toMatchObject({ passed: 1, failed: 1 });
  }, 120_000);
});
