/**
 * Edge process: `node apps/edge/dist/main.js` (production) or `tsx src/main.ts`. Serves object
 * storage (S3 or a local directory) as HLS with playback-token checks, the AES-128 content keys,
 * and with `WEB_ROOT` the web app's static files. Configuration: environment variables,
 * validated at start ({@link edgeConfigSchema}); HTTPS with `EDGE_TLS_CERT_FILE`/`EDGE_TLS_KEY_FILE`
 * (renewed certificates are used without a restart).
 */
import { createDb } from '@live/db';
import { createObjectStorage } from '@live/storage';
import { applyTlsReloads, handleShutdown, loadConfigOrExit, watchTlsFiles } from '@live/runtime';
import { buildEdge } from './app.js';
import { deriveEdgeConfig, edgeConfigSchema } from './config.js';

const c = loadConfigOrExit('edge', edgeConfigSchema, {}, deriveEdgeConfig);
const s = c.settings;
const tlsWatcher = c.tls ? watchTlsFiles(c.tls) : undefined;
const db = createDb(s.DATABASE_URL, 5);
const mediaOrigin = s.EDGE_PUBLIC_URL ? new URL(s.EDGE_PUBLIC_URL).origin : undefined;
const app = await buildEdge({
  db, storage: createObjectStorage(c.storage), logger: { name: 'edge', level: s.LOG_LEVEL },
  ...(c.playbackKeys ? { playbackKeys: c.playbackKeys } : {}),
  ...(c.cacheBytes !== undefined ? { objectCacheBytes: c.cacheBytes } : {}),
  ...(c.contentKeySecret ? { contentKeySecret: c.contentKeySecret } : {}),
  ...(tlsWatcher ? { https: tlsWatcher.current() } : {}),
  ...(s.TRUST_PROXY ? { trustProxy: s.TRUST_PROXY } : {}),
  maxBlockingPerClient: s.EDGE_MAX_BLOCKING_PER_CLIENT, maxWatchedPlaylists: s.EDGE_MAX_WATCHED_PLAYLISTS,
  ...(s.WEB_ROOT ? { web: { root: s.WEB_ROOT, hsts: c.https, ...(mediaOrigin ? { mediaOrigins: [mediaOrigin] } : {}) } } : {}),
});
if (tlsWatcher) applyTlsReloads(tlsWatcher, app.server as unknown as Parameters<typeof applyTlsReloads>[1]);
handleShutdown(app.log, [
  { name: 'http', run: () => app.close() },
  { name: 'tls watcher', run: () => tlsWatcher?.close() },
  { name: 'database', run: () => db.destroy() },
]);
await app.listen({ port: s.EDGE_PORT, host: s.EDGE_HOST });
