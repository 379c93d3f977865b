/** The RTMP ingest node: RTMP server, HTTP-FLV relay, lifecycle events, control listener. */
export * from './node.js';
export * from './control.js';
export * from './publish-lifecycle.js';
export * from './publish-gate.js';
export * from './reconnect.js';
export * from './rtmp/index.js';
export * from './relay/index.js';
