/**
 * The operator CLI's commands (commander): `replay <projection>` and `events <streamId>`, with
 * `--help` on the program and on each command, exit codes 0 (ok), 1 (failure), 2 (usage), and
 * errors as one line on stderr (the stack only with `--verbose`).
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { createDb, type Db } from '@live/db';
import { connectMessaging, type Messaging } from '@live/messaging';
import { endpointUrl, natsAuthFor, withAsyncCommit } from './config.js';
import { registerNatsCommands } from './nats-command.js';
import { parseLogPosition, type LogPosition } from './log.js';
import { replayReadModels } from './replay-readmodels.js';
import { replayAnalytics } from './replay-analytics.js';
import { printEvents } from './events-command.js';
import { formatReplaySummary, type ReplayReport } from './report.js';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Thrown for a bad argument found after parsing (exit code 2, like commander's own usage errors). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

import type { CliIo } from './io.js';

export type { CliIo };

const ENV_HELP = `
Environment:
  NATS_URL        NATS server(s) holding the JetStream log, e.g. nats://127.0.0.1:4222
                  (comma-separated for a cluster)
  NATS_USER, NATS_PASSWORD  the CLI's NATS user (or NATS_TOKEN, or NATS_CREDS: a .creds
                  file); default: the embedded stack's cli user from .run/stack.json
  DATABASE_URL    PostgreSQL of the read models, e.g. postgres://user:pass@host:5432/live
                  (replay readmodels; replay analytics takes its lock there)
  CLICKHOUSE_URL  ClickHouse HTTP endpoint, e.g. http://user:pass@clickhouse:8123/default
                  (replay analytics; in the embedded stack the projector serves it);
                  CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE optional
  LIVE_STACK_FILE where to read unset URLs from instead (default: the embedded stack's
                  .run/stack.json written by \`npm start\`)

Exit codes: 0 ok, 1 failure, 2 usage error.`;

const REPLAY_HELP = `
How a replay works:
  readmodels  Creates schema replay_<time> with empty copies of every read-model table,
              applies every EVENTS message from the start of the log with the projector's own
              code (an ordered consumer, pulls of 16 MiB), catches up with the end of the
              log, then in ONE transaction locks the live tables, applies what the live
              projector did meanwhile, moves the live tables aside and the rebuilt ones into
              public (same index, constraint and foreign-key names, privileges, owner), and
              drops the old ones. The live projector continues from the rebuilt offset. A
              PostgreSQL advisory lock keeps two replays from running at once.
  analytics   Builds <table>_replay for every analytics table from EVENTS, TELEMETRY and CHAT
              in batches, then EXCHANGE TABLES each pair and drops the old ones. Tables fed
              by streams with bounded retention (TELEMETRY 7 days, CHAT 24 h) start as a copy
              of the live table so that history older than the stream is kept; rows are
              keyed by event id, so what is replayed over the copy is stored once.

  --from rebuilds from a point instead of from the start: the replay starts from a COPY of
  the current tables (not from empty ones), sets the copy's offset to just before that point
  and re-applies every event from it (handlers are idempotent per row), then swaps as above.
  Use it to repair what a projection bug wrote since a known time; use a full replay when in
  doubt. A sequence later than the projection's offset is lowered to it (no event is ever
  skipped). For analytics, a time applies to all three streams; a sequence is an EVENTS
  sequence, and TELEMETRY and CHAT start at that event's storage time.

Examples:
  pnpm cli replay readmodels
  pnpm cli replay readmodels --from 2025-06-01T12:00:00Z
  pnpm cli replay analytics --dry-run
  NATS_URL=nats://nats:4222 DATABASE_URL=postgres://… pnpm cli replay readmodels --from 120000`;

const EVENTS_HELP = `
Output: one line per event, oldest first: the time it occurred (UTC), #<EVENTS sequence>,
the aggregate (stream or channel), the type and its data fields (password and stream-key
hashes are redacted). With --json, one JSON object per line:
{ "seq", "storedAt", "id", "type", "version", "occurredAt", "subject", "data", "meta" }
(an undecodable message: { "seq", "storedAt", "subject", "error" }).

Examples:
  pnpm cli events demo
  pnpm cli events alice_1 --json --from 2025-06-01
  pnpm cli events alice_1 --follow`;

function fromOption(): Option {
  return new Option('--from <sequence|time>', 'start at this EVENTS sequence or ISO-8601 time (UTC when no zone)')
    .argParser((v: string): LogPosition => {
      try {
        return parseLogPosition(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
}

/** Connections a command opened, closed when it ends. */
class Resources {
  private readonly closers: Array<() => Promise<unknown>> = [];
  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }
  async closeAll(): Promise<void> {
    for (const c of this.closers.reverse()) await c().catch(() => undefined);
  }
}

/**
 * Builds the commander program writing to `io`. Command actions throw on failure; {@link runCli}
 * turns that into an exit code.
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command('pnpm cli')
    .description('Operator tools of the live platform: rebuild projections from the JetStream event log, print a stream\'s event history.')
    .option('--verbose', 'log at debug level and print stack traces of errors')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('after', ENV_HELP);

  const verbose = (): boolean => program.opts<{ verbose?: boolean }>().verbose === true;
  const logger = (): pino.Logger => pino({ level: verbose() ? 'debug' : 'warn' }, pino.destination({ dest: 2, sync: true }));

  program.command('replay')
    .description('rebuild a projection from the JetStream log into fresh tables and swap them in atomically')
    .addArgument(new Argument('<projection>', 'readmodels (PostgreSQL read models) or analytics (ClickHouse tables)').choices(['readmodels', 'analytics']))
    .addOption(fromOption())
    .option('--dry-run', 'build and count the fresh tables, then drop them; the live tables are not touched')
    .option('--json', 'print the summary as one JSON object instead of tables')
    .option('--quiet', 'no progress bar')
    .addHelpText('after', `${REPLAY_HELP}\n${ENV_HELP}`)
    .action(async (projection: 'readmodels' | 'analytics', o: { from?: LogPosition; dryRun?: boolean; json?: boolean; quiet?: boolean }) => {
      const res = new Resources();
      try {
        const messaging = await connect(io, res);
        const progress = o.quiet ? null : io.stderr;
        let report: ReplayReport;
        if (projection === 'readmodels') {
          const url = endpointUrl('database', io.env);
          const db = createDb(url, 4);
          res.add(() => db.destroy());
          const replayDb: Db = createDb(withAsyncCommit(url), 2);
          res.add(() => replayDb.destroy());
          report = await replayReadModels({ db, replayDb, messaging, from: o.from ?? null, dryRun: o.dryRun === true, progress, ...(io.signal ? { signal: io.signal } : {}) });
        } else {
          const { createAnalyticsClient } = await import('@live/analytics');
          const clickhouse = createAnalyticsClient({
            url: endpointUrl('clickhouse', io.env),
            ...(io.env.CLICKHOUSE_USER ? { username: io.env.CLICKHOUSE_USER } : {}),
            ...(io.env.CLICKHOUSE_PASSWORD ? { password: io.env.CLICKHOUSE_PASSWORD } : {}),
            ...(io.env.CLICKHOUSE_DATABASE ? { database: io.env.CLICKHOUSE_DATABASE } : {}),
          });
          res.add(() => clickhouse.close());
          let db: Db | null = null;
          try {
            db = createDb(endpointUrl('database', io.env), 2);
            res.add(() => db!.destroy());
          } catch {
            io.stderr.write('warning: DATABASE_URL is not set: nothing keeps a second analytics replay from running at the same time\n');
          }
          report = await replayAnalytics({ clickhouse, lockDb: db, messaging, from: o.from ?? null, dryRun: o.dryRun === true, progress, ...(io.signal ? { signal: io.signal } : {}) });
        }
        io.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatReplaySummary(report));
      } finally {
        await res.closeAll();
      }
    });

  program.command('events')
    .description('print a stream\'s (channel\'s) event history from evt.stream.<id> and evt.channel.<id>, in log order')
    .argument('<streamId>', 'the channel id, e.g. demo')
    .option('--json', 'one JSON object per line instead of text')
    .addOption(fromOption())
    .option('--follow', 'keep printing events as they are appended (Ctrl-C to stop)')
    .addHelpText('after', `${EVENTS_HELP}\n${ENV_HELP}`)
    .action(async (streamId: string, o: { json?: boolean; from?: LogPosition; follow?: boolean }) => {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(streamId)) throw new UsageError(`invalid stream id ${JSON.stringify(streamId)}: letters, digits, _ and - only`);
      const res = new Resources();
      try {
        const messaging = await connect(io, res);
        const n = await printEvents({
          messaging, streamId, from: o.from ?? null, json: o.json === true, follow: o.follow === true, logger: logger(),
          write: (line) => io.stdout.write(line),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        if (n === 0 && !o.follow) io.stderr.write(`no events on evt.stream.${streamId} or evt.channel.${streamId}${o.from ? ' from that point' : ''}\n`);
      } finally {
        await res.closeAll();
      }
    });

  registerNatsCommands(program, io);
  return program;
}

async function connect(io: CliIo, res: Resources): Promise<Messaging> {
  const url = endpointUrl('nats', io.env);
  const messaging = await connectMessaging(url, 'cli', natsAuthFor(io.env)).catch((err: unknown) => {
    throw new Error(`cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err });
  });
  res.add(() => messaging.close());
  return messaging;
}

/**
 * Runs the CLI with `argv` (the arguments after the program, e.g. `['replay', 'readmodels']`).
 * @returns the exit code: 0 ok (including `--help`), 1 failure (the error printed as one line
 *   `error: …` on stderr, its stack too with `--verbose`), 2 usage error (commander's message
 *   and a hint to use --help).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n(add --help for usage)\n`);
      return EXIT.usage;
    }
    io.stderr.write(`error: ${oneLine(err)}\n`);
    if (verbose && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return EXIT.failure;
  }
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message || err.name : String(err);
  const code = (err as { code?: unknown })?.code;
  const text = msg.replace(/\s+/g, ' ').trim();
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !text.includes(code) ? `${text} (PostgreSQL ${code})` : text;
}
