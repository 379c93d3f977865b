/** The HLS edge/origin: playlists and segments from object storage. */
export * from './app.js';
export * from './listen.js';
