import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  dataDirectory,
  ensureApiKey,
  loadConfig,
  openStore,
  parseDatabaseUrl,
  readLocalApiKey,
} from '@gyoza/server';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({}, {})).toEqual({
      host: '127.0.0.1',
      port: 5555,
      reload: false,
      workers: 1,
      logLevel: 'info',
      apiKey: undefined,
      databaseUrl: 'sqlite:./.gyoza/gyoza.db',
      strategy: 'best-fit',
      trustProxy: '',
      workerTimeoutSeconds: 60,
      bodyLimitBytes: 1048576,
      headersTimeoutSeconds: 10,
      requestTimeoutSeconds: 30,
      keepAliveTimeoutSeconds: 5,
      imageLocalityWaitSeconds: 10,
      webhookAllowNetworks: '',
      webhookTimeoutSeconds: 10,
      webhookRetryBaseSeconds: 5,
      webhookMaxAttempts: 20,
      webhookMaxAgeSeconds: 86400,
    });
  });

  it('takes explicit values over the environment over defaults', () => {
    const env = { GYOZA_PORT: '6000', GYOZA_HOST: '0.0.0.0', GYOZA_WORKERS: '3', GYOZA_RELOAD: 'yes' };
    const fromEnv = loadConfig({}, env);
    expect(fromEnv).toMatchObject({ port: 6000, host: '0.0.0.0', workers: 3, reload: true });
    const explicit = loadConfig({ port: 7000, workers: 1, reload: false }, env);
    expect(explicit).toMatchObject({ port: 7000, host: '0.0.0.0', workers: 1, reload: false });
  });

  it.each([
    [{ GYOZA_PORT: 'http' }, 'GYOZA_PORT'],
    [{ GYOZA_PORT: '70000' }, 'GYOZA_PORT'],
    [{ GYOZA_WORKERS: '0' }, 'GYOZA_WORKERS'],
    [{ GYOZA_RELOAD: 'maybe' }, 'GYOZA_RELOAD'],
    [{ GYOZA_WEBHOOK_ALLOW_NETWORKS: '127.0.0.1' }, 'GYOZA_WEBHOOK_ALLOW_NETWORKS'],
    [{ GYOZA_WEBHOOK_ALLOW_NETWORKS: '10.0.0.0/8,localhost/8' }, 'GYOZA_WEBHOOK_ALLOW_NETWORKS'],
    [{ GYOZA_WEBHOOK_ALLOW_NETWORKS: '10.0.0.0/33' }, 'GYOZA_WEBHOOK_ALLOW_NETWORKS'],
    [{ GYOZA_TRUST_PROXY: '0.0.0.0/0' }, 'GYOZA_TRUST_PROXY'],
    [{ GYOZA_TRUST_PROXY: '10.0.0.0/8,::/0' }, 'GYOZA_TRUST_PROXY'],
    [{ GYOZA_LOG_LEVEL: 'loud' }, 'GYOZA_LOG_LEVEL'],
    [{ GYOZA_API_KEY: 'short' }, 'GYOZA_API_KEY'],
    [{ GYOZA_SCHEDULER_STRATEGY: 'random' }, 'GYOZA_SCHEDULER_STRATEGY'],
    [{ GYOZA_WORKER_TIMEOUT_SECONDS: '-5' }, 'GYOZA_WORKER_TIMEOUT_SECONDS'],
    [{ GYOZA_LOG_LEVEL: 'warning' }, 'GYOZA_LOG_LEVEL'],
    [{ GYOZA_HOST: '  ' }, 'GYOZA_HOST'],
    [{ GYOZA_HOST: ' 127.0.0.1' }, 'GYOZA_HOST'],
    [{ GYOZA_API_KEY: 'abcdefgh ' }, 'GYOZA_API_KEY'],
    [{ GYOZA_API_KEY: 'abcdéfgh' }, 'GYOZA_API_KEY'],
    [{ GYOZA_REQUEST_TIMEOUT_SECONDS: '0' }, 'GYOZA_REQUEST_TIMEOUT_SECONDS'],
    [{ GYOZA_HEADERS_TIMEOUT_SECONDS: '40' }, 'GYOZA_HEADERS_TIMEOUT_SECONDS'],
  ])('refuses %p naming %s in one line', (env, variable) => {
    let error: unknown;
    try {
      loadConfig({}, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message.startsWith(`${variable}: `)).toBe(true);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('store selection', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gyoza-server-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens SQLite from sqlite:<path>, creating its directory', async () => {
    const location = parseDatabaseUrl(`sqlite:${dir}/data/gyoza.db`);
    expect(location).toEqual({ kind: 'sqlite', path: join(dir, 'data', 'gyoza.db') });
    expect(dataDirectory(location)).toBe(join(dir, 'data'));
    const store = await openStore(location);
    expect(store.kind).toBe('sqlite');
    await store.close();
  });

  it('opens MongoDB from mongodb://', async () => {
    const uri = `${process.env.GYOZA_TEST_MONGODB_URI}gyoza_server_test`;
    const store = await openStore(parseDatabaseUrl(uri));
    expect(store.kind).toBe('mongo');
    await store.close();
  });

  it('refuses other schemes and unreachable databases with one line', async () => {
    expect(() => parseDatabaseUrl('postgres://x')).toThrow(
      "GYOZA_DATABASE_URL: must start with sqlite: or mongodb://, got 'postgres://x'",
    );
    expect(() => parseDatabaseUrl('sqlite:')).toThrow(ConfigError);
    expect(() => parseDatabaseUrl('sqlite::memory:')).toThrow('GYOZA_DATABASE_URL: sqlite::memory: is not supported');
    const unreachable = openStore({ kind: 'mongo', uri: 'mongodb://user:secret@127.0.0.1:1/db' });
    await expect(unreachable).rejects.toThrow(
      /^GYOZA_DATABASE_URL: cannot open the MongoDB store at mongodb:\/\/user:\*\*\*@127.0.0.1:1/,
    );
    await expect(unreachable).rejects.not.toThrow(/secret/);
    writeFileSync(join(dir, 'file'), 'not a directory');
    await expect(openStore({ kind: 'sqlite', path: join(dir, 'file', 'gyoza.db') })).rejects.toThrow(
      /^GYOZA_DATABASE_URL: cannot open .*(ENOTDIR|EEXIST)/,
    );
  });

  it('makes the API key once, mode 0600, and reads it back', () => {
    const first = ensureApiKey(join(dir, 'd'));
    expect(first.created).toBe(true);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const second = ensureApiKey(join(dir, 'd'));
    expect(second).toEqual({ ...first, created: false });
    expect(readLocalApiKey(join(dir, 'd'))).toBe(first.key);
    expect(readLocalApiKey(join(dir, 'none'))).toBeUndefined();
  });
});
