/**
 * Analytics adapter: the ClickHouse client factory (a ClickHouse server over HTTP, or embedded
 * chDB), the versioned ClickHouse DDL, the row mappings of the projected tables, a batch
 * inserter, the analytics queries the API serves, and the ClickHouse HTTP interface the chDB
 * owner serves to other processes. Every symbol is documented where it is defined.
 */
export * from './client.js';
export * from './migrations.js';
export * from './rows.js';
export * from './telemetry-rows.js';
export * from './batch.js';
export * from './insert.js';
export * from './queries.js';
export * from './http-server.js';
export { decodeQueryParams } from './query-params.js';
/** The `@clickhouse/client` client type every function here takes, re-exported so that callers need no direct dependency. */
export type { ClickHouseClient } from '@clickhouse/client';
export * from './sources.js';
