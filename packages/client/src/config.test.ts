import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLocalApiKey, resolveConfig } from './config';

describe('resolveConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gyoza-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers arguments, then the environment, then defaults', () => {
    const env = { GYOZA_SERVER_URL: 'http://10.0.0.1:9/', GYOZA_API_KEY: 'from-env' };
    expect(resolveConfig({ baseUrl: 'http://a:1', apiKey: 'arg', env })).toMatchObject({
      baseUrl: 'http://a:1',
      apiKey: 'arg',
    });
    expect(resolveConfig({ env })).toMatchObject({ baseUrl: 'http://10.0.0.1:9', apiKey: 'from-env', retries: 2 });
    expect(resolveConfig({ env: {}, apiKeyFiles: [join(dir, 'none')] })).toEqual({
      baseUrl: 'http://127.0.0.1:5555',
      timeoutMs: 30_000,
      retries: 2,
      retryDelayMs: 200,
    });
  });

  it('falls back to the key file a local server wrote, beside its SQLite database', () => {
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'api-key'), 'from-data-dir\n', { mode: 0o600 });
    writeFileSync(join(dir, 'api-key'), 'from-default\n');
    const env = { GYOZA_DATABASE_URL: `sqlite:${join(dir, 'data', 'gyoza.db')}` };
    expect(readLocalApiKey([join(dir, 'api-key')], env)).toBe('from-data-dir');
    expect(readLocalApiKey([join(dir, 'api-key')], {})).toBe('from-default');
    expect(resolveConfig({ env: {}, apiKeyFiles: [join(dir, 'api-key')] }).apiKey).toBe('from-default');
    expect(readLocalApiKey([join(dir, 'missing')], {})).toBeUndefined();
  });
});
