/**
 * Temporal workflow definitions — the one entry file the worker bundles (`workflowsPath`).
 * Deterministic code only: no Node built-ins, no I/O (lint rule in eslint.config.js).
 */
export * from './live-stream.js';
export * from './recordings.js';
export type * from './activities.js';
