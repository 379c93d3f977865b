export {
  ConfigError, EXIT_CONFIG, FilePath, Host, List, LogLevel, Port, Secret, Url, describeConfig, loadConfig, loadConfigOrExit, parseSetting, checkSettings,
  type LoadConfigOptions, type SettingDescription, type SettingOptions,
} from './config.js';
export {
  clickhouseClientSettings, databaseSettings, logSettings, natsSettings, restreamSettings, servedOverHttps, storageSettings, temporalSettings, tlsFilesOf, tlsSettings, trustProxySettings, PROXY_TRUST_ITEMS,
} from './settings.js';
export { handleShutdown, type ShutdownHandle, type ShutdownLogger, type ShutdownOptions, type ShutdownStep } from './shutdown.js';
export { clientAddress, compileProxyTrust, nodeStyleAddress, trustBehindLocalFront, type ProxyTrust } from './proxy.js';
export * from './tls.js';
export { edgePathwaysSettings, parseEdgePathways, PATHWAY_ID, type EdgePathway } from './pathways.js';
export { ConcurrencyLimit, QueueFullError } from './concurrency.js';
export { ConnectionCounter, normalizeAddress, OffenderLog, type ConnectionCounterLimits, type OffenderLogDecision, type OffenderLogOptions } from './bounds.js';
