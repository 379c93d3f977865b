import { pino, type Logger } from 'pino';

/** A JSON log line as pino writes it. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

/** A pino logger whose lines are kept in memory for assertions (and echoed when LOG=1). */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as LogLine);
        if (process.env.LOG === '1') process.stderr.write(s);
      },
    },
  );
  return { logger, lines };
}
