/**
 * Load generator of bench/edge.ts, run in its own process so that it shares no event loop with
 * the server it measures (the edge, or nginx): `connections` keep-alive HTTP/1.1 connections
 * (raw `net` sockets), closed loop (each connection sends its next request when the previous
 * response is complete, no pipelining), each connection cycling through the given paths from
 * its own offset. Prints one JSON line ({@link EdgeLoadResult}) on stdout.
 *
 * Why not autocannon (bench/api's generator): autocannon appends every response body chunk to a
 * string (`req.body += data`, lib/pipelinedRequestsQueue.js), which for binary segments of
 * hundreds of KB caps it at ~70 MB/s on this machine: it measured itself, not the servers. This
 * client only counts body bytes (Content-Length framing; chunked responses are refused), so
 * the servers are what saturates.
 *
 * Usage: node --import tsx apps/edge/bench/load.ts '<EdgeLoadArgs as JSON>'
 */
import net from 'node:net';

/** What bench/edge.ts asks for. */
export interface EdgeLoadArgs {
  /** Base URL of the server, e.g. `http://127.0.0.1:40123` (plain HTTP). */
  readonly url: string;
  /** Request paths (with query strings); each connection cycles through them in order. */
  readonly paths: readonly string[];
  readonly connections: number;
  /** Seconds. */
  readonly duration: number;
}

/** What this process prints (one JSON line). Latencies in milliseconds, nearest rank over every response. */
export interface EdgeLoadResult {
  /** Complete responses within the run. */
  readonly requests: number;
  /** Responses per second over the run. */
  readonly rps: number;
  /** Response bytes (headers and bodies) per second. */
  readonly bytesPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Connection errors. */
  readonly errors: number;
  readonly non2xx: number;
  /** CPU seconds (user + system) this load-generator process used. */
  readonly cpuSeconds: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Runs the load and resolves with its result.
 * @throws Error when the server answers with chunked transfer coding or an unparsable head.
 */
export async function runEdgeLoad(args: EdgeLoadArgs): Promise<EdgeLoadResult> {
  const target = new URL(args.url);
  const port = Number(target.port || 80);
  const requests = args.paths.map((p) => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: bench-edge\r\nAccept: */*\r\n\r\n`));
  const cpu0 = process.cpuUsage();
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let bytes = 0;
  let errors = 0;
  let non2xx = 0;
  let running = true;
  const t0 = performance.now();
  const sockets: net.Socket[] = [];

  const connection = (index: number) => new Promise<void>((resolve, reject) => {
    let next = index % requests.length;
    let head: Buffer | null = null;
    let need = -1; // body bytes still to come; -1 while reading the head
    let status = 0;
    let sentAt = 0;
    const socket = net.connect({ host: target.hostname, port, noDelay: true });
    sockets.push(socket);
    const send = () => {
      if (!running) {
        socket.end();
        return;
      }
      sentAt = performance.now();
      socket.write(requests[next]!);
      next = (next + 1) % requests.length;
    };
    const complete = () => {
      if (!running) {
        socket.end();
        return;
      }
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = performance.now() - sentAt;
      if (status < 200 || status > 299) non2xx++;
      need = -1;
      head = null;
      send();
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      if (running) bytes += chunk.length;
      let off = 0;
      while (off < chunk.length) {
        if (need < 0) {
          head = head ? Buffer.concat([head, chunk.subarray(off)]) : chunk.subarray(off);
          const end = head.indexOf(HEADER_END);
          if (end < 0) return;
          const text = head.subarray(0, end).toString('latin1');
          const rest = head.length - (end + 4);
          off = chunk.length - rest;
          status = Number(text.slice(9, 12));
          if (/\r\ntransfer-encoding:\s*chunked/i.test(text)) {
            socket.destroy();
            reject(new Error('chunked responses are not supported by this load generator'));
            return;
          }
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
          if (!m || !Number.isFinite(status)) {
            socket.destroy();
            reject(new Error(`unparsable response head: ${JSON.stringify(text.slice(0, 200))}`));
            return;
          }
          need = Number(m[1]);
          head = null;
          if (need === 0) complete();
        } else {
          const take = Math.min(need, chunk.length - off);
          need -= take;
          off += take;
          if (need === 0) complete();
        }
      }
    });
    socket.on('error', () => { errors++; });
    socket.on('close', () => resolve());
  });

  const all = Promise.all(Array.from({ length: args.connections }, (_, i) => connection(i)));
  await new Promise((r) => setTimeout(r, args.duration * 1000));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  // responses still in flight finish (and close their connection); stragglers are cut after 2 s
  const cut = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
  await all;
  clearTimeout(cut);
  const sorted = latencies.subarray(0, count).sort();
  const pct = (p: number) => (count === 0 ? 0 : sorted[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]!);
  return {
    requests: count,
    rps: count / seconds,
    bytesPerSecond: bytes / seconds,
    p50: pct(50),
    p99: pct(99),
    max: count ? sorted[count - 1]! : 0,
    errors,
    non2xx,
    cpuSeconds: ((c) => (c.user + c.system) / 1e6)(process.cpuUsage(cpu0)),
  };
}

if (process.argv[2]) {
  const result = await runEdgeLoad(JSON.parse(process.argv[2]) as EdgeLoadArgs);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
