/** The platform HTTP API (Fastify). */
export * from './app.js';
export * from './errors.js';
