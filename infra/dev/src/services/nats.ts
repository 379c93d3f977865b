/**
 * nats-server with JetStream for the embedded local stack.
 * Flags: nats-server CLI (`nats-server --help`); health endpoint: NATS monitoring docs, `/healthz`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { resolveBinary } from './binaries.js';
import { LOOPBACK, sleep, waitForPort } from './ports.js';
import { ManagedProcess } from './process.js';

/** Options for {@link startNatsServer}. */
export interface StartNatsOptions {
  /** JetStream store directory (`-sd`); created by nats-server. */
  storeDir: string;
  /** Client port (`-p`). */
  port: number;
  /** HTTP monitoring port (`--http_port`), serves `/healthz` and `/varz`. */
  monitorPort: number;
  logger: Logger;
  /** Pid file for stale-server reaping, see `reapStaleServers`. */
  pidFile?: string;
  /** Give up waiting for readiness after this many milliseconds (default 30000). */
  timeoutMs?: number;
  /**
   * nats-server configuration text (e.g. the `authorization { users = [...] }` block from
   * `renderPlatformAuthorization`), written to {@link configFile} with mode 0600 and passed with
   * `-c`; the command-line flags (port, store, monitoring) still apply. Unset: no config file,
   * and the server accepts anonymous clients.
   */
  config?: string;
  /** Where {@link config} is written; default `<storeDir>.conf` (beside the store directory). */
  configFile?: string;
}

/** A running nats-server. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  url: string;
  /** Monitoring base URL, `http://127.0.0.1:<monitorPort>` (`/varz`, `/jsz`, `/healthz`). */
  monitorUrl: string;
  process: ManagedProcess;
}

/**
 * Starts `nats-server -js` bound to 127.0.0.1 (with `-c <configFile>` when `config` is given,
 * e.g. the users and permissions of the platform's identities) and waits until it accepts client connections and
 * `GET /healthz?js-enabled-only=true` on the monitoring port answers `{"status":"ok"}`.
 *
 * @throws Error (message starts with `nats-server`) when the binary is missing, the process exits
 *   during startup (the message carries its last output lines, e.g. "address already in use"), or
 *   it is not ready within `timeoutMs`; the process is stopped before the error is thrown.
 */
export async function startNatsServer(opts: StartNatsOptions): Promise<NatsServerHandle> {
  const command = resolveBinary('nats-server');
  const configArgs: string[] = [];
  if (opts.config !== undefined) {
    const file = path.resolve(opts.configFile ?? `${path.resolve(opts.storeDir)}.conf`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, opts.config, { mode: 0o600 });
    fs.chmodSync(file, 0o600); // an existing file keeps its mode on write
    configArgs.push('-c', file);
  }
  const proc = new ManagedProcess({
    service: 'nats-server',
    command,
    // -a: loopback only; -sd: JetStream store under the run's data dir (never /tmp/nats/jetstream,
    // which a second stack would share); monitoring binds the same host as -a.
    args: [...configArgs, '-js', '-a', LOOPBACK, '-p', String(opts.port), '-sd', path.resolve(opts.storeDir), '--http_port', String(opts.monitorPort)],
    logger: opts.logger,
    ...(opts.pidFile ? { pidFile: opts.pidFile } : {}),
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const monitorUrl = `http://${LOOPBACK}:${opts.monitorPort}`;
  try {
    await waitForPort(opts.port, { service: 'nats-server', timeoutMs, abort: () => proc.exitError() });
    let lastProblem = 'no answer yet';
    for (;;) {
      const exited = proc.exitError();
      if (exited) throw exited;
      try {
        const res = await fetch(`${monitorUrl}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1_000) });
        const body = await res.text();
        if (res.ok && body.includes('"ok"')) break;
        lastProblem = `HTTP ${res.status} ${body.trim()}`;
      } catch (err) {
        lastProblem = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`nats-server: ${monitorUrl}/healthz did not report JetStream healthy within ${timeoutMs} ms (${lastProblem})\n${proc.tail.toString()}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url: `nats://${LOOPBACK}:${opts.port}`, monitorUrl, process: proc };
}
