/** What every command of the CLI reads and writes through (so tests drive it in-process). */
import type { ProgressSink } from './progress.js';

/** What the CLI reads and writes; `main.ts` passes the process's, tests their own. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: ProgressSink;
  /** Environment (`NATS_URL`, `DATABASE_URL`, `CLICKHOUSE_URL` and `CLICKHOUSE_USER`/`_PASSWORD`/`_DATABASE`, `LIVE_STACK_FILE`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C: a replay stops and cleans up, `events --follow` ends. */
  readonly signal?: AbortSignal;
}
