import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type TemporaryDirectory, temporaryDirectory } from './databases';
import { freePort, waitFor } from './processes';

const run = promisify(execFile);

/** The CNCF distribution registry that scripts/install-registry.sh builds. */
export function registryBinary(): string {
  const gopath = process.env.GOPATH ?? join(homedir(), 'go');
  const bin = join(gopath, 'bin', 'registry');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/install-registry.sh`);
  return bin;
}

export interface RegistryOptions {
  /** With these, the registry asks for basic auth (an `auth.htpasswd` bcrypt file from `htpasswd -Bbn`). */
  credentials?: { username: string; password: string };
}

/**
 * A real OCI registry on 127.0.0.1:<free port> with its storage in a temporary directory.
 * Docker treats loopback registries as insecure, so push and pull go over plain HTTP.
 * `stop()` and `start()` again keep the port and the storage (a registry down, then up).
 */
export class TestRegistry {
  /** `127.0.0.1:<port>`, the prefix of every image pushed here. */
  readonly host: string;
  private child?: ChildProcess;
  private constructor(
    readonly port: number,
    private readonly directory: TemporaryDirectory,
    private readonly configFile: string,
    readonly options: RegistryOptions,
  ) {
    this.host = `127.0.0.1:${port}`;
  }

  /** Writes the config (and the htpasswd file when asked) and starts the registry. */
  static async open(options: RegistryOptions = {}): Promise<TestRegistry> {
    const port = await freePort();
    const directory = temporaryDirectory('gyoza-registry-');
    const lines = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(directory.dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
    ];
    if (options.credentials) {
      const { username, password } = options.credentials;
      const { stdout } = await run('htpasswd', ['-Bbn', username, password]);
      const htpasswd = join(directory.dir, 'htpasswd');
      writeFileSync(htpasswd, stdout.trim());
      lines.push('auth:', '  htpasswd:', '    realm: gyoza-test', `    path: ${htpasswd}`);
    }
    const configFile = join(directory.dir, 'config.yml');
    writeFileSync(configFile, `${lines.join('\n')}\n`);
    const registry = new TestRegistry(port, directory, configFile, options);
    await registry.start();
    return registry;
  }

  /** Starts the registry (again) and waits until it answers `/v2/`. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(registryBinary(), ['serve', this.configFile], { stdio: 'ignore' });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitFor(`the registry on ${this.host}`, async () => {
      if (!this.child) throw new Error(`the registry on ${this.host} exited at start`);
      const answer = await fetch(`http://${this.host}/v2/`).catch(() => undefined);
      return answer && (answer.status === 200 || answer.status === 401) ? true : undefined;
    });
  }

  /** Stops the registry; its port and storage stay for a later `start()`. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  /** Stops the registry and removes its storage. */
  async close(): Promise<void> {
    await this.stop();
    this.directory.remove();
  }

  /**
   * Pushes a local image here as `<host>/<repository>` and removes that local tag, so the
   * engine must pull it back. Returns the pushed reference.
   */
  async push(localImage: string, repository: string): Promise<string> {
    const reference = `${this.host}/${repository}`;
    const env = { ...process.env, DOCKER_CONFIG: this.dockerConfigDir() };
    await run('docker', ['tag', localImage, reference]);
    try {
      await run('docker', ['push', '--quiet', reference], { env });
    } finally {
      await run('docker', ['rmi', reference]).catch(() => undefined);
    }
    return reference;
  }

  /** Writes a Docker config directory whose `auths` hold this registry's credentials (if any). */
  dockerConfigDir(credentials = this.options.credentials): string {
    const dir = join(this.directory.dir, `docker-config-${credentials?.username ?? 'anonymous'}`);
    mkdirSync(dir, { recursive: true });
    const auths = credentials
      ? { [this.host]: { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') } }
      : {};
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths }));
    return dir;
  }
}

/** Removes a local image (every tag given) if present, so the next run must pull it. */
export async function removeLocalImage(reference: string): Promise<void> {
  await run('docker', ['rmi', '--force', reference]).catch(() => undefined);
}
