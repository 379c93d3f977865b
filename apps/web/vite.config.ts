/**
 * Vite config for the web app.
 *
 * The page only ever uses same-origin relative URLs; this config proxies them:
 *   /api/*      → API_URL  (default http://127.0.0.1:8080) — the HTTP API (streams, accounts,
 *                 channels, discovery, notifications; the SSE stream `/api/notifications/stream`
 *                 passes through unbuffered)
 *   /live/*     → EDGE_URL (default http://127.0.0.1:8081) — live master/media playlists + segments
 *   /sessions/* → EDGE_URL                                  — VOD playlists, segments and MP4s
 *   /keys/*     → EDGE_URL                                  — AES-128 content keys (token required)
 *   /chat/*     → CHAT_URL (default http://127.0.0.1:8082) — chat rooms: WebSocket upgrades
 *                 (`ws: true`) to the chat gateway
 * for both `vite` (dev server) and `vite preview` (serving the built `dist/`).
 * Listens on 127.0.0.1:WEB_PORT (default 5173) and fails rather than picking another port.
 */
import { defineConfig, type ProxyOptions, type UserConfig } from 'vite';

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name} must be a TCP port (1-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

export default defineConfig((): UserConfig => {
  const apiUrl = process.env.API_URL || 'http://127.0.0.1:8080';
  const edgeUrl = process.env.EDGE_URL || 'http://127.0.0.1:8081';
  const chatUrl = process.env.CHAT_URL || 'http://127.0.0.1:8082';
  const port = portFromEnv('WEB_PORT', 5173);

  // Keys are path prefixes (String.startsWith); the trailing slash keeps e.g. /livestream
  // from being proxied. Paths are forwarded unchanged. `xfwd` adds X-Forwarded-For/-Proto/-Host
  // (appending the viewer's address to any X-Forwarded-For it sent), so that a service trusting
  // loopback as its proxy (`TRUST_PROXY=loopback`, as the embedded stack runs the API) sees each
  // viewer's own address: rate limits and sign-in throttling are per viewer, not per proxy.
  const proxy: Record<string, ProxyOptions> = {
    '/api/': { target: apiUrl, changeOrigin: true, xfwd: true },
    '/live/': { target: edgeUrl, changeOrigin: true, xfwd: true },
    '/sessions/': { target: edgeUrl, changeOrigin: true, xfwd: true },
    // AES-128 content keys of encrypted channels (EXT-X-KEY URI="/keys/<sessionId>/<n>.key")
    '/keys/': { target: edgeUrl, changeOrigin: true, xfwd: true },
    '/chat/': { target: chatUrl, changeOrigin: true, ws: true, xfwd: true },
  };

  return {
    // No @vitejs/plugin-react: Vite's built-in esbuild compiles TSX with the automatic runtime.
    esbuild: { jsx: 'automatic' },
    server: { host: '127.0.0.1', port, strictPort: true, proxy },
    preview: { host: '127.0.0.1', port, strictPort: true, proxy },
    // The player chunk is the full hls.js build (~600 kB minified, ~190 kB gzip), loaded only
    // on /watch/* routes; warn above that rather than at Vite's 500 kB default.
    build: { outDir: 'dist', chunkSizeWarningLimit: 700 },
  };
});
