export { API_KEY_FILE, ensureApiKey, readLocalApiKey } from './api-key';
export { ConfigError, type ConfigOverrides, DEFAULT_DATABASE_URL, loadConfig, type ServerConfig } from './config';
export { closeOnSignals, type RunningServer, type StartOptions, start } from './server';
export { dataDirectory, openStore, parseDatabaseUrl, type StoreLocation } from './store-url';
