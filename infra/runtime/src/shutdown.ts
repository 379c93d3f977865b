/**
 * Graceful shutdown, the same for every app (docs/architecture.md, "Embedded default and
 * production mode"): on SIGTERM (systemd, Kubernetes) or SIGINT (Ctrl-C) the app's steps run
 * once, in order (stop accepting, drain, close clients), each bounded by a deadline; then the
 * process exits 0, or 1 when a step failed or ran out of time. A second signal exits at once
 * (130). An unhandled rejection or uncaught exception is logged as one fatal line and stops
 * the process through the same steps with exit status 1, instead of a bare stack trace.
 */

/** The two logger levels the helper uses (pino-compatible). */
export interface ShutdownLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
}

/** One step of a shutdown: a name for the log and what to await. */
export interface ShutdownStep {
  readonly name: string;
  run(): Promise<unknown> | unknown;
}

/** Options of {@link handleShutdown}. */
export interface ShutdownOptions {
  /** Longest wait for one step, ms; default 15 000 (a draining worker sets more). */
  readonly stepTimeoutMs?: number;
  /** Exit when the steps are done; default true (tests pass false and read the returned promise). */
  readonly exit?: boolean;
  /** Signals to handle; default SIGINT and SIGTERM. */
  readonly signals?: readonly NodeJS.Signals[];
}

/** The installed handler. */
export interface ShutdownHandle {
  /** Runs the steps now (as a signal would); resolves with the exit status. Idempotent. */
  shutdown(reason: string): Promise<number>;
}

/**
 * Installs the signal and fatal-error handlers of a process and returns a handle whose
 * `shutdown` runs `steps` once. Steps may be added after installation through the array
 * returned by a getter, so pass a function when later resources are opened after the handler
 * (e.g. `() => [server, db]`).
 */
export function handleShutdown(logger: ShutdownLogger, steps: readonly ShutdownStep[] | (() => readonly ShutdownStep[]), opts: ShutdownOptions = {}): ShutdownHandle {
  const stepTimeoutMs = opts.stepTimeoutMs ?? 15_000;
  let running: Promise<number> | undefined;
  const shutdown = (reason: string, failed = false): Promise<number> => {
    running ??= (async () => {
      logger.info({ reason }, 'stopping');
      let status = failed ? 1 : 0;
      for (const step of typeof steps === 'function' ? steps() : steps) {
        const outcome = await runStep(step, stepTimeoutMs);
        if (outcome !== 'ok') {
          status = 1;
          logger.error({ step: step.name, problem: outcome }, 'shutdown step failed');
        }
      }
      logger.info({ status }, 'stopped');
      if (opts.exit ?? true) process.exit(status);
      return status;
    })();
    return running;
  };
  for (const signal of opts.signals ?? ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (running) process.exit(130);
      void shutdown(signal);
    });
  }
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err: describe(err) }, 'unhandled rejection');
    void shutdown('unhandledRejection', true);
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: describe(err) }, 'uncaught exception');
    void shutdown('uncaughtException', true);
  });
  return { shutdown: (reason) => shutdown(reason) };
}

async function runStep(step: ShutdownStep, timeoutMs: number): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`did not finish within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve(step.run()).then(() => 'ok' as const), timeout]);
  } catch (err) {
    return describe(err).message;
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): { message: string; stack?: string } {
  return err instanceof Error ? { message: err.message, ...(err.stack ? { stack: err.stack } : {}) } : { message: String(err) };
}
