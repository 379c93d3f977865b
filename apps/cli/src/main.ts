/**
 * Entry point of the operator CLI (`pnpm cli <command>` from the repository root, or
 * `tsx apps/cli/src/main.ts`). Commands and options: `pnpm cli --help`.
 * Env: NATS_URL, DATABASE_URL, CLICKHOUSE_URL (else the embedded stack's .run/stack.json).
 */
import { runCli } from './program.js';

const aborter = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupts++;
    // First Ctrl-C: stop cleanly (a replay drops its fresh tables). Second: stop now.
    if (interrupts > 1) process.exit(130);
    aborter.abort(new Error(`interrupted (${signal})`));
  });
}
// `pnpm cli events x | head`: a closed pipe ends the output, it is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: aborter.signal,
});
// Exit explicitly: a client library's timer must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
