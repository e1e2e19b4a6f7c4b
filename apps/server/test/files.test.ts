// The server's own files are private: real directories and files, modes read with stat.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, start } from '@gyoza/server';
import { requireBuilt, type TemporaryDirectory, temporaryDirectory } from '@gyoza/test-support';

const main = join(__dirname, '..', 'dist', 'main.js');
const modeOf = (path: string) => statSync(path).mode & 0o777;

let tmp: TemporaryDirectory;
beforeEach(() => {
  tmp = temporaryDirectory('gyoza-files-');
});
afterEach(() => tmp.remove());

it('creates the data directory 0700 and the database, its WAL files and the key 0600, whatever the umask', async () => {
  const data = join(tmp.dir, 'data');
  // With no umask at all, every mode below is the one the server asked for.
  const umask = process.umask(0);
  let server: Awaited<ReturnType<typeof start>> | undefined;
  try {
    server = await start({ port: 0, logLevel: 'silent', databaseUrl: `sqlite:${data}/gyoza.db`, env: {} });
  } finally {
    process.umask(umask);
  }
  try {
    // A write, so SQLite has its -wal and -shm files open.
    const res = await fetch(`${server.url}/runs`, {
      method: 'POST',
      headers: { 'X-API-Key': server.apiKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({ image: 'busybox' }),
    });
    expect(res.status).toBe(201);
    expect(modeOf(data)).toBe(0o700);
    for (const file of ['gyoza.db', 'gyoza.db-wal', 'gyoza.db-shm', 'api-key']) {
      expect([file, modeOf(join(data, file))]).toEqual([file, 0o600]);
    }
  } finally {
    await server.close();
  }
});

it('refuses a key file other users can read, in one line naming the file and the fix', async () => {
  const data = join(tmp.dir, 'data');
  mkdirSync(data);
  const keyFile = join(data, 'api-key');
  writeFileSync(keyFile, 'an-old-key-0123456789\n');
  chmodSync(keyFile, 0o644);
  const starting = start({ port: 0, logLevel: 'silent', databaseUrl: `sqlite:${data}/gyoza.db`, env: {} });
  await expect(starting).rejects.toThrow(ConfigError);
  await expect(starting).rejects.toThrow(
    `GYOZA_API_KEY: the key file ${keyFile} is open to other users (mode 0644); run: chmod 600 ${keyFile}`,
  );

  chmodSync(keyFile, 0o600);
  const server = await start({ port: 0, logLevel: 'silent', databaseUrl: `sqlite:${data}/gyoza.db`, env: {} });
  expect(server.apiKey).toBe('an-old-key-0123456789');
  await server.close();
});

it('exits 2 with that line when started as a process', async () => {
  requireBuilt(main);
  const keyFile = join(tmp.dir, 'api-key');
  writeFileSync(keyFile, 'an-old-key-0123456789\n', { mode: 0o640 });
  chmodSync(keyFile, 0o640);
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH, GYOZA_DATABASE_URL: `sqlite:${tmp.dir}/gyoza.db`, GYOZA_PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  expect(await exited).toBe(2);
  expect(stderr).toBe(
    `gyoza: GYOZA_API_KEY: the key file ${keyFile} is open to other users (mode 0640); run: chmod 600 ${keyFile}\n`,
  );
});
