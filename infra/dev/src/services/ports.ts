/**
 * TCP port helpers for the embedded local stack: finding free ports on the loopback interface
 * and waiting for a server to accept connections. Node built-ins only.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** Loopback address every embedded service binds to and every helper here probes. */
export const LOOPBACK = '127.0.0.1';

/**
 * Ports handed out by this process recently. The OS may hand the same ephemeral port to two
 * consecutive `listen(0)` calls once the first socket is closed; remembering what we gave out
 * keeps two services started by one process from being told the same port.
 */
const handedOut = new Set<number>();

function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new RangeError(`${what} must be an integer TCP port in 1..65535, got ${String(port)}`);
  }
}

/** Opens a listener on 127.0.0.1:`port` (0 = OS-assigned); resolves with it, or null when the port is taken. */
function tryListen(port: number): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(null);
      else reject(err);
    });
    // exclusive: never share the port with another worker of a cluster; we want a real answer.
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => resolve(server));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function boundPort(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('freePort: listener has no TCP address');
  return address.port;
}

/**
 * Reserves `preferred.length` distinct free ports at once: each listener stays open until all are
 * found, so the OS cannot hand the same port out twice, then all are released.
 *
 * @param preferred one entry per wanted port: a port number to use when it is free, or
 *   `undefined` for "any free port".
 * @returns the ports, in the same order as `preferred`.
 * @throws RangeError when a preferred port is not in 1..65535.
 */
export async function reservePorts(preferred: ReadonlyArray<number | undefined>): Promise<number[]> {
  const held: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (const want of preferred) {
      if (want !== undefined) assertPort(want, 'preferred port');
      let server: net.Server | null = null;
      if (want !== undefined && !ports.includes(want)) server = await tryListen(want);
      // OS-assigned; skip ports this process already handed out (a handful of tries is plenty).
      for (let attempt = 0; server === null && attempt < 20; attempt++) {
        const candidate = await tryListen(0);
        if (candidate === null) continue;
        if (handedOut.has(boundPort(candidate))) {
          held.push(candidate); // keep it open so the next listen(0) gets a different one
          continue;
        }
        server = candidate;
      }
      if (server === null) throw new Error('freePort: could not find a free TCP port on 127.0.0.1');
      held.push(server);
      const port = boundPort(server);
      ports.push(port);
    }
    for (const port of ports) rememberPort(port);
    return ports;
  } finally {
    await Promise.all(held.map(closeServer));
  }
}

function rememberPort(port: number): void {
  handedOut.add(port);
  // Bounded memory: forget the oldest entries (a Set iterates in insertion order).
  if (handedOut.size > 256) {
    const oldest = handedOut.values().next().value;
    if (oldest !== undefined) handedOut.delete(oldest);
  }
}

/**
 * Finds a free TCP port on 127.0.0.1.
 *
 * "Free" means a listener could bind 127.0.0.1:port right now (a server on 0.0.0.0:port makes it
 * taken too). The port is released before this resolves, so another process may still take it in
 * between; callers that start a server on it should treat "address in use" as retryable.
 *
 * @param preferred a port (1..65535) to return when it is free, e.g. 4222 for NATS.
 * @returns `preferred` when free, else an OS-assigned free port (never one this process handed
 *   out recently).
 * @throws RangeError when `preferred` is not an integer in 1..65535.
 */
export async function freePort(preferred?: number): Promise<number> {
  const [port] = await reservePorts([preferred]);
  if (port === undefined) throw new Error('freePort: no port reserved');
  return port;
}

/**
 * Finds a free UDP port on 127.0.0.1 (for the SRT listener): `preferred` when a socket can bind
 * it right now, else an OS-assigned one this process has not handed out recently. Released
 * before it resolves, like {@link freePort}.
 * @throws RangeError when `preferred` is not an integer in 1..65535.
 */
export async function freeUdpPort(preferred?: number): Promise<number> {
  if (preferred !== undefined) assertPort(preferred, 'preferred port');
  const held: dgram.Socket[] = [];
  const bindUdp = (port: number) => new Promise<dgram.Socket | null>((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.once('error', () => { sock.close(); resolve(null); });
    sock.bind({ port, address: LOOPBACK, exclusive: true }, () => resolve(sock));
  });
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const sock = await bindUdp(attempt === 0 && preferred !== undefined ? preferred : 0);
      if (!sock) continue;
      held.push(sock);
      const port = sock.address().port;
      if (handedOut.has(port)) continue;
      rememberPort(port);
      return port;
    }
    throw new Error('freeUdpPort: could not find a free UDP port on 127.0.0.1');
  } finally {
    for (const s of held) s.close();
  }
}

/**
 * Tries one TCP connection to `host:port`.
 *
 * @param timeoutMs how long to wait for the connection, in milliseconds (default 1000).
 * @returns true when the connection was accepted (it is closed again immediately), false when it
 *   was refused, reset or timed out.
 */
export function canConnect(port: number, host: string = LOOPBACK, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Options for {@link waitForPort}. */
export interface WaitForPortOptions {
  /** Name used in the timeout error, e.g. `nats-server`. */
  service: string;
  /** Give up after this many milliseconds (default 30000). */
  timeoutMs?: number;
  /** Pause between attempts, in milliseconds (default 100). */
  intervalMs?: number;
  /** Host to connect to (default 127.0.0.1). */
  host?: string;
  /**
   * Checked before every attempt; when it returns an Error, waiting stops and that error is
   * thrown (used to fail fast when the server process has already exited).
   */
  abort?: () => Error | undefined;
}

/**
 * Waits until `host:port` accepts a TCP connection.
 *
 * @throws Error naming `service` and the address when the port does not accept within
 *   `timeoutMs`, or the error returned by `abort()`.
 */
export async function waitForPort(port: number, opts: WaitForPortOptions): Promise<void> {
  const host = opts.host ?? LOOPBACK;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw aborted;
    if (await canConnect(port, host, 500)) return;
    if (Date.now() > deadline) {
      throw new Error(`${opts.service}: ${host}:${port} did not accept TCP connections within ${opts.timeoutMs ?? 30_000} ms`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @param unref true for timers that only bound a wait on something else (e.g. a grace period
 *   raced against a process exit), so a pending timer never keeps the process alive by itself.
 */
export function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}
