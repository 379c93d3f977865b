/**
 * Reference server of bench/edge.ts (`node:http floor`): Node's own HTTP server answering GETs
 * of the files under a directory from memory (read once at start), with the edge's media headers
 * (Content-Type, Cache-Control, ETag, Last-Modified, Accept-Ranges, Content-Length, CORS) and no
 * checks, routing or metrics: what one Node process costs per request before the edge does
 * anything, to compare with the edge's fast path and with nginx.
 *
 * Usage: node --import tsx apps/edge/bench/node-floor.ts <root dir> <port>
 */
import { createServer } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { EDGE_CORS_HEADERS } from '../src/fast-path.js';

const [root, port] = [process.argv[2]!, Number(process.argv[3])];
const files = new Map<string, { body: Buffer; headers: string[] }>();
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else {
      const body = readFileSync(path);
      const headers = [
        'content-type', 'video/iso.segment', 'cache-control', 'public, max-age=31536000, immutable', 'etag', `"${body.length}"`,
        'last-modified', statSync(path).mtime.toUTCString(), 'accept-ranges', 'bytes', ...EDGE_CORS_HEADERS, 'content-length', String(body.length),
      ];
      files.set(`/${relative(root, path)}`, { body, headers });
    }
  }
};
walk(root);
createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const file = files.get(q < 0 ? url : url.slice(0, q));
  if (!file) {
    res.writeHead(404, { 'content-length': '0' }).end();
    return;
  }
  res.writeHead(200, file.headers);
  res.end(file.body);
}).listen(port, '127.0.0.1');
