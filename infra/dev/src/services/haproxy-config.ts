/**
 * HAProxy configuration for the cluster profile, rendered from a plain description of the
 * frontends, and the parser of HAProxy's CSV statistics. Pure: no I/O.
 *
 * Follows the HAProxy 2.6 Configuration Manual (Debian 12's `haproxy`): sections `global`,
 * `defaults`, `frontend`, `backend`, `listen` (§4); `option httpchk` with `http-check expect`
 * (§4.2), server options `check port inter fall rise on-marked-down` (§5.2), `option redispatch`,
 * `retries`, `retry-on` and `http-request disable-l7-retry` (L7 retries), `option forwardfor`,
 * `timeout tunnel` (WebSocket after the upgrade); statistics CSV columns: Management Guide §9.1.
 */

/** One server behind a frontend. */
export interface HaproxyBackendServer {
  /** Server name in the stats and logs, e.g. `ingest-1`. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** Host of the server (default `127.0.0.1`). */
  readonly host?: string;
  /** Port HAProxy forwards to. */
  readonly port: number;
}

/** A TCP-mode server (RTMP/RTMPS), health-checked over HTTP on another port. */
export interface HaproxyTcpServer extends HaproxyBackendServer {
  /** The node's HTTP port answering `GET /healthz` (`check port <healthPort>`). */
  readonly healthPort: number;
}

/**
 * A TCP-mode frontend: bytes pass through untouched (RTMPS's TLS ends at the ingest node), one
 * connection to one server (`balance leastconn`), idle for at most {@link TCP_IDLE_SECONDS}. A server marked down has its sessions cut
 * (`on-marked-down shutdown-sessions`), so a publisher reconnects at once, to the other node.
 */
export interface HaproxyTcpFrontend {
  /** Frontend and backend name, e.g. `rtmp`. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** Port it binds on {@link HaproxySpec.bindHost}. */
  readonly port: number;
  readonly backends: readonly HaproxyTcpServer[];
  /**
   * Start each connection to a server with a PROXY protocol v2 header naming the client
   * (`send-proxy-v2`), so the ingest node sees the publisher's address (its
   * `RTMP_PROXY_PROTOCOL_FROM` must list HAProxy's address). Health checks (`check port`) send
   * none. Default false.
   */
  readonly sendProxy?: boolean;
  /** The address HAProxy connects to the servers from (`source`), e.g. `127.0.0.2` to tell its connections apart on loopback. */
  readonly source?: string;
}

/**
 * An HTTP-mode frontend (API, edge, chat): health checks `GET /healthz` on the server's own port,
 * `X-Forwarded-For` added (`option forwardfor`), a request whose connection failed retried on
 * another server (`option redispatch`, `retries`), and a GET/HEAD that got no answer (server
 * died mid-request) retried too (`retry-on conn-failure empty-response`; other methods only after
 * connection failures, which never reached a server).
 */
export interface HaproxyHttpFrontend {
  readonly name: string;
  readonly port: number;
  readonly backends: readonly HaproxyBackendServer[];
  /**
   * Long-lived WebSocket connections (the chat gateway): `balance leastconn` and
   * `timeout tunnel` after the upgrade. Default false: `balance roundrobin`.
   */
  readonly websocket?: boolean;
}

/** What {@link renderHaproxyConfig} renders. */
export interface HaproxySpec {
  /** Address every frontend binds (default `127.0.0.1`). */
  readonly bindHost?: string;
  readonly tcp?: readonly HaproxyTcpFrontend[];
  readonly http?: readonly HaproxyHttpFrontend[];
  /** Port of the statistics page (`/stats`, CSV at `/stats;csv`) on 127.0.0.1; none when unset. */
  readonly statsPort?: number;
  /** Path of the admin `stats socket` (mode 600); none when unset. */
  readonly statsSocket?: string;
  /** Health check interval in ms (default 500); a server is down after 2 failures, up after 2 successes. */
  readonly checkIntervalMs?: number;
  /** `timeout tunnel` of WebSocket frontends, in seconds (default 3600). */
  readonly tunnelTimeoutSeconds?: number;
  /** A comment line at the top (what generated the file). */
  readonly comment?: string;
}

/**
 * Seconds a TCP-mode connection may be idle in both directions (`timeout tunnel`). RTMP carries
 * media and acknowledgements continuously, so silence this long means the peer is gone.
 */
export const TCP_IDLE_SECONDS = 120;

const NAME = /^[A-Za-z0-9._-]+$/;
const HOST = /^[A-Za-z0-9.:_-]+$/;

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`renderHaproxyConfig: ${what} must be a TCP port in 1..65535, got ${String(port)}`);
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name)) throw new RangeError(`renderHaproxyConfig: ${what} must be letters, digits, ".", "_" or "-", got ${JSON.stringify(name)}`);
}

/** Validates the spec; see {@link renderHaproxyConfig} for what is refused. */
function validate(spec: HaproxySpec): void {
  const bindHost = spec.bindHost ?? '127.0.0.1';
  if (!HOST.test(bindHost)) throw new RangeError(`renderHaproxyConfig: bindHost must be an address or host name, got ${JSON.stringify(bindHost)}`);
  const frontends = [...(spec.tcp ?? []), ...(spec.http ?? [])];
  if (frontends.length === 0) throw new RangeError('renderHaproxyConfig: at least one frontend is needed');
  const names = new Set<string>(['stats']);
  for (const f of frontends) {
    checkName(f.name, 'a frontend name');
    if (names.has(f.name)) throw new RangeError(`renderHaproxyConfig: frontend name ${JSON.stringify(f.name)} is used twice (or is reserved)`);
    names.add(f.name);
    checkPort(f.port, `frontend ${f.name}'s port`);
    if ('source' in f && f.source !== undefined && !HOST.test(f.source)) throw new RangeError(`renderHaproxyConfig: frontend ${f.name}'s source is not an address: ${JSON.stringify(f.source)}`);
    if (f.backends.length === 0) throw new RangeError(`renderHaproxyConfig: frontend ${f.name} has no backend server`);
    const servers = new Set<string>();
    for (const b of f.backends) {
      checkName(b.name, `a server name of ${f.name}`);
      if (servers.has(b.name)) throw new RangeError(`renderHaproxyConfig: server ${b.name} appears twice in ${f.name}`);
      servers.add(b.name);
      if (b.host !== undefined && !HOST.test(b.host)) throw new RangeError(`renderHaproxyConfig: server ${b.name}'s host is not an address or host name: ${JSON.stringify(b.host)}`);
      checkPort(b.port, `server ${b.name}'s port`);
      if ('healthPort' in b) checkPort((b as HaproxyTcpServer).healthPort, `server ${b.name}'s healthPort`);
    }
  }
  if (spec.statsPort !== undefined) checkPort(spec.statsPort, 'statsPort');
  if (spec.statsSocket !== undefined && (/[\s"'\\]/.test(spec.statsSocket) || spec.statsSocket === '')) {
    throw new RangeError(`renderHaproxyConfig: statsSocket must be a path without spaces or quotes, got ${JSON.stringify(spec.statsSocket)}`);
  }
  const inter = spec.checkIntervalMs ?? 500;
  if (!Number.isInteger(inter) || inter < 50) throw new RangeError(`renderHaproxyConfig: checkIntervalMs must be an integer ≥ 50, got ${String(inter)}`);
}

/** `host:port`, with brackets around an IPv6 address. */
function address(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function tcpSection(f: HaproxyTcpFrontend, bindHost: string, check: string): string[] {
  return [
    `frontend ${f.name}`,
    `  bind ${address(bindHost, f.port)}`,
    '  mode tcp',
    '  option tcplog',
    `  default_backend ${f.name}`,
    '',
    `backend ${f.name}`,
    '  mode tcp',
    '  balance leastconn',
    `  timeout tunnel ${TCP_IDLE_SECONDS}s`,
    // HTTP/1.1 with a Host header: uWebSockets (the chat gateway) answers HTTP/1.0 with 505.
    '  option httpchk',
    '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost',
    '  http-check expect status 200',
    // A publisher reconnecting before the dead node is marked down: its refused connection is
    // retried once on the other node instead of three times on the dead one.
    '  option redispatch 1',
    '  retries 1',
    ...(f.source ? [`  source ${f.source}`] : []),
    ...f.backends.map((b) => `  server ${b.name} ${address(b.host ?? '127.0.0.1', b.port)} check port ${b.healthPort} ${check} on-marked-down shutdown-sessions${f.sendProxy ? ' send-proxy-v2' : ''}`),
    '',
  ];
}

function httpSection(f: HaproxyHttpFrontend, bindHost: string, check: string, tunnelSeconds: number): string[] {
  return [
    `frontend ${f.name}`,
    `  bind ${address(bindHost, f.port)}`,
    '  mode http',
    '  option httplog',
    '  option forwardfor',
    `  default_backend ${f.name}`,
    '',
    `backend ${f.name}`,
    '  mode http',
    f.websocket ? '  balance leastconn' : '  balance roundrobin',
    ...(f.websocket ? [`  timeout tunnel ${tunnelSeconds}s`] : []),
    // HTTP/1.1 with a Host header: uWebSockets (the chat gateway) answers HTTP/1.0 with 505.
    '  option httpchk',
    '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost',
    '  http-check expect status 200',
    '  option redispatch 1',
    '  retries 3',
    '  retry-on conn-failure empty-response',
    '  http-request disable-l7-retry unless METH_GET',
    ...f.backends.map((b) => `  server ${b.name} ${address(b.host ?? '127.0.0.1', b.port)} check ${check}`),
    '',
  ];
}

/**
 * Renders an HAProxy 2.6 configuration: `global` (logs to stdout for `haproxy -db`, the admin
 * `stats socket`), `defaults` (timeouts: connect 2 s, client/server 60 s, check 1 s), a
 * `listen stats` page on 127.0.0.1, and for each TCP and HTTP frontend a `frontend` plus a
 * `backend` of the same name (see {@link HaproxyTcpFrontend}, {@link HaproxyHttpFrontend}).
 * Servers are checked every `checkIntervalMs` (`inter`), marked down after 2 failed checks and up
 * after 2 good ones. Runs as the user that starts it (no `user`/`chroot`).
 *
 * @returns the configuration text, ending with a newline.
 * @throws RangeError when there is no frontend, a frontend has no server, a name is not letters,
 *   digits, `.`, `_` or `-` (or is used twice; `stats` is reserved), a port is not in 1..65535, a
 *   host is not an address or host name, or the socket path has spaces or quotes.
 */
export function renderHaproxyConfig(spec: HaproxySpec): string {
  validate(spec);
  const bindHost = spec.bindHost ?? '127.0.0.1';
  const check = `inter ${spec.checkIntervalMs ?? 500}ms fall 2 rise 2`;
  const lines = [
    ...(spec.comment ? spec.comment.split('\n').map((l) => `# ${l}`) : []),
    'global',
    '  log stdout format raw local0 info',
    ...(spec.statsSocket !== undefined ? [`  stats socket ${spec.statsSocket} mode 600 level admin`] : []),
    '',
    'defaults',
    '  log global',
    '  option dontlognull',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout check 1s',
    '',
    ...(spec.statsPort !== undefined
      ? ['listen stats', `  bind 127.0.0.1:${spec.statsPort}`, '  mode http', '  stats enable', '  stats uri /stats', '  stats refresh 5s', '']
      : []),
    ...(spec.tcp ?? []).flatMap((f) => tcpSection(f, bindHost, check)),
    ...(spec.http ?? []).flatMap((f) => httpSection(f, bindHost, check, spec.tunnelTimeoutSeconds ?? 3600)),
  ];
  return lines.join('\n');
}

/** One server's line of the statistics (see {@link parseHaproxyStats}). */
export interface HaproxyServerStat {
  /** Backend (proxy) name, e.g. `rtmp`. */
  readonly proxy: string;
  /** Server name, e.g. `ingest-1`. */
  readonly server: string;
  /** `UP`, `DOWN`, `UP 1/2` (going down), `DOWN 1/2` (going up), `MAINT`, `no check`, … */
  readonly status: string;
  /** Current sessions (`scur`). */
  readonly sessions: number;
  /** What the last health check found (`check_status`), e.g. `L7OK`, `L4CON`. */
  readonly checkStatus: string;
}

/**
 * Parses HAProxy's statistics CSV (`/stats;csv` or `show stat` on the stats socket; the first
 * line is `# pxname,svname,…`, Management Guide §9.1) into its server lines; the `FRONTEND` and
 * `BACKEND` aggregate lines are left out.
 * @throws Error when the header lacks `pxname`, `svname` or `status`.
 */
export function parseHaproxyStats(csv: string): HaproxyServerStat[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const [px, sv, status, scur, check] = [col('pxname'), col('svname'), col('status'), col('scur'), col('check_status')];
  if (px < 0 || sv < 0 || status < 0) throw new Error(`parseHaproxyStats: not HAProxy statistics CSV (header ${JSON.stringify(lines[0] ?? '')})`);
  return lines.slice(1).map((l) => l.split(',')).filter((f) => f[sv] !== 'FRONTEND' && f[sv] !== 'BACKEND').map((f) => ({
    proxy: f[px] ?? '',
    server: f[sv] ?? '',
    status: f[status] ?? '',
    sessions: Number(f[scur] ?? 0) || 0,
    checkStatus: check >= 0 ? (f[check] ?? '') : '',
  }));
}
