// Interprets one Vitest run for test.mjs: the JSON report (`--reporter=json`) and vitest's own
// exit code. Pure: no I/O, so infra/dev/test/test-report.unit.test.ts checks it with hand-made
// reports. What Vitest 3 writes, and what it leaves out:
//   - a failed beforeAll/afterAll (or a file that fails to load) marks the file
//     (`testResults[].status` 'failed', `message` the error) and its suite
//     (`numFailedTestSuites`), but not its tests: after a failed beforeAll they are reported as
//     skipped (`numPendingTests`), after a failed afterAll as passed (`numFailedTests` 0);
//   - a failed beforeEach/afterEach fails the test it ran around (`numFailedTests`);
//   - an unhandled error or rejection is not in the report at all (`success` stays true, every
//     count looks fine): only vitest's exit code (1) says so.
// So: in a failed file every test that did not pass counts as failed; a failed file none of whose
// tests failed counts as one failure itself; a non-zero exit with no failure in the report counts
// as one failure; a run with no test, or without a report, counts as one failure.

/**
 * @param {any} report the parsed JSON report, or null when vitest wrote none
 * @param {{ exitCode: number | null }} run vitest's exit status (null: killed by a signal)
 * @returns {{ passed: number, failed: number, skipped: number, problems: string[] }}
 */
export function interpretVitestRun(report, { exitCode }) {
  const problems = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (report === null || typeof report !== 'object') {
    problems.push(`vitest wrote no JSON report (exit ${exitCode ?? 'by signal'})`);
    return { passed, failed: 1, skipped, problems };
  }
  const files = Array.isArray(report.testResults) ? report.testResults : [];
  let total = 0;
  for (const file of files) {
    const tests = Array.isArray(file.assertionResults) ? file.assertionResults : [];
    total += tests.length;
    const filePassed = tests.filter((t) => t.status === 'passed').length;
    const fileFailedTests = tests.filter((t) => t.status === 'failed').length;
    const notPassed = tests.length - filePassed;
    passed += filePassed;
    if (file.status === 'failed') {
      // A hook of the file failed (or it did not load): whatever did not pass failed.
      const why = typeof file.message === 'string' && file.message !== '' ? file.message.split('\n')[0] : 'a test failed';
      if (notPassed > 0) {
        failed += notPassed;
        if (notPassed > fileFailedTests) problems.push(`${file.name}: ${notPassed - fileFailedTests} test(s) did not run: ${why}`);
      } else {
        failed += 1;
        problems.push(`${file.name}: failed although ${tests.length === 0 ? 'it ran no test' : 'its tests passed'}: ${why}`);
      }
    } else {
      failed += fileFailedTests;
      skipped += notPassed - fileFailedTests;
    }
  }
  if (total === 0 && Number(report.numTotalTests ?? 0) === 0) {
    if (failed === 0) failed += 1;
    problems.push('no test ran');
  }
  const failedSuites = Number(report.numFailedTestSuites ?? 0);
  if (failed === 0 && failedSuites > 0) {
    failed += 1;
    problems.push(`${failedSuites} test suite(s) failed but no failed file is in the report`);
  }
  if (failed === 0 && report.success === false) {
    failed += 1;
    problems.push('the report says the run did not succeed, but names no failure');
  }
  if (failed === 0 && exitCode !== 0) {
    failed += 1;
    problems.push(`vitest exited ${exitCode ?? 'by signal'} although every test in its report passed: an unhandled error or rejection (see its output above)`);
  }
  return { passed, failed, skipped, problems };
}
