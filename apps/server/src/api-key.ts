import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, SETTINGS } from './settings';

export const API_KEY_FILE = 'api-key';

/** The key file of a local server, for the CLI and clients on the same machine. */
export function readLocalApiKey(dataDir = resolve('.gyoza')): string | undefined {
  try {
    return readFileSync(join(dataDir, API_KEY_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The data directory, made private (0700) when it does not exist yet; an existing one is left as it is. */
export function ensureDataDirectory(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * Refuses a key file that other users can read or change: the key is the whole of the API's
 * authentication. One line, naming the file and the fix.
 */
function checkPrivate(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      'GYOZA_API_KEY',
      `the key file ${path} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
    );
  }
}

/**
 * The key in the file, held to the same rules as GYOZA_API_KEY (the setting's own parser),
 * the file named in the refusal. Surrounding whitespace (the final newline) is not the key.
 */
function readKeyFile(path: string): string {
  const key = keyFileStep('read', path, () => {
    checkPrivate(path);
    return readFileSync(path, 'utf8').trim();
  });
  if (key === '')
    throw new ConfigError('GYOZA_API_KEY', `the key file ${path} is empty; write a key into it or delete it`);
  try {
    return SETTINGS.apiKey.parse(key) as string;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const reason = error.message.slice(`${error.variable}: `.length);
    throw new ConfigError('GYOZA_API_KEY', `the key in ${path} ${reason}; write another into it or delete it`);
  }
}

/**
 * Runs one file step of the key file; a file system refusal (a directory the service user
 * may not write, a key file it may not read, a path through a regular file) becomes one
 * line naming the file, its code and the way out.
 */
function keyFileStep<T>(step: 'read' | 'create', path: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof ConfigError || typeof code !== 'string') throw error;
    const fix =
      step === 'read' ? "make it a file the server's user can read" : `let the server's user write in ${dirname(path)}`;
    throw new ConfigError(
      'GYOZA_API_KEY',
      `cannot ${step} the key file ${path} (${code}); ${fix}, or set GYOZA_API_KEY`,
    );
  }
}

/**
 * The key in the data directory, made on first start (mode 0600, in a 0700 directory). The
 * key is written whole to a temporary file and linked into place, so concurrent first starts
 * agree (one link wins, the others read it) and nobody reads a half-written file. An existing
 * key file must be private (see checkPrivate).
 */
export function ensureApiKey(dataDir: string): { key: string; path: string; created: boolean } {
  const path = join(dataDir, API_KEY_FILE);
  keyFileStep('create', path, () => ensureDataDirectory(dataDir));
  if (existsSync(path)) return { key: readKeyFile(path), path, created: false };
  const key = randomBytes(24).toString('base64url');
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const linked = keyFileStep('create', path, () => {
    writeFileSync(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' });
    try {
      // The mode given to open is reduced by the umask; make it exactly 0600.
      chmodSync(temporary, 0o600);
      linkSync(temporary, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return false;
    } finally {
      rmSync(temporary, { force: true });
    }
  });
  if (!linked) return { key: readKeyFile(path), path, created: false };
  return { key, path, created: true };
}
