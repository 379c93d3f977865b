/**
 * Which app processes a stack runs and how they are wired (docs/architecture.md, "Cluster
 * mode"): one instance of each app in the `single` profile (`npm start`), two of each behind
 * HAProxy in the `cluster` profile (`STACK_PROFILE=cluster npm start`). Pure planning: ports come
 * from `freePort`, nothing is started here.
 */
import { join } from 'node:path';
import { freePort, freeUdpPort } from './services/index.js';
import type { HaproxyOptions } from './services/haproxy.js';
import { REPO_ROOT } from './paths.js';

/** Which of the platform's processes a stack runs (see the module comment). */
export type StackProfile = 'single' | 'cluster';

/** nats-servers (and JetStream replicas of every stream) of the cluster profile. */
export const CLUSTER_NATS_SERVERS = 3;

/** Instances of each scaled-out app in the cluster profile. */
export const CLUSTER_INSTANCES = 2;

/** One app process of a stack: its instance name, the app it runs, its environment and health URL. */
export interface AppInstance {
  /** `api` (single profile) or `api-1`, `api-2`, … (cluster profile); names the process and its log lines. */
  readonly instance: string;
  /** The app directory under `apps/` (`ingest`, `worker`, …). */
  readonly app: string;
  /** Environment of this instance (on top of what every app gets). */
  readonly env: Record<string, string>;
  /** `GET` answers 2xx once the instance is ready. */
  readonly healthUrl: string;
}

/** What {@link planApps} needs: the public ports, secrets and per-app settings of the stack. */
export interface PlanInput {
  readonly profile: StackProfile;
  readonly mode: 'source' | 'dist';
  /** The web app is served (from the edge, in `dist` mode). */
  readonly web: boolean;
  readonly rtmps: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly rtmpHost: string | undefined;
  readonly jwtKeys: string;
  readonly contentSecret: string;
  /** `RESTREAM_KEY_SECRET` of the API (seals restream keys) and the ingest nodes (open them). */
  readonly restreamSecret: string;
  readonly internalToken: string;
  /** Worker scratch root; each worker of the cluster profile gets a directory in it. */
  readonly workRoot: string;
  /** TRUST_PROXY / PUBLIC_URL when Caddy is in front, else empty. */
  readonly behindProxy: Record<string, string>;
  readonly apiClickhouseEnv: Record<string, string>;
  /** How the chDB owner opens and serves the store (empty with an external ClickHouse). */
  readonly analyticsEnv: Record<string, string>;
  readonly clickhouseUrl: string;
  readonly clickhouseWriter: { readonly username: string; readonly password: string };
  readonly externalClickhouse: boolean;
  /** Ports publishers, viewers and the web app use: the apps' own (single) or HAProxy's (cluster). */
  readonly publicPorts: { readonly rtmp: number; readonly rtmps: number; readonly api: number; readonly edge: number; readonly chat: number; readonly whip: number };
  /** UDP port of the single ingest node's SRT listener (the cluster's nodes take free ones: HAProxy cannot proxy UDP). */
  readonly srtPort: number;
  /** The single ingest node's HTTP port when free (8090 for `npm start`), else any free port. */
  readonly preferIngestHttpPort?: number;
  /** `rtmp://host:port/live` publishers use. */
  readonly rtmpUrl: string;
  /** The API's public base URL (the steering manifest's host). */
  readonly apiUrl: string;
}

/** The processes to start, and HAProxy's configuration in the cluster profile. */
export interface AppPlan {
  readonly instances: AppInstance[];
  /** HAProxy in front (cluster profile), without `configDir`/`logger`; null in the single profile. */
  readonly front: Omit<HaproxyOptions, 'configDir' | 'logger'> | null;
  /** Each ingest node's internal HTTP base (relay, /healthz, /metrics), in instance order. */
  readonly ingestHttpUrls: string[];
  /** Each ingest node's SRT UDP port, in instance order (publishers reach a node directly). */
  readonly ingestSrtPorts: number[];
  /** Each ingest node's WHIP port, in instance order (WHIP is not behind HAProxy: ICE goes to the node anyway). */
  readonly ingestWhipPorts: number[];
  /** Each edge directly, by instance name. */
  readonly edgeUrls: Record<string, string>;
}

const loopback = (port: number): string => `http://127.0.0.1:${port}`;

/** Instance names of `app`: `[app]` in the single profile, `app-1`, `app-2`, … in the cluster profile. */
export function instanceNames(app: string, profile: StackProfile): string[] {
  return profile === 'cluster' ? Array.from({ length: CLUSTER_INSTANCES }, (_, i) => `${app}-${i + 1}`) : [app];
}

/**
 * Plans the app processes of a stack. The single profile is what `npm start` has always run:
 * one of each app on the public ports. The cluster profile runs {@link CLUSTER_INSTANCES} of
 * each app on free loopback ports, two projectors sharing the analytics store of one
 * `analytics-store` process (the chDB owner), and HAProxy on the public ports.
 */
export async function planApps(input: PlanInput): Promise<AppPlan> {
  return input.profile === 'cluster' ? planCluster(input) : planSingle(input);
}

async function planSingle(i: PlanInput): Promise<AppPlan> {
  const [ingestHttpPort, workerHttpPort, projectorHttpPort] = [await freePort(i.preferIngestHttpPort), await freePort(), await freePort()];
  const { rtmp, rtmps, api, edge, chat, whip } = i.publicPorts;
  const ingestHttpUrl = loopback(ingestHttpPort);
  return {
    instances: [
      { instance: 'projector', app: 'projector', env: { HTTP_PORT: String(projectorHttpPort), ...i.analyticsEnv }, healthUrl: `${loopback(projectorHttpPort)}/healthz` },
      { instance: 'worker', app: 'worker', env: workerEnv(i, workerHttpPort, i.workRoot), healthUrl: `${loopback(workerHttpPort)}/healthz` },
      { instance: 'ingest', app: 'ingest', env: ingestEnv(i, { rtmp, rtmps, http: ingestHttpPort, srt: i.srtPort, whip }, i.rtmpHost ?? '127.0.0.1', `ingest-${rtmp}`), healthUrl: `${ingestHttpUrl}/healthz` },
      { instance: 'edge', app: 'edge', env: edgeEnv(i, edge, i.behindProxy), healthUrl: `${loopback(edge)}/healthz` },
      { instance: 'api', app: 'api', env: apiEnv(i, api, { whip, srt: i.srtPort }, { ...i.behindProxy, ...(i.mode === 'source' ? { TRUST_PROXY: 'loopback' } : {}) }), healthUrl: `${loopback(api)}/healthz` },
      { instance: 'chat', app: 'chat', env: chatEnv(i, chat, `chat-${chat}`, i.behindProxy), healthUrl: `${loopback(chat)}/healthz` },
    ],
    front: null,
    ingestHttpUrls: [ingestHttpUrl],
    ingestSrtPorts: [i.srtPort],
    ingestWhipPorts: [whip],
    edgeUrls: { edge: loopback(edge) },
  };
}

/** The loopback address HAProxy connects to the ingest nodes from in the cluster profile (the one they accept PROXY headers from). */
export const HAPROXY_SOURCE_ADDRESS = '127.0.0.2';

async function planCluster(i: PlanInput): Promise<AppPlan> {
  const instances: AppInstance[] = [];
  const ports = async (n: number): Promise<number[]> => { const out: number[] = []; for (let k = 0; k < n; k++) out.push(await freePort()); return out; };
  // Behind HAProxy: the apps believe its X-Forwarded-For (it runs on loopback).
  const proxied = { ...i.behindProxy, TRUST_PROXY: 'loopback' };

  const storeHttp = (await ports(1))[0]!;
  if (!i.externalClickhouse) {
    // One process owns chDB and serves it; both projectors write to it over HTTP.
    instances.push({ instance: 'analytics-store', app: 'projector', env: { HTTP_PORT: String(storeHttp), PROJECTOR_PROJECTIONS: 'none', ...i.analyticsEnv }, healthUrl: `${loopback(storeHttp)}/healthz` });
  }
  const projectorStore: Record<string, string> = i.externalClickhouse ? {} : { CLICKHOUSE_URL: i.clickhouseUrl, CLICKHOUSE_USER: i.clickhouseWriter.username, CLICKHOUSE_PASSWORD: i.clickhouseWriter.password };
  const ingestNodes: Array<{ name: string; rtmp: number; rtmps: number; http: number; srt: number; whip: number }> = [];
  const edges: Record<string, string> = {};
  const backends: Record<'api' | 'edge' | 'chat', Array<{ name: string; port: number }>> = { api: [], edge: [], chat: [] };
  for (const name of instanceNames('projector', 'cluster')) {
    const [http] = await ports(1);
    instances.push({ instance: name, app: 'projector', env: { HTTP_PORT: String(http), ...projectorStore }, healthUrl: `${loopback(http!)}/healthz` });
  }
  for (const name of instanceNames('worker', 'cluster')) {
    const [http] = await ports(1);
    instances.push({ instance: name, app: 'worker', env: workerEnv(i, http!, join(i.workRoot, name)), healthUrl: `${loopback(http!)}/healthz` });
  }
  for (const name of instanceNames('ingest', 'cluster')) {
    const [rtmp, rtmps, http, whip] = await ports(4);
    const srt = await freeUdpPort();
    ingestNodes.push({ name, rtmp: rtmp!, rtmps: rtmps!, http: http!, srt, whip: whip! });
    instances.push({ instance: name, app: 'ingest', env: { ...ingestEnv(i, { rtmp: rtmp!, rtmps: i.rtmps ? rtmps! : 0, http: http!, srt, whip: whip! }, '127.0.0.1', name), RTMP_PROXY_PROTOCOL_FROM: HAPROXY_SOURCE_ADDRESS }, healthUrl: `${loopback(http!)}/healthz` });
  }
  // Every edge is a Content Steering pathway, named after its instance; each knows them all.
  for (const name of instanceNames('edge', 'cluster')) {
    const [port] = await ports(1);
    edges[name] = loopback(port!);
    backends.edge.push({ name, port: port! });
  }
  const pathways = Object.entries(edges).map(([id, url]) => `${id}=${url}`).join(',');
  for (const { name, port } of backends.edge) {
    instances.push({ instance: name, app: 'edge', env: { ...edgeEnv(i, port, proxied), ...steeringEdgeEnv(name, pathways, i.apiUrl) }, healthUrl: `${loopback(port)}/healthz` });
  }
  for (const name of instanceNames('api', 'cluster')) {
    const [port] = await ports(1);
    backends.api.push({ name, port: port! });
    instances.push({ instance: name, app: 'api', env: { ...apiEnv(i, port!, ingestNodes[0]!, proxied), EDGE_PATHWAYS: pathways }, healthUrl: `${loopback(port!)}/healthz` });
  }
  for (const name of instanceNames('chat', 'cluster')) {
    const [port] = await ports(1);
    backends.chat.push({ name, port: port! });
    instances.push({ instance: name, app: 'chat', env: chatEnv(i, port!, name, proxied), healthUrl: `${loopback(port!)}/healthz` });
  }
  const { rtmp, rtmps, api, edge, chat } = i.publicPorts;
  return {
    instances,
    front: {
      bindHost: i.rtmpHost ?? '127.0.0.1',
      tcp: [
        // The publisher's address reaches the ingest node in a PROXY v2 header; HAProxy connects
        // from its own loopback address, the one the nodes trust (RTMP_PROXY_PROTOCOL_FROM).
        { name: 'rtmp', port: rtmp, backends: ingestNodes.map((n) => ({ name: n.name, port: n.rtmp, healthPort: n.http })), sendProxy: true, source: HAPROXY_SOURCE_ADDRESS },
        ...(i.rtmps ? [{ name: 'rtmps', port: rtmps, backends: ingestNodes.map((n) => ({ name: n.name, port: n.rtmps, healthPort: n.http })), sendProxy: true, source: HAPROXY_SOURCE_ADDRESS }] : []),
      ],
      http: [
        { name: 'api', port: api, backends: backends.api },
        { name: 'edge', port: edge, backends: backends.edge },
        { name: 'chat', port: chat, backends: backends.chat, websocket: true },
      ],
    },
    ingestHttpUrls: ingestNodes.map((n) => loopback(n.http)),
    ingestSrtPorts: ingestNodes.map((n) => n.srt),
    ingestWhipPorts: ingestNodes.map((n) => n.whip),
    edgeUrls: edges,
  };
}

function workerEnv(i: PlanInput, httpPort: number, workDir: string): Record<string, string> {
  return { HTTP_PORT: String(httpPort), WORK_DIR: workDir, RELAY_TOKEN: i.internalToken, CONTENT_KEY_SECRET: i.contentSecret };
}

function ingestEnv(i: PlanInput, ports: { rtmp: number; rtmps: number; http: number; srt: number; whip: number }, rtmpHost: string, nodeId: string): Record<string, string> {
  const httpUrl = loopback(ports.http);
  return {
    RTMP_PORT: String(ports.rtmp), RTMP_HOST: rtmpHost, HTTP_PORT: String(ports.http), HTTP_HOST: '127.0.0.1', SRT_PORT: String(ports.srt),
    // WHIP binds where RTMP does; ICE also offers loopback, for publishers on this machine.
    WHIP_PORT: String(ports.whip), WHIP_HOST: rtmpHost, WHIP_ICE_ADDRESSES: '127.0.0.1',
    RELAY_BASE_URL: httpUrl, INGEST_NODE_ID: nodeId, RESTREAM_KEY_SECRET: i.restreamSecret,
    // WHEP viewers of private channels bring the API's playback tokens.
    JWT_KEYS: i.jwtKeys,
    ...(i.rtmps && ports.rtmps ? { RTMPS_PORT: String(ports.rtmps), RTMPS_TLS_CERT_FILE: i.rtmps.certFile, RTMPS_TLS_KEY_FILE: i.rtmps.keyFile } : {}),
  };
}

function edgeEnv(i: PlanInput, port: number, proxy: Record<string, string>): Record<string, string> {
  // Playback tokens are signed by the API with its key ring and verified by the edge.
  return {
    EDGE_PORT: String(port), JWT_KEYS: i.jwtKeys, CONTENT_KEY_SECRET: i.contentSecret, ...proxy,
    // Production serves the built web app from the edge; from source, `vite preview` does.
    ...(i.mode === 'dist' && i.web ? { WEB_ROOT: join(REPO_ROOT, 'apps/web/dist') } : {}),
  };
}

/**
 * An edge's HLS Content Steering settings: its pathway (the instance name), every pathway
 * (`id=url,…`), and the prefix of the API's steering route players fetch the manifest from.
 */
function steeringEdgeEnv(pathway: string, pathways: string, apiUrl: string): Record<string, string> {
  return { EDGE_PATHWAY_ID: pathway, EDGE_PATHWAYS: pathways, EDGE_STEERING_URL: `${apiUrl}/api/streams` };
}

/**
 * The API's settings. `ingest`: the ingest node whose WHIP listener serves WHEP to the player
 * (`WHEP_PUBLIC_URL`, on the RTMP URL's host; in the cluster profile the first node's, which
 * serves the publishes it holds: a viewer of another node's publish is refused and the player
 * falls back to LL-HLS), and whose SRT and WHIP listeners the dashboard names for publishing
 * (`INGEST_SRT_PUBLIC_URL`, `INGEST_WHIP_PUBLIC_URL`).
 */
function apiEnv(i: PlanInput, port: number, ingest: { whip: number; srt: number }, proxy: Record<string, string>): Record<string, string> {
  const host = new URL(i.rtmpUrl.replace(/^rtmps?:/, 'http:')).hostname;
  return {
    API_PORT: String(port), EDGE_PUBLIC_URL: '', JWT_KEYS: i.jwtKeys, ...proxy, ...i.apiClickhouseEnv, INGEST_PUBLIC_URL: i.rtmpUrl, RESTREAM_KEY_SECRET: i.restreamSecret,
    WHEP_PUBLIC_URL: `http://${host}:${ingest.whip}/whep`, INGEST_WHIP_PUBLIC_URL: `http://${host}:${ingest.whip}/whip`, INGEST_SRT_PUBLIC_URL: `srt://${host}:${ingest.srt}`,
  };
}

function chatEnv(i: PlanInput, port: number, gatewayId: string, proxy: Record<string, string>): Record<string, string> {
  return { ...proxy, CHAT_PORT: String(port), CHAT_HOST: '127.0.0.1', GATEWAY_ID: gatewayId, JWT_KEYS: i.jwtKeys };
}
