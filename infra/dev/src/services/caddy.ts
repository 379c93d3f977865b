/**
 * Caddy in front of the stack, as production runs it (docs/architecture.md, "Embedded default
 * and production mode"): `infra/deploy/caddy/Caddyfile.internal` — the production routes
 * (`live-routes.caddy`) on one HTTPS origin with a certificate from Caddy's own local CA
 * (`tls internal`) — with every port, the admin endpoint and Caddy's data directory (its CA) in
 * this run's data dir, so it collides with nothing else on the machine.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { resolveBinary } from './binaries.js';
import { freePort, sleep } from './ports.js';
import { ManagedProcess } from './process.js';

/** Options of {@link startCaddyFront}. */
export interface CaddyFrontOptions {
  /** The repository root (the Caddyfile lives in `infra/deploy/caddy`). */
  readonly repoRoot: string;
  /** Caddy's home: its data (the local CA) and config directories. */
  readonly dataDir: string;
  /** `host:port` of the API, the edge (which serves the web app) and the chat gateway. */
  readonly upstreams: { readonly api: string; readonly edge: string; readonly chat: string };
  readonly logger: Logger;
  /** Preferred HTTPS port (used when free). */
  readonly httpsPort?: number;
  /** Readiness deadline, ms (default 30 000). */
  readonly timeoutMs?: number;
}

/** A running Caddy front. */
export interface CaddyFront {
  /** `https://localhost:<port>`: the platform's one public origin. */
  readonly url: string;
  readonly httpsPort: number;
  /** The local CA's root certificate (PEM): what a browser or client must trust for {@link url}. */
  readonly rootCertFile: string;
  readonly process: ManagedProcess;
}

/**
 * Starts Caddy with `Caddyfile.internal` and resolves when its HTTPS port answers with the
 * local CA's certificate in place.
 * @throws Error with Caddy's output tail when it exits or is not ready within `timeoutMs`.
 */
export async function startCaddyFront(opts: CaddyFrontOptions): Promise<CaddyFront> {
  const [httpsPort, httpPort, adminPort] = [await freePort(opts.httpsPort), await freePort(), await freePort()];
  const caddyDir = join(opts.repoRoot, 'infra/deploy/caddy');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: opts.dataDir, XDG_DATA_HOME: join(opts.dataDir, 'data'), XDG_CONFIG_HOME: join(opts.dataDir, 'config'),
    LIVE_DOMAIN: 'localhost', LIVE_HTTPS_PORT: String(httpsPort), LIVE_HTTP_PORT: String(httpPort), LIVE_CADDY_ADMIN: `127.0.0.1:${adminPort}`,
    LIVE_API_UPSTREAM: opts.upstreams.api, LIVE_EDGE_UPSTREAM: opts.upstreams.edge, LIVE_CHAT_UPSTREAM: opts.upstreams.chat,
  };
  const proc = new ManagedProcess({
    service: 'caddy', command: resolveBinary('caddy'),
    args: ['run', '--config', join(caddyDir, 'Caddyfile.internal'), '--adapter', 'caddyfile'],
    cwd: caddyDir, env, logger: opts.logger,
  });
  const url = `https://localhost:${httpsPort}`;
  const rootCertFile = join(opts.dataDir, 'data/caddy/pki/authorities/local/root.crt');
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last = 'no answer yet';
  for (;;) {
    const exited = proc.exitError('starting');
    if (exited) throw exited;
    // Caddy answers only once it has issued the site's certificate from its local CA.
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/pki/ca/local`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) {
        const tlsReady = await tlsAnswers(httpsPort);
        if (tlsReady) break;
        last = 'HTTPS port not answering yet';
      } else {
        last = `admin HTTP ${r.status}`;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`caddy: ${url} not ready within ${opts.timeoutMs ?? 30_000} ms (${last})\n${proc.tail.toString()}`);
    }
    await sleep(200);
  }
  return { url, httpsPort, rootCertFile, process: proc };
}

/** True when a TLS handshake for `localhost` on `port` completes (any certificate). */
async function tlsAnswers(port: number): Promise<boolean> {
  const { connect } = await import('node:tls');
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      s.destroy();
      resolve(true);
    });
    s.setTimeout(2000, () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
  });
}
