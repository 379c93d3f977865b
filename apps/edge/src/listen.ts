/**
 * How an edge built by {@link buildEdge} takes connections (`EDGE_SERVER`): `node`, Fastify's own
 * server on the port; `uws`, the uWebSockets.js front (uws-front.ts) on the port and the app on
 * an ephemeral loopback port behind it. One function for main.ts, the tests and the benches.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { edgeBuildOf } from './app.js';
import { startUwsFront } from './uws-front.js';

/** Listen backlog of the app's loopback port behind the front (the kernel caps it at `net.core.somaxconn`). */
const HANDOVER_BACKLOG = 65_535;

/** Where to listen. */
export interface EdgeListenOptions {
  readonly host: string;
  /** TCP port (0: any free one). */
  readonly port: number;
}

/** A listening edge. */
export interface ListeningEdge {
  /** The viewers' port. */
  readonly port: number;
  /**
   * Stops taking connections, lets the app finish what it holds (Fastify's close, which answers
   * 503 meanwhile) and closes every connection. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Listens as the app was built to ({@link edgeBuildOf}: its server, trusted proxies and fast path),
 * and starts the viewers' throughput readings on the port.
 * @throws Error when the port cannot be bound, or for an app buildEdge did not make.
 */
export async function listenEdge(app: FastifyInstance, opts: EdgeListenOptions): Promise<ListeningEdge> {
  const { server, trust, fast, throughput } = edgeBuildOf(app);
  if (server !== 'uws') {
    await app.listen({ host: opts.host, port: opts.port });
    const port = (app.server.address() as AddressInfo).port;
    throughput?.start(port);
    return { port, close: () => app.close() };
  }
  // A flood of requests the front hands over opens as many loopback connections at once: a
  // backlog as deep as the kernel allows (net.core.somaxconn caps it) keeps their SYNs from being
  // dropped, which would hold everyone's next hand-over for a retransmission (1 s, then 3 s).
  await app.listen({ host: '127.0.0.1', port: 0, backlog: HANDOVER_BACKLOG });
  const upstream = { host: '127.0.0.1', port: (app.server.address() as AddressInfo).port };
  let front;
  try {
    front = await startUwsFront({ host: opts.host, port: opts.port, upstream, fast, trust, log: app.log });
  } catch (err) {
    await app.close();
    throw err;
  }
  const started = front;
  throughput?.start(started.port);
  return {
    port: started.port,
    async close() {
      started.stopListening();
      await app.close();
      started.close();
    },
  };
}
