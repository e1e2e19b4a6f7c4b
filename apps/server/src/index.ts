/**
 * The gyoza server: `start(options)` / `closeOnSignals`, or both with the signals heeded while
 * starting too, `startUntilSignal` (settings -> store -> scheduler -> api -> HTTP, one process
 * or a cluster; `StartupError` when it cannot start), the settings (`SETTINGS`, `loadConfig`,
 * `ConfigError`, the README table's `renderSettingsTable`), the store from `GYOZA_DATABASE_URL`
 * (`openStore`, `parseDatabaseUrl`) and the API key file (`ensureApiKey`, `readLocalApiKey`).
 */
export { API_KEY_FILE, ensureApiKey, readLocalApiKey } from './api-key';
export { type ConfigOverrides, loadConfig, settingsEnvironment } from './config';
export { closeOnSignals, type RunningServer, type StartOptions, StartupError, start } from './server';
export {
  ConfigError,
  DEFAULT_DATABASE_URL,
  FLAG_SETTINGS,
  flagName,
  helpText,
  LOG_LEVELS,
  SETTINGS,
  type ServerConfig,
  type Setting,
  type SettingName,
} from './settings';
export { renderSettingsTable, withSettingsTable } from './settings-table';
export { startUntilSignal } from './signals';
export { dataDirectory, openStore, parseDatabaseUrl, type StoreLocation } from './store-url';
