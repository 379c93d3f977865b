/**
 * The Temporal development server (`temporal server start-dev`, Temporal CLI v1.5.1) with a
 * SQLite file for the embedded local stack. Flags: `temporal server start-dev --help`.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { resolveBinary } from './binaries.js';
import { LOOPBACK, sleep, waitForPort } from './ports.js';
import { ManagedProcess } from './process.js';

/** Options for {@link startTemporalDevServer}. */
export interface StartTemporalOptions {
  /** SQLite file (`--db-filename`); its directory must exist. */
  dbFile: string;
  /** Frontend gRPC port (`--port`). */
  port: number;
  /** Web UI port (`--ui-port`); null runs `--headless` (no UI). */
  uiPort: number | null;
  logger: Logger;
  /** Pid file for stale-server reaping, see `reapStaleServers`. */
  pidFile?: string;
  /** Give up waiting for readiness after this many milliseconds (default 90000). */
  timeoutMs?: number;
}

/** A running Temporal dev server. */
export interface TemporalServerHandle {
  /** Frontend gRPC address, `127.0.0.1:<port>` (what `@temporalio/client` `Connection.connect({ address })` takes). */
  address: string;
  /** Web UI URL, `http://127.0.0.1:<uiPort>`, or null when headless. */
  uiUrl: string | null;
  process: ManagedProcess;
}

/**
 * The environment for `temporal` child processes: ours without `TEMPORAL_*` variables, which the
 * CLI reads as client configuration (address, namespace, TLS, API key) and which may point at a
 * production cluster.
 */
function temporalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TEMPORAL_')) env[key] = value;
  }
  return env;
}

/**
 * Runs `temporal operator namespace describe --namespace <namespace> --address <address>`.
 *
 * @param command path of the Temporal CLI (default: {@link resolveBinary}('temporal')).
 * @returns `{ ok: true }` when it exits 0, else `{ ok: false, output }` with what it printed.
 */
export function describeNamespace(address: string, namespace = 'default', command = resolveBinary('temporal')): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['operator', 'namespace', 'describe', '--namespace', namespace, '--address', address, '--command-timeout', '3s', '--color', 'never'],
      { env: temporalEnv(), timeout: 5_000 },
      (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() }),
    );
  });
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 (log level warn, namespace `default`) and waits
 * until the frontend accepts TCP connections and `temporal operator namespace describe default`
 * succeeds against it (the server answers RPCs, not just accepts sockets), and the UI port accepts
 * when there is a UI. Startup takes ~0.5 s warm, 5-10 s on a cold 2-core machine.
 *
 * @throws Error (message starts with `temporal`) when the CLI is missing, the process exits during
 *   startup (with its last output lines), or it is not ready within `timeoutMs`; the process is
 *   stopped before the error is thrown.
 */
export async function startTemporalDevServer(opts: StartTemporalOptions): Promise<TemporalServerHandle> {
  const command = resolveBinary('temporal');
  const address = `${LOOPBACK}:${opts.port}`;
  const args = [
    'server', 'start-dev',
    '--ip', LOOPBACK,
    '--port', String(opts.port),
    ...(opts.uiPort === null ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    '--db-filename', opts.dbFile,
    '--log-level', 'warn',
    '--namespace', 'default',
    '--color', 'never',
  ];
  const proc = new ManagedProcess({
    service: 'temporal',
    command,
    args,
    logger: opts.logger,
    env: temporalEnv(),
    ...(opts.pidFile ? { pidFile: opts.pidFile } : {}),
  });
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  try {
    await waitForPort(opts.port, { service: 'temporal', timeoutMs, abort: () => proc.exitError() });
    let last = '';
    for (;;) {
      const result = await describeNamespace(address, 'default', command);
      if (result.ok) break;
      last = result.output;
      const exited = proc.exitError();
      if (exited) throw exited;
      if (Date.now() > deadline) {
        throw new Error(`temporal: namespace "default" at ${address} not ready within ${timeoutMs} ms (last describe output: ${last})\n${proc.tail.toString()}`);
      }
      await sleep(250);
    }
    if (opts.uiPort !== null) {
      await waitForPort(opts.uiPort, { service: 'temporal UI', timeoutMs: Math.max(5_000, deadline - Date.now()), abort: () => proc.exitError() });
    }
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { address, uiUrl: opts.uiPort === null ? null : `http://${LOOPBACK}:${opts.uiPort}`, process: proc };
}
