/** Read-model projections from the EVENTS log into PostgreSQL. */
export * from './projector.js';
