import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GyozaError, httpStatusOf } from '@gyoza/domain';
import {
  ConfigError,
  FLAG_SETTINGS,
  LOG_LEVELS,
  loadConfig,
  renderSettingsTable,
  SETTINGS,
  type SettingName,
  settingsEnvironment,
} from '@gyoza/server';

const NAMES = Object.keys(SETTINGS) as SettingName[];

describe('the settings declaration', () => {
  it('gives every setting a GYOZA_ variable of its own, help, and its unit in its name', () => {
    const variables = NAMES.map((name) => SETTINGS[name].variable);
    expect(new Set(variables).size).toBe(NAMES.length);
    for (const name of NAMES) {
      const setting = SETTINGS[name];
      expect(setting.variable).toMatch(/^GYOZA_[A-Z_]+$/);
      expect(setting.help.length).toBeGreaterThan(3);
      if (setting.unit === 'seconds')
        expect([name, setting.variable]).toEqual([
          expect.stringMatching(/Seconds$/),
          expect.stringMatching(/_SECONDS$/),
        ]);
      if (setting.unit === 'bytes')
        expect([name, setting.variable]).toEqual([expect.stringMatching(/Bytes$/), expect.stringMatching(/_BYTES$/)]);
    }
  });

  it('is what the README table shows (node scripts/settings-table.js regenerates it)', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    expect(readme).toContain(`-->\n${renderSettingsTable()}\n<!-- settings-table:end -->`);
    for (const name of NAMES) expect(renderSettingsTable()).toContain(`\`${SETTINGS[name].variable}\``);
  });

  it('parses every default back to itself', () => {
    const defaults = loadConfig({}, {});
    for (const name of NAMES) expect(defaults[name]).toEqual(SETTINGS[name].defaultValue);
  });

  it('hands a child process every setting but the key through its environment', () => {
    const config = loadConfig(
      { port: 6001, logLevel: 'warn', strategy: 'direct', apiKey: 'a-long-secret-key', requestTimeoutSeconds: 12 },
      {},
    );
    const env = settingsEnvironment(config);
    expect(env.GYOZA_API_KEY).toBeUndefined();
    expect(Object.values(env)).not.toContain('a-long-secret-key');
    expect(loadConfig({}, env)).toEqual({ ...config, apiKey: undefined });
  });

  it('accepts exactly the log levels pino has, and no alias the CLI could accept alone', () => {
    expect(SETTINGS.logLevel.choices).toEqual(LOG_LEVELS);
    expect(loadConfig({}, { GYOZA_LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
    expect(() => loadConfig({ logLevel: 'warning' as 'warn' }, {})).toThrow(
      "GYOZA_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got 'warning'",
    );
    expect(FLAG_SETTINGS).toEqual(['host', 'port', 'workers', 'reload', 'logLevel']);
  });

  it('refuses an unknown scheduler strategy naming the variable (the scheduler names none)', () => {
    expect(() => loadConfig({}, { GYOZA_SCHEDULER_STRATEGY: 'random' })).toThrow(
      "GYOZA_SCHEDULER_STRATEGY: must be one of direct, best-fit, got 'random'",
    );
  });

  it('makes a bad setting a GyozaError with the CONFIG_INVALID code', () => {
    const error = new ConfigError('GYOZA_PORT', 'must be an integer');
    expect(error).toBeInstanceOf(GyozaError);
    expect([error.name, error.code, httpStatusOf(error.code)]).toEqual(['ConfigError', 'CONFIG_INVALID', 500]);
    expect(error.details).toEqual([{ field: 'GYOZA_PORT', message: 'must be an integer' }]);
  });
});
