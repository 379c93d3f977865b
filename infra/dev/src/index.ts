/** The embedded local stack: services, apps, bootstrap. */
export * from './stack.js';
export * from './services/index.js';
