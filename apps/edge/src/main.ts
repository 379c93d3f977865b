/**
 * Edge process: `node apps/edge/dist/main.js` (production) or `tsx src/main.ts`. Serves object
 * storage (S3 or a local directory) as HLS with playback-token checks, the AES-128 content keys,
 * and with `WEB_ROOT` the web app's static files. Configuration: environment variables,
 * validated at start ({@link edgeConfigSchema}); HTTPS with `EDGE_TLS_CERT_FILE`/`EDGE_TLS_KEY_FILE`
 * (renewed certificates are used without a restart). `EDGE_SERVER` picks the server on the port
 * (listen.ts: Node's own by default, or uWebSockets.js in front).
 */
import { createDb } from '@live/db';
import { createObjectStorage } from '@live/storage';
import { applyTlsReloads, handleShutdown, loadConfigOrExit, watchTlsFiles } from '@live/runtime';
import { connectMessaging } from '@live/messaging';
import { buildEdge } from './app.js';
import { natsAnnouncementSource } from './feed.js';
import { deriveEdgeConfig, edgeConfigSchema } from './config.js';
import { steeringOrigins } from './steering.js';
import { listenEdge } from './listen.js';

const c = loadConfigOrExit('edge', edgeConfigSchema, {}, deriveEdgeConfig);
const s = c.settings;
const tlsWatcher = c.tls ? watchTlsFiles(c.tls) : undefined;
const db = createDb(s.DATABASE_URL, 5);
// The web app's CSP allows the playback origin and, with content steering, every edge and the steering server.
const mediaOrigins = [...(s.EDGE_PUBLIC_URL ? [new URL(s.EDGE_PUBLIC_URL).origin] : []), ...(c.steering ? steeringOrigins(c.steering) : [])];
// With NATS: parked blocking reloads are woken by the packager's announcements; without: storage polls.
const messaging = s.NATS_URL ? await connectMessaging(s.NATS_URL, 'edge', c.natsAuth) : undefined;
const app = await buildEdge({
  db, storage: createObjectStorage(c.storage), logger: { name: 'edge', level: s.LOG_LEVEL },
  ...(c.playbackKeys ? { playbackKeys: c.playbackKeys } : {}),
  ...(c.cacheBytes !== undefined ? { objectCacheBytes: c.cacheBytes } : {}),
  ...(c.contentKeySecret ? { contentKeySecret: c.contentKeySecret } : {}),
  ...(c.steering ? { steering: c.steering } : {}),
  ...(tlsWatcher ? { https: tlsWatcher.current() } : {}),
  ...(s.TRUST_PROXY ? { trustProxy: s.TRUST_PROXY } : {}),
  server: c.server, cmsd: s.EDGE_CMSD,
  maxBlockingPerClient: s.EDGE_MAX_BLOCKING_PER_CLIENT, maxWatchedPlaylists: s.EDGE_MAX_WATCHED_PLAYLISTS,
  playlistTokens: s.EDGE_PLAYLIST_TOKENS, accessLog: s.EDGE_ACCESS_LOG, coldLookupConcurrency: s.EDGE_COLD_LOOKUP_CONCURRENCY, coldLookupQueue: s.EDGE_COLD_LOOKUP_QUEUE,
  ...(messaging ? { announcements: natsAnnouncementSource(messaging.nc), live: { maxSessions: s.EDGE_LIVE_SESSIONS, ...(c.liveBytes !== undefined ? { maxBytes: c.liveBytes } : {}) } } : {}),
  ...(s.WEB_ROOT ? { web: { root: s.WEB_ROOT, hsts: c.https, ...(mediaOrigins.length > 0 ? { mediaOrigins } : {}) } } : {}),
});
if (tlsWatcher) applyTlsReloads(tlsWatcher, app.server as unknown as Parameters<typeof applyTlsReloads>[1]);
const edge = await listenEdge(app, { host: s.EDGE_HOST, port: s.EDGE_PORT });
app.log.info({ port: edge.port, server: c.server }, 'edge listening');
handleShutdown(app.log, [
  { name: 'http', run: () => edge.close() },
  { name: 'tls watcher', run: () => tlsWatcher?.close() },
  { name: 'database', run: () => db.destroy() },
  { name: 'nats', run: async () => { await messaging?.close(); } },
]);
