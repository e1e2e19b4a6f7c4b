import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** What the engine is sent for one registry (`X-Registry-Auth`); never logged nor reported. */
export interface RegistryCredentials {
  username: string;
  password: string;
  serveraddress: string;
}

type Auths = Record<string, { auth?: string; username?: string; password?: string }>;

/** Docker Hub's key in `auths`, as `docker login` writes it. */
const DOCKER_HUB = 'https://index.docker.io/v1/';
/** The names Docker Hub goes by in image references and `auths` keys. */
const DOCKER_HUB_HOSTS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** A registry as an `auths` key or a reference names it: its host, or DOCKER_HUB for any of Hub's names. */
function registryHost(name: string): string {
  const host = name.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB_HOSTS.includes(host) ? DOCKER_HUB : host;
}

/**
 * The registry an image reference names: its first path component when that looks like a
 * host (a dot, a port or `localhost`), otherwise Docker Hub. Hub's own names
 * (`docker.io/acme/x`, `registry-1.docker.io/acme/x`) are Docker Hub too.
 */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? registryHost(first) : DOCKER_HUB;
}

/** The `auths` of a Docker config.json; a missing file has none, an unreadable one says which. */
function readAuths(file: string, required: boolean): Auths {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read registry credentials from ${file}: ${(error as Error).message}`);
  }
  try {
    return ((JSON.parse(text) as { auths?: Auths }).auths ?? {}) as Auths;
  } catch {
    throw new Error(`registry credentials file ${file} is not JSON (a Docker config.json with "auths")`);
  }
}

/** One file of credentials, as last read, and how it looked then (so that a change is read again). */
interface AuthsFile {
  file: string;
  /** An explicit file must exist; the default config.json may not. */
  required: boolean;
  auths: Auths;
  /** Its modification time and size when `auths` was read ('missing' for an absent default file). */
  stamp?: string;
}

/**
 * Registry credentials the way Docker users keep them: `auths` of an explicit file, then those
 * of `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`); the explicit file's win. A
 * file is read at the start (an unreadable explicit file stops it) and again before a pull
 * once it has changed (a `docker login` since, say); a change that cannot be read keeps the
 * credentials read before, with a warning, and is tried again at the next pull. They are handed
 * to the engine for a pull and nowhere else.
 */
export class RegistryAuth {
  private readonly files: AuthsFile[];
  private readonly logger?: Logger;

  constructor(options: { explicitFile?: string; env?: NodeJS.ProcessEnv; logger?: Logger } = {}) {
    const env = options.env ?? process.env;
    const configDir = env.DOCKER_CONFIG ?? join(homedir(), '.docker');
    this.logger = options.logger;
    this.files = [
      ...(options.explicitFile ? [{ file: options.explicitFile, required: true, auths: {} }] : []),
      { file: join(configDir, 'config.json'), required: false, auths: {} },
    ];
    for (const source of this.files) this.refresh(source);
  }

  /** The credentials for the registry of `image`, if any are kept (the files read again if changed). */
  credentialsFor(image: string): RegistryCredentials | undefined {
    const registry = registryOf(image);
    for (const source of this.files) {
      this.refresh(source);
      for (const [key, entry] of Object.entries(source.auths)) {
        if (registryHost(key) !== registry) continue;
        let { username, password } = entry ?? {};
        if (entry?.auth) {
          const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
        }
        if (username && password !== undefined) return { username, password, serveraddress: registry };
      }
    }
    return undefined;
  }

  /** Reads `source` again if it changed since; throws only on the first read. */
  private refresh(source: AuthsFile): void {
    let stamp: string;
    try {
      const stats = statSync(source.file);
      stamp = `${stats.mtimeMs}:${stats.size}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === source.stamp) return;
    try {
      source.auths = readAuths(source.file, source.required);
      source.stamp = stamp;
    } catch (error) {
      if (source.stamp === undefined) throw error;
      this.logger?.warn(
        { file: source.file, err: (error as Error).message },
        'cannot read the changed registry credentials; using those read before',
      );
    }
  }
}
