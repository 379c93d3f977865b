/**
 * How test.mjs counts a Vitest run (infra/dev/bin/test-report.mjs), on hand-made JSON reports
 * shaped like the ones Vitest 3 writes (test-report.int.test.ts checks a real one).
 */
import { describe, expect, it } from 'vitest';
import { interpretVitestRun } from '../bin/test-report.mjs';

type Status = 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
const file = (name: string, status: 'passed' | 'failed', tests: Status[], message = '') => ({
  name, status, message,
  assertionResults: tests.map((s, i) => ({ title: `t${i}`, fullName: `t${i}`, status: s, failureMessages: s === 'failed' ? ['boom'] : [] })),
});
function report(files: ReturnType<typeof file>[], over: Record<string, unknown> = {}) {
  const tests = files.flatMap((f) => f.assertionResults);
  return {
    numTotalTestSuites: files.length, numPassedTestSuites: files.filter((f) => f.status === 'passed').length,
    numFailedTestSuites: files.filter((f) => f.status === 'failed').length, numPendingTestSuites: 0,
    numTotalTests: tests.length, numPassedTests: tests.filter((t) => t.status === 'passed').length,
    numFailedTests: tests.filter((t) => t.status === 'failed').length,
    numPendingTests: tests.filter((t) => t.status === 'skipped' || t.status === 'pending').length, numTodoTests: 0,
    success: files.every((f) => f.status === 'passed'), testResults: files, ...over,
  };
}

describe('interpretVitestRun', () => {
  it('counts a normal run: passed, failed and skipped tests as Vitest reports them', () => {
    const r = report([file('/a.unit.test.ts', 'passed', ['passed', 'passed', 'skipped']), file('/b.unit.test.ts', 'passed', ['passed', 'todo'])]);
    expect(interpretVitestRun(r, { exitCode: 0 })).toEqual({ passed: 3, failed: 0, skipped: 2, problems: [] });
  });

  it('counts a failed test as failed and the other tests of its file as they went', () => {
    const r = report([file('/a.unit.test.ts', 'failed', ['passed', 'failed', 'skipped'])]);
    const c = interpretVitestRun(r, { exitCode: 1 });
    expect([c.passed, c.failed, c.skipped]).toEqual([1, 2, 0]);
  });

  it('counts the tests of a file whose beforeAll failed as failed, not skipped', () => {
    // What Vitest writes: the file failed with the hook's error, its tests "skipped", numFailedTests 0.
    const r = report([file('/a.int.test.ts', 'failed', ['skipped', 'skipped', 'skipped'], 'boom in beforeAll'), file('/b.int.test.ts', 'passed', ['passed'])]);
    expect(r.numFailedTests).toBe(0);
    const c = interpretVitestRun(r, { exitCode: 1 });
    expect([c.passed, c.failed, c.skipped]).toEqual([1, 3, 0]);
    expect(c.problems.join('\n')).toMatch(/a\.int\.test\.ts: 3 test\(s\) did not run: boom in beforeAll/);
  });

  it('counts a file whose afterAll failed as one failure although its tests passed', () => {
    const r = report([file('/a.int.test.ts', 'failed', ['passed', 'passed'], 'boom in afterAll')]);
    const c = interpretVitestRun(r, { exitCode: 1 });
    expect([c.passed, c.failed, c.skipped]).toEqual([2, 1, 0]);
    expect(c.problems.join('\n')).toMatch(/its tests passed: boom in afterAll/);
  });

  it('counts a file that failed to load as one failure', () => {
    const r = report([file('/a.unit.test.ts', 'failed', [], 'SyntaxError: Unexpected token'), file('/b.unit.test.ts', 'passed', ['passed'])]);
    expect(interpretVitestRun(r, { exitCode: 1 })).toMatchObject({ passed: 1, failed: 1, skipped: 0 });
  });

  it('counts an unhandled error (a clean report, vitest exited 1) as a failure', () => {
    const r = report([file('/a.unit.test.ts', 'passed', ['passed', 'passed'])]);
    expect(r.success).toBe(true);
    const c = interpretVitestRun(r, { exitCode: 1 });
    expect([c.passed, c.failed, c.skipped]).toEqual([2, 1, 0]);
    expect(c.problems.join('\n')).toMatch(/unhandled error/);
    expect(interpretVitestRun(r, { exitCode: null }).failed).toBe(1); // killed by a signal
  });

  it('fails a tier that ran no test, and a run that wrote no report', () => {
    const empty = report([]);
    const c = interpretVitestRun(empty, { exitCode: 0 });
    expect(c.failed).toBe(1);
    expect(c.problems).toContain('no test ran');
    expect(interpretVitestRun(report([file('/a.unit.test.ts', 'passed', ['skipped'])]), { exitCode: 0 })).toMatchObject({ failed: 0, skipped: 1 });
    expect(interpretVitestRun(null, { exitCode: 1 })).toMatchObject({ passed: 0, failed: 1 });
  });

  it('does not trust the per-test counts when a suite failed without a failed file', () => {
    const r = report([file('/a.unit.test.ts', 'passed', ['passed'])], { numFailedTestSuites: 1, success: false });
    expect(interpretVitestRun(r, { exitCode: 1 }).failed).toBe(1);
  });
});
