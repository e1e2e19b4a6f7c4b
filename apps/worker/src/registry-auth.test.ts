import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TemporaryDirectory, temporaryDirectory } from '@gyoza/test-support';
import pino from 'pino';
import { RegistryAuth, registryOf } from './registry-auth';

// Credentials as Docker users keep them, in real files of a fresh directory per test.
let directory: TemporaryDirectory;

beforeEach(() => {
  directory = temporaryDirectory('gyoza-registry-auth-');
});

afterEach(() => directory.remove());

const HUB = 'https://index.docker.io/v1/';
const basic = (username: string, password: string) => ({
  auth: Buffer.from(`${username}:${password}`).toString('base64'),
});

/** Writes a config.json holding `auths`, dated `secondsFromNow` from now (so that each write is a change). */
function writeAuths(file: string, auths: Record<string, unknown>, secondsFromNow = 0): void {
  writeFileSync(file, JSON.stringify({ auths }));
  const at = Date.now() / 1000 + secondsFromNow;
  utimesSync(file, at, at);
}

it.each(['acme/x', 'acme/x:1.0', 'docker.io/acme/x', 'index.docker.io/acme/x', 'registry-1.docker.io/acme/x:latest'])(
  'matches %s to the Docker Hub credentials of `docker login`',
  (image) => {
    writeAuths(join(directory.dir, 'config.json'), { [HUB]: basic('hubuser', 'hubpass') });
    const auth = new RegistryAuth({ env: { DOCKER_CONFIG: directory.dir } });
    expect(registryOf(image)).toBe(HUB);
    expect(auth.credentialsFor(image)).toEqual({ username: 'hubuser', password: 'hubpass', serveraddress: HUB });
  },
);

it.each(['docker.io', 'https://registry-1.docker.io', 'index.docker.io'])(
  'takes Docker Hub credentials kept under %s too, and an explicit file wins whatever it calls Hub',
  (key) => {
    writeAuths(join(directory.dir, 'config.json'), { [HUB]: basic('default', 'pw') });
    const explicit = join(directory.dir, 'explicit.json');
    writeAuths(explicit, { [key]: basic('explicit', 'pw2') });
    const auth = new RegistryAuth({ explicitFile: explicit, env: { DOCKER_CONFIG: directory.dir } });
    expect(auth.credentialsFor('docker.io/acme/x')).toMatchObject({ username: 'explicit', serveraddress: HUB });
  },
);

it('keeps other registries apart from Docker Hub', () => {
  writeAuths(join(directory.dir, 'config.json'), {
    [HUB]: basic('hubuser', 'pw'),
    'registry.example.com:5000': basic('own', 'pw'),
  });
  const auth = new RegistryAuth({ env: { DOCKER_CONFIG: directory.dir } });
  expect(auth.credentialsFor('registry.example.com:5000/acme/x')).toMatchObject({
    username: 'own',
    serveraddress: 'registry.example.com:5000',
  });
  expect(auth.credentialsFor('ghcr.io/acme/x')).toBeUndefined();
});

it('reads the credentials file again when it changes, and keeps the last good ones while a change is unreadable', () => {
  const explicit = join(directory.dir, 'explicit.json');
  writeAuths(explicit, { 'localhost:5000': basic('first', 'pw') });
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  const auth = new RegistryAuth({ explicitFile: explicit, env: { DOCKER_CONFIG: directory.dir }, logger });
  expect(auth.credentialsFor('localhost:5000/x')?.username).toBe('first');

  writeAuths(explicit, { 'localhost:5000': basic('second', 'pw') }, 10);
  expect(auth.credentialsFor('localhost:5000/x')?.username).toBe('second');

  writeFileSync(explicit, '{"auths": {"localhost:5000": '); // caught half written
  utimesSync(explicit, Date.now() / 1000 + 20, Date.now() / 1000 + 20);
  expect(auth.credentialsFor('localhost:5000/x')?.username).toBe('second');
  expect(warnings).toEqual(['cannot read the changed registry credentials; using those read before']);

  writeAuths(explicit, { 'localhost:5000': basic('third', 'pw') }, 30);
  expect(auth.credentialsFor('localhost:5000/x')?.username).toBe('third');
});

it('reads a default config.json that appears after the start', () => {
  const auth = new RegistryAuth({ env: { DOCKER_CONFIG: directory.dir } });
  expect(auth.credentialsFor('localhost:5000/x')).toBeUndefined();
  writeAuths(join(directory.dir, 'config.json'), { 'localhost:5000': basic('late', 'pw') });
  expect(auth.credentialsFor('localhost:5000/x')?.username).toBe('late');
});

it('refuses to start with an explicit file that cannot be read', () => {
  expect(() => new RegistryAuth({ explicitFile: join(directory.dir, 'absent.json') })).toThrow(
    /cannot read registry credentials from .*absent\.json/,
  );
});
