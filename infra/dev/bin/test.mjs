#!/usr/bin/env node
// The project's test command (`npm test` runs it after ensure.sh). Runs, in order:
// typecheck (turbo), lint (eslint), then the Vitest tiers by file name:
//   unit  *.unit.test.ts   pure code, in parallel
//   int   *.int.test.ts    against real servers the tests start (one file at a time: 2 cores)
//   e2e   *.e2e.test.ts    whole flows: the embedded stack, a real ffmpeg publisher, Chromium
//   chaos *.chaos.test.ts  only when asked (`npm run test:chaos`): SIGKILLs in the cluster profile
// and ends with one plain summary line, `tests: N passed, N failed, N skipped`.
// The counts come from each tier's JSON report and vitest's exit code, read by test-report.mjs:
// a file whose beforeAll/afterAll failed counts its tests that did not pass as failed, an
// unhandled error (only in the exit code) counts as a failure, and a tier that ran no test fails.
// Nothing is retried.
// Usage: node infra/dev/bin/test.mjs [typecheck|lint|unit|int|e2e|chaos ...]   (default: all but chaos)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interpretVitestRun } from './test-report.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const all = ['typecheck', 'lint', 'unit', 'int', 'e2e'];
// Not in the default run: the cluster chaos test needs a machine that keeps real time with the
// whole cluster, a 1080p ladder and Chromium at once (`npm run test:chaos`; docs/architecture.md).
const onDemand = ['chaos'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const w of wanted) if (![...all, ...onDemand].includes(w)) { console.error(`unknown step ${w}; one of ${[...all, ...onDemand].join(', ')}`); process.exit(2); }

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
  return r.status;
}

const vitestTiers = {
  unit: { filter: '.unit.test.', extra: [] },
  int: { filter: '.int.test.', extra: ['--fileParallelism=false'] },
  e2e: { filter: '.e2e.test.', extra: ['--fileParallelism=false'] },
  chaos: { filter: '.chaos.test.', extra: ['--fileParallelism=false'] },
};

for (const step of wanted) {
  if (step === 'typecheck') run(step, 'pnpm', ['turbo', 'run', 'typecheck', '--concurrency=2', '--output-logs=errors-only']);
  else if (step === 'lint') run(step, 'pnpm', ['exec', 'eslint', '.']);
  else {
    const tier = vitestTiers[step];
    const out = join(resultsDir, `${step}.json`);
    const exitCode = run(step, 'pnpm', ['exec', 'vitest', 'run', tier.filter, ...tier.extra,
      '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]);
    let report = null;
    try { if (existsSync(out)) report = JSON.parse(readFileSync(out, 'utf8')); } catch (e) { console.log(`=== ${step}: unreadable JSON report ${out}: ${e.message}`); }
    const counts = interpretVitestRun(report, { exitCode });
    for (const p of counts.problems) console.log(`=== ${step}: ${p}`);
    totals.passed += counts.passed;
    totals.failed += counts.failed;
    totals.skipped += counts.skipped;
    if (counts.failed > 0 && !failedSteps.includes(step)) failedSteps.push(step);
  }
}

if (failedSteps.length) console.log(`\nfailed steps: ${failedSteps.join(', ')}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length || totals.failed ? 1 : 0);
