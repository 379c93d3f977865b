/**
 * The operator CLI as a library (for tests and scripts): the commander program and its runner,
 * the replays and the event-history printer.
 */
export * from './program.js';
export * from './config.js';
export * from './log.js';
export * from './progress.js';
export * from './report.js';
export * from './replay-readmodels.js';
export * from './replay-analytics.js';
export * from './events-command.js';
export { ReplayBusyError, advisoryLockKey } from './pg.js';
