#!/usr/bin/env node
// The project's test command (`npm test` runs it after ensure.sh). Runs, in order:
// typecheck (turbo), lint (eslint), then the Vitest tiers by file name:
//   unit  *.unit.test.ts   pure code, in parallel
//   int   *.int.test.ts    against real servers the tests start (one file at a time: 2 cores)
//   e2e   *.e2e.test.ts    whole flows: the embedded stack, a real ffmpeg publisher, Chromium
// and ends with one plain summary line, `tests: N passed, N failed, N skipped`.
// Usage: node infra/dev/bin/test.mjs [typecheck|lint|unit|int|e2e ...]   (default: all)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const all = ['typecheck', 'lint', 'unit', 'int', 'e2e'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const w of wanted) if (!all.includes(w)) { console.error(`unknown step ${w}; one of ${all.join(', ')}`); process.exit(2); }

const resultsDir = join(root, '.vitest-results');
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedSteps = [];

function run(step, cmd, args) {
  const t0 = Date.now();
  console.log(`\n=== ${step}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } });
  const ok = r.status === 0;
  console.log(`=== ${step}: ${ok ? 'ok' : `FAILED (exit ${r.status ?? r.signal})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (!ok) failedSteps.push(step);
  return ok;
}

const vitestTiers = {
  unit: { filter: '.unit.test.', extra: [] },
  int: { filter: '.int.test.', extra: ['--fileParallelism=false'] },
  e2e: { filter: '.e2e.test.', extra: ['--fileParallelism=false'] },
};

for (const step of wanted) {
  if (step === 'typecheck') run(step, 'pnpm', ['turbo', 'run', 'typecheck', '--concurrency=2', '--output-logs=errors-only']);
  else if (step === 'lint') run(step, 'pnpm', ['exec', 'eslint', '.']);
  else {
    const tier = vitestTiers[step];
    const out = join(resultsDir, `${step}.json`);
    run(step, 'pnpm', ['exec', 'vitest', 'run', tier.filter, ...tier.extra, '--passWithNoTests',
      '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]);
    if (existsSync(out)) {
      const j = JSON.parse(readFileSync(out, 'utf8'));
      totals.passed += j.numPassedTests ?? 0;
      totals.failed += j.numFailedTests ?? 0;
      totals.skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
      // A test file that failed to load counts as a failure even though it ran no test.
      const broken = (j.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
      totals.failed += broken;
    } else {
      totals.failed += 1;
    }
  }
}

if (failedSteps.length) console.log(`\nfailed steps: ${failedSteps.join(', ')}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length || totals.failed ? 1 : 0);
