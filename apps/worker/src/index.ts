/** The Temporal worker of the media pipeline and the lifecycle consumer. */
export * from './activities.js';
export * from './lifecycle.js';
export * from './workflows-path.js';
