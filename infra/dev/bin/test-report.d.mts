// Types of test-report.mjs, for the TypeScript tests that import it.
export interface VitestRunCounts {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** One line per reason the run failed beyond its failed tests (a hook, an unhandled error, no test). */
  readonly problems: string[];
}
export function interpretVitestRun(report: unknown, run: { exitCode: number | null }): VitestRunCounts;
