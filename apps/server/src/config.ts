import { ConfigError, SETTINGS, type ServerConfig, type Setting, type SettingName } from './settings';

export { ConfigError, DEFAULT_DATABASE_URL, type ServerConfig } from './settings';

/** Explicit values (CLI flags, `start()` arguments); undefined means "not given". */
export type ConfigOverrides = Partial<ServerConfig>;

/**
 * The server's settings: explicit value > `GYOZA_*` environment > default. Every value is
 * checked here, by the parser declared with it in SETTINGS, so a bad one stops start-up with
 * one line naming the variable.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const config: Record<string, unknown> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const setting: Setting<unknown> = SETTINGS[name];
    const explicit = overrides[name];
    const raw = env[setting.variable];
    if (explicit !== undefined) config[name] = setting.parse(String(explicit));
    else config[name] = raw === undefined || raw === '' ? setting.defaultValue : setting.parse(raw);
  }
  const result = config as ServerConfig;
  // Node refuses a headers timeout longer than the request timeout; say so in our terms.
  if (result.headersTimeoutSeconds > result.requestTimeoutSeconds) {
    throw new ConfigError(
      SETTINGS.headersTimeoutSeconds.variable,
      `must not exceed ${SETTINGS.requestTimeoutSeconds.variable} (${result.requestTimeoutSeconds})`,
    );
  }
  return result;
}

/**
 * The environment that gives a child process the same settings: every setting but the
 * secret ones (the API key goes over the cluster's IPC channel instead).
 */
export function settingsEnvironment(config: ServerConfig): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const setting: Setting<unknown> = SETTINGS[name];
    const value = config[name];
    env[setting.variable] = setting.secret || value === undefined ? undefined : String(value);
  }
  return env;
}
