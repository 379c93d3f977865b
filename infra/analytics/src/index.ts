/**
 * Analytics adapter: the ClickHouse client factory (a ClickHouse server over HTTP, or embedded
 * chDB), the versioned ClickHouse DDL, the `domain_events` row mapping and a batch inserter.
 * Every symbol is documented where it is defined.
 */
export * from './client.js';
export * from './migrations.js';
export * from './rows.js';
export * from './batch.js';
