/**
 * The web app's static files (`apps/web/dist`, built by Vite) served by the edge in production
 * (docs/architecture.md, "Embedded default and production mode"): hashed assets immutable for a
 * year, `index.html` revalidated on every load, client-side routes (`/watch/live/demo`,
 * `/dashboard`, …) answered with `index.html` (the history-API fallback every single-page app
 * server does), and security headers on every page and asset: a Content-Security-Policy that
 * allows only this origin (plus the playback origin when playlists come from a CDN),
 * `frame-ancestors 'none'`, `nosniff`, a strict referrer policy and, when viewers arrive over
 * HTTPS, Strict-Transport-Security (RFC 6797).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';

/** Options of {@link registerWebApp}. */
export interface WebAppOptions {
  /** Directory holding `index.html` and `assets/` (Vite's `dist/`). */
  readonly root: string;
  /** Send Strict-Transport-Security (viewers reach the page over HTTPS). */
  readonly hsts: boolean;
  /**
   * Other origins the page loads playlists, segments and keys from (the edge or CDN of
   * `EDGE_PUBLIC_URL` when it is not this origin), e.g. `https://cdn.example.com`.
   */
  readonly mediaOrigins?: readonly string[];
}

/** Path prefixes that belong to the edge's media routes, never to the web app's fallback. */
const MEDIA_PREFIXES = ['/live/', '/sessions/', '/keys/', '/healthz', '/metrics'];

/**
 * The Content-Security-Policy of the web app (W3C CSP Level 3). hls.js feeds Media Source
 * Extensions (`blob:` media) and may run its transmuxer in a `blob:` worker; the page's own
 * styles are files, but React sets `style` attributes, which CSP's `style-src-attr` governs.
 */
export function webContentSecurityPolicy(mediaOrigins: readonly string[] = []): string {
  const media = mediaOrigins.join(' ');
  const directives: Array<[string, string]> = [
    ['default-src', "'self'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    ['style-src-attr', "'unsafe-inline'"],
    ['img-src', `'self' data: blob: ${media}`],
    ['media-src', `'self' blob: ${media}`],
    ['connect-src', `'self' ${media}`],
    ['worker-src', "'self' blob:"],
    ['font-src', "'self'"],
    ['object-src', "'none'"],
    ['base-uri', "'self'"],
    ['form-action', "'self'"],
    ['frame-ancestors', "'none'"],
  ];
  return directives.map(([k, v]) => `${k} ${v.trim()}`).join('; ');
}

/**
 * Security headers of every web app response (CSP, framing, MIME sniffing, referrer, HSTS).
 * @param hsts whether to add `Strict-Transport-Security: max-age=31536000`.
 */
export function webSecurityHeaders(hsts: boolean, mediaOrigins: readonly string[] = []): Record<string, string> {
  return {
    'content-security-policy': webContentSecurityPolicy(mediaOrigins),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'cross-origin-opener-policy': 'same-origin',
    ...(hsts ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/**
 * Serves the web app from `opts.root` on the edge's Fastify instance: files by path, and
 * `index.html` for a GET/HEAD of any other path outside the media routes that asks for HTML.
 * Returns the not-found hook the edge's own not-found handler calls first: it answers the
 * fallback and returns true, or returns false to let the edge answer its JSON 404.
 * @throws Error when `root` has no `index.html` (a web app that was not built).
 */
export async function registerWebApp(app: FastifyInstance, opts: WebAppOptions): Promise<(req: FastifyRequest, reply: FastifyReply) => boolean> {
  if (!existsSync(join(opts.root, 'index.html'))) throw new Error(`WEB_ROOT has no index.html: ${opts.root} (build the web app with \`npm run build\`)`);
  const headers = webSecurityHeaders(opts.hsts, opts.mediaOrigins);
  await app.register(fastifyStatic, {
    root: opts.root,
    prefix: '/',
    index: ['index.html'],
    // Routes of the media API are registered separately and win by specificity.
    wildcard: true,
    cacheControl: false,
    setHeaders(res, path) {
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      // Vite content-hashes everything under assets/: cache for a year; the page itself revalidates.
      res.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return (req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if ((req.method !== 'GET' && req.method !== 'HEAD') || MEDIA_PREFIXES.some((p) => path.startsWith(p))) return false;
    if (!(req.headers.accept ?? '').includes('text/html')) return false;
    void reply.header('cache-control', 'no-cache').sendFile('index.html');
    return true;
  };
}
