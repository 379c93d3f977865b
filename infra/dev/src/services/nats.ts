/**
 * nats-server with JetStream for the embedded local stack: one server ({@link startNatsServer}),
 * or a cluster of servers on loopback ({@link startNatsCluster}, the cluster profile).
 * Flags: nats-server CLI (`nats-server --help`); configuration: NATS docs "Configuration" and
 * "Clustering" (`cluster { name, listen, routes }`), "JetStream Clustering" (meta leader, R3
 * streams); health and state: NATS monitoring docs, `/healthz` and `/jsz`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { resolveBinary } from './binaries.js';
import { LOOPBACK, reservePorts, sleep, waitForPort } from './ports.js';
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

/** Writes `text` to `file` with mode 0600 (it may hold password hashes) and returns its absolute path. */
function writeConfigFile(file: string, text: string): string {
  const abs = path.resolve(file);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, text, { mode: 0o600 });
  fs.chmodSync(abs, 0o600); // an existing file keeps its mode on write
  return abs;
}

/** How to run one nats-server process (see {@link spawnNatsServer}). */
interface NatsProcessSpec {
  /** Service name in logs and errors: `nats-server`, or the node name (`nats-1`) in a cluster. */
  service: string;
  /** Absolute path of the config file, or undefined for none. */
  configFile: string | undefined;
  storeDir: string;
  port: number;
  monitorPort: number;
  logger: Logger;
  pidFile: string | undefined;
}

/** Spawns `nats-server -js` on loopback with the spec's store, ports and config file. */
function spawnNatsServer(spec: NatsProcessSpec): ManagedProcess {
  const configArgs = spec.configFile !== undefined ? ['-c', spec.configFile] : [];
  return new ManagedProcess({
    service: spec.service,
    command: resolveBinary('nats-server'),
    // -a: loopback only; -sd: JetStream store under the run's data dir (never /tmp/nats/jetstream,
    // which a second stack would share); monitoring binds the same host as -a.
    args: [...configArgs, '-js', '-a', LOOPBACK, '-p', String(spec.port), '-sd', path.resolve(spec.storeDir), '--http_port', String(spec.monitorPort)],
    logger: spec.logger,
    ...(spec.pidFile ? { pidFile: spec.pidFile } : {}),
  });
}

/**
 * Waits until the server accepts client connections on `port` and `/healthz?js-enabled-only=true`
 * answers `{"status":"ok"}`.
 * @throws Error when the process exits meanwhile (with its output tail) or `timeoutMs` passes.
 */
async function waitNatsHealthy(proc: ManagedProcess, port: number, monitorUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await waitForPort(port, { service: proc.service, timeoutMs, abort: () => proc.exitError() });
  let lastProblem = 'no answer yet';
  for (;;) {
    const exited = proc.exitError();
    if (exited) throw exited;
    try {
      const res = await fetch(`${monitorUrl}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1_000) });
      const body = await res.text();
      if (res.ok && body.includes('"ok"')) return;
      lastProblem = `HTTP ${res.status} ${body.trim()}`;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${proc.service}: ${monitorUrl}/healthz did not report JetStream healthy within ${timeoutMs} ms (${lastProblem})\n${proc.tail.toString()}`);
    }
    await sleep(100);
  }
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
  const configFile = opts.config !== undefined ? writeConfigFile(opts.configFile ?? `${path.resolve(opts.storeDir)}.conf`, opts.config) : undefined;
  const proc = spawnNatsServer({ service: 'nats-server', configFile, storeDir: opts.storeDir, port: opts.port, monitorPort: opts.monitorPort, logger: opts.logger, pidFile: opts.pidFile });
  const monitorUrl = `http://${LOOPBACK}:${opts.monitorPort}`;
  try {
    await waitNatsHealthy(proc, opts.port, monitorUrl, opts.timeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url: `nats://${LOOPBACK}:${opts.port}`, monitorUrl, process: proc };
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

/** The three ports of one cluster node. */
export interface NatsNodePorts {
  /** Client port (`-p`). */
  client: number;
  /** HTTP monitoring port (`--http_port`). */
  monitor: number;
  /** Cluster (route) port: `cluster { listen }`, what the other nodes' routes dial. */
  cluster: number;
}

/** What {@link renderNatsNodeConfig} renders for one node. */
export interface NatsNodeConfigSpec {
  /** `server_name`, unique in the cluster (JetStream clustering requires one), e.g. `nats-1`. */
  serverName: string;
  /** `cluster { name }`, the same on every node, e.g. `live`. */
  clusterName: string;
  /** This node's route port (`cluster { listen: 127.0.0.1:<port> }`). */
  clusterPort: number;
  /** Route ports of every node of the cluster (its own included; nats-server ignores a route to itself). */
  routePorts: readonly number[];
  /** Text appended after the node's settings, e.g. the platform's `authorization { … }` block. */
  extra?: string;
}

/**
 * Renders one cluster node's nats-server configuration: `server_name`, a `cluster` block on
 * loopback listing every node as a route (`nats-route://127.0.0.1:<port>`), then `extra`.
 * Pure. Client port, store and monitoring stay command-line flags (see {@link startNatsServer}).
 * @throws RangeError when `serverName` or `clusterName` is not letters, digits, `.`, `_` or `-`.
 */
export function renderNatsNodeConfig(spec: NatsNodeConfigSpec): string {
  for (const [what, value] of [['serverName', spec.serverName], ['clusterName', spec.clusterName]] as const) {
    if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new RangeError(`renderNatsNodeConfig: ${what} must be letters, digits, ".", "_" or "-", got ${JSON.stringify(value)}`);
  }
  const routes = spec.routePorts.map((port) => `    "nats-route://${LOOPBACK}:${port}"`).join('\n');
  return [
    `server_name: "${spec.serverName}"`,
    'cluster {',
    `  name: "${spec.clusterName}"`,
    `  listen: "${LOOPBACK}:${spec.clusterPort}"`,
    '  routes: [',
    routes,
    '  ]',
    '}',
    '',
    spec.extra ?? '',
  ].join('\n');
}

/** Options for {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /**
   * Root directory of the cluster's data: node `nats-<i>` keeps its JetStream store in
   * `<storeDir>/nats-<i>` and its config in `<storeDir>/nats-<i>.conf` (mode 0600).
   */
  storeDir: string;
  /** Number of servers (default 3; JetStream needs an odd number ≥ 3 to survive the loss of one). */
  size?: number;
  /** `cluster { name }` (default `live`). */
  clusterName?: string;
  /** Text appended to every node's config, e.g. `renderPlatformAuthorization`'s block (as {@link StartNatsOptions.config}). */
  config?: string;
  /** Ports to use per node when free (index 0 = `nats-1`); the rest are OS-assigned. */
  preferredPorts?: ReadonlyArray<Partial<NatsNodePorts>>;
  logger: Logger;
  /** Pid file for stale-server reaping, see `reapStaleServers`. */
  pidFile?: string;
  /** Give up waiting for readiness after this many milliseconds (default 60000). */
  timeoutMs?: number;
}

/** One server of a {@link NatsClusterHandle}. */
export interface NatsClusterNode {
  /** `nats-<i>`: its `server_name`, JetStream peer name and service name in logs. */
  readonly name: string;
  /** Client URL, `nats://127.0.0.1:<client port>`. */
  readonly url: string;
  /** Monitoring base URL, `http://127.0.0.1:<monitor port>`. */
  readonly monitorUrl: string;
  readonly ports: NatsNodePorts;
  /** The running (or killed) process; replaced by {@link NatsClusterHandle.restart}. */
  readonly process: ManagedProcess;
}

/** A running nats-server cluster. */
export interface NatsClusterHandle {
  /** Every node's client URL, in node order. */
  readonly urls: readonly string[];
  /** {@link urls} joined with commas: what `connectMessaging(url)` and `NATS_URL` take. */
  readonly url: string;
  readonly nodes: readonly NatsClusterNode[];
  /** The node called `name`. @throws Error when there is none. */
  node(name: string): NatsClusterNode;
  /** SIGKILLs node `name` (chaos tests) and resolves when it has exited. */
  kill(name: string): Promise<void>;
  /**
   * Starts node `name` again (same ports, store and config; a running one is stopped first) and
   * resolves when it is healthy and the JetStream meta group lists it as a current peer.
   * @throws Error with its output tail when it does not get there within the cluster's timeout.
   */
  restart(name: string): Promise<void>;
  /** Stops every node (SIGTERM, SIGKILL after 5 s). Never rejects. */
  stop(): Promise<void>;
}

/** The `meta_cluster` part of a `/jsz` answer (NATS monitoring docs, "JetStream Information"): the fields read here. */
export interface MetaClusterInfo {
  leader?: string;
  cluster_size?: number;
  replicas?: Array<{ name: string; current?: boolean; offline?: boolean }>;
}

/**
 * Why the JetStream meta group of `expected` nodes is not ready yet, or undefined when it is:
 * every answer names the same meta leader, and the leader's answer lists every other expected
 * node as a current, online peer. Pure; `answers` maps node name to its `/jsz` `meta_cluster`.
 */
export function metaGroupProblem(answers: ReadonlyMap<string, MetaClusterInfo | undefined>, expected: readonly string[]): string | undefined {
  const leaders = [...new Set([...answers.values()].map((m) => m?.leader ?? ''))];
  const leader = leaders[0];
  if (leaders.length !== 1 || !leader) return `meta leader not agreed: ${JSON.stringify(Object.fromEntries([...answers].map(([n, m]) => [n, m?.leader ?? null])))}`;
  const meta = answers.get(leader);
  if (!meta) return `meta leader ${leader} did not answer`;
  for (const name of expected) {
    if (name === leader) continue;
    const peer = meta.replicas?.find((r) => r.name === name);
    if (!peer || peer.current !== true || peer.offline === true) return `meta leader ${leader} does not list ${name} as a current peer (${JSON.stringify(peer ?? null)})`;
  }
  return undefined;
}

/** A node with what it takes to (re)start it. */
interface ClusterNodeState extends NatsClusterNode {
  process: ManagedProcess;
  readonly storeDir: string;
  readonly configFile: string;
  readonly logger: Logger;
  readonly pidFile: string | undefined;
}

const CLUSTER_START_ATTEMPTS = 3;

/**
 * Starts `size` (default 3) nats-servers `nats-1`…`nats-<size>` with JetStream as one cluster on
 * 127.0.0.1: each with its own store directory, client, monitoring and route ports, and a config
 * file of {@link renderNatsNodeConfig} (every node listed as a route) followed by `config` (e.g.
 * the platform's authorization block). Resolves once every node's
 * `/healthz?js-enabled-only=true` is ok and the JetStream meta group has a leader listing every
 * other node as a current peer (`/jsz` `meta_cluster`). When a port is taken between reserving it
 * and binding it, the whole cluster is started again on other ports (up to 3 attempts).
 *
 * @throws RangeError when `size` is not an integer in 1..9.
 * @throws Error (starting with the node name) when a node exits or the cluster is not ready within
 *   `timeoutMs`, with the node's output tail; every started node is stopped first.
 */
export async function startNatsCluster(opts: StartNatsClusterOptions): Promise<NatsClusterHandle> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 9) throw new RangeError(`startNatsCluster: size must be an integer in 1..9, got ${String(size)}`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let preferred: Array<number | undefined> = Array.from({ length: size }, (_, i) => opts.preferredPorts?.[i])
    .flatMap((p) => [p?.client, p?.monitor, p?.cluster]);
  for (let attempt = 1; ; attempt++) {
    const flat = await reservePorts(preferred);
    const ports = Array.from({ length: size }, (_, i): NatsNodePorts => ({ client: flat[3 * i]!, monitor: flat[3 * i + 1]!, cluster: flat[3 * i + 2]! }));
    try {
      return clusterHandle(await launchCluster(opts, ports, timeoutMs), timeoutMs);
    } catch (err) {
      if (attempt >= CLUSTER_START_ATTEMPTS || !/address already in use|EADDRINUSE/i.test((err as Error).message)) throw err;
      opts.logger.warn({ service: 'nats-cluster', attempt }, 'nats cluster: port taken while starting, retrying on other ports');
      preferred = preferred.map(() => undefined);
    }
  }
}

/** Writes the configs, spawns every node and waits for the cluster; stops them all on failure. */
async function launchCluster(opts: StartNatsClusterOptions, ports: readonly NatsNodePorts[], timeoutMs: number): Promise<ClusterNodeState[]> {
  const deadline = Date.now() + timeoutMs;
  const clusterName = opts.clusterName ?? 'live';
  const nodes = ports.map((p, i): ClusterNodeState => {
    const name = `nats-${i + 1}`;
    const storeDir = path.join(path.resolve(opts.storeDir), name);
    const text = renderNatsNodeConfig({ serverName: name, clusterName, clusterPort: p.cluster, routePorts: ports.map((q) => q.cluster), ...(opts.config !== undefined ? { extra: opts.config } : {}) });
    const configFile = writeConfigFile(`${storeDir}.conf`, text);
    const proc = spawnNatsServer({ service: name, configFile, storeDir, port: p.client, monitorPort: p.monitor, logger: opts.logger, pidFile: opts.pidFile });
    return { name, url: `nats://${LOOPBACK}:${p.client}`, monitorUrl: `http://${LOOPBACK}:${p.monitor}`, ports: p, process: proc, storeDir, configFile, logger: opts.logger, pidFile: opts.pidFile };
  });
  try {
    const healthy = await Promise.allSettled(nodes.map((n) => waitNatsHealthy(n.process, n.ports.client, n.monitorUrl, timeoutMs)));
    const failed = healthy.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitMetaGroup(nodes, deadline);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.process.stop()));
    throw err;
  }
  return nodes;
}

/** The `meta_cluster` of a node's `/jsz`, or undefined when it does not answer. */
async function fetchMetaCluster(monitorUrl: string): Promise<MetaClusterInfo | undefined> {
  try {
    const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(1_000) });
    if (!res.ok) return undefined;
    return ((await res.json()) as { meta_cluster?: MetaClusterInfo }).meta_cluster;
  } catch {
    return undefined;
  }
}

/**
 * Polls `/jsz` of every running node until {@link metaGroupProblem} finds nothing wrong.
 * @throws Error naming the last problem (and the nodes' exits) after `deadline`.
 */
async function waitMetaGroup(nodes: readonly ClusterNodeState[], deadline: number): Promise<void> {
  for (;;) {
    const alive = nodes.filter((n) => n.process.isAlive());
    const answers = new Map(await Promise.all(alive.map(async (n) => [n.name, await fetchMetaCluster(n.monitorUrl)] as const)));
    const problem = alive.length === 0 ? 'no node is running' : metaGroupProblem(answers, alive.map((n) => n.name));
    if (problem === undefined) return;
    if (Date.now() > deadline) {
      const exits = nodes.map((n) => n.process.exitError('running')).filter(Boolean).map((e) => e!.message);
      throw new Error(`nats cluster: JetStream meta group not ready in time (${problem})${exits.length ? `\n${exits.join('\n')}` : ''}`);
    }
    await sleep(200);
  }
}

/** The {@link NatsClusterHandle} over started nodes. */
function clusterHandle(nodes: ClusterNodeState[], timeoutMs: number): NatsClusterHandle {
  const byName = (name: string): ClusterNodeState => {
    const node = nodes.find((n) => n.name === name);
    if (!node) throw new Error(`nats cluster: no node ${JSON.stringify(name)} (have ${nodes.map((n) => n.name).join(', ')})`);
    return node;
  };
  let stopping: Promise<void> | undefined;
  return {
    urls: nodes.map((n) => n.url),
    url: nodes.map((n) => n.url).join(','),
    nodes,
    node: byName,
    async kill(name) {
      const node = byName(name);
      if (!node.process.isAlive()) return;
      process.kill(node.process.pid, 'SIGKILL');
      await node.process.exited;
    },
    async restart(name) {
      const node = byName(name);
      await node.process.stop();
      node.process = spawnNatsServer({
        service: name, configFile: node.configFile, storeDir: node.storeDir, port: node.ports.client, monitorPort: node.ports.monitor,
        logger: node.logger, pidFile: node.pidFile,
      });
      await waitNatsHealthy(node.process, node.ports.client, node.monitorUrl, timeoutMs);
      await waitMetaGroup(nodes, Date.now() + timeoutMs);
    },
    stop() {
      stopping ??= Promise.all(nodes.map((n) => n.process.stop())).then(() => undefined);
      return stopping;
    },
  };
}
