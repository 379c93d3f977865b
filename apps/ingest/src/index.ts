/** The RTMP ingest node: RTMP server, HTTP-FLV relay, lifecycle events. */
export * from './node.js';
export * from './rtmp/index.js';
export * from './relay/index.js';
