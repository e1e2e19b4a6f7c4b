import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What the engine is sent for one registry (`X-Registry-Auth`); never logged nor reported. */
export interface RegistryCredentials {
  username: string;
  password: string;
  serveraddress: string;
}

type Auths = Record<string, { auth?: string; username?: string; password?: string }>;

/** Docker Hub's key in `auths`, as `docker login` writes it. */
const DOCKER_HUB = 'https://index.docker.io/v1/';

/**
 * The registry an image reference names: its first path component when that looks like a
 * host (a dot, a port or `localhost`), otherwise Docker Hub.
 */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : DOCKER_HUB;
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

/**
 * Registry credentials the way Docker users keep them: `auths` of `$DOCKER_CONFIG/config.json`
 * (or `~/.docker/config.json`), then those of an explicit file in the same format, which win.
 * They are handed to the engine for a pull and nowhere else.
 */
export class RegistryAuth {
  private readonly auths: Auths;

  constructor(options: { explicitFile?: string; env?: NodeJS.ProcessEnv } = {}) {
    const env = options.env ?? process.env;
    const configDir = env.DOCKER_CONFIG ?? join(homedir(), '.docker');
    this.auths = {
      ...readAuths(join(configDir, 'config.json'), false),
      ...(options.explicitFile ? readAuths(options.explicitFile, true) : {}),
    };
  }

  /** The credentials for the registry of `image`, if any are kept. */
  credentialsFor(image: string): RegistryCredentials | undefined {
    const registry = registryOf(image);
    const candidates = registry === DOCKER_HUB ? [DOCKER_HUB, 'docker.io', 'index.docker.io'] : [registry];
    for (const key of Object.keys(this.auths)) {
      const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      if (!candidates.includes(key) && !candidates.includes(host)) continue;
      const entry = this.auths[key] ?? {};
      let { username, password } = entry;
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      }
      if (username && password !== undefined) return { username, password, serveraddress: registry };
    }
    return undefined;
  }
}
