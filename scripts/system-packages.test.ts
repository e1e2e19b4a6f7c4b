import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = join(__dirname, 'system-packages.sh');

/** Runs the script with a PATH holding only bash, env and the given fake binaries. */
function missingWith(binaries: string[], postgresqlLib = '/nonexistent'): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'gyoza-path-'));
  try {
    symlinkSync(execFileSync('bash', ['-c', 'command -v bash']).toString().trim(), join(dir, 'bash'));
    for (const name of binaries) {
      writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, name), 0o755);
    }
    const env = { PATH: dir, GYOZA_POSTGRESQL_LIB: postgresqlLib };
    const out = execFileSync(join(dir, 'bash'), [script], { env }).toString();
    return out.split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('scripts/system-packages.sh', () => {
  it('asks for docker.io on a machine that has the docker client but no dockerd', () => {
    expect(missingWith(['docker', 'go'])).toContain('docker.io');
  });

  it('asks for nothing the PATH already provides', () => {
    expect(missingWith(['dockerd', 'go'])).not.toContain('docker.io');
    expect(missingWith(['dockerd', 'go'])).not.toContain('golang-go');
  });

  it('asks for go when it is missing', () => {
    expect(missingWith(['dockerd'])).toContain('golang-go');
  });

  it('asks for postgresql when initdb is neither on the PATH nor in /usr/lib/postgresql/<version>/bin', () => {
    expect(missingWith(['dockerd', 'go'])).toContain('postgresql');
    expect(missingWith(['dockerd', 'go', 'initdb'])).not.toContain('postgresql');
    const lib = mkdtempSync(join(tmpdir(), 'gyoza-pglib-'));
    try {
      mkdirSync(join(lib, '15', 'bin'), { recursive: true });
      writeFileSync(join(lib, '15', 'bin', 'initdb'), '');
      expect(missingWith(['dockerd', 'go'], lib)).not.toContain('postgresql');
    } finally {
      rmSync(lib, { recursive: true, force: true });
    }
  });

  it('asks for apache2-utils when htpasswd (for the test registry password file) is missing', () => {
    expect(missingWith(['dockerd', 'go'])).toContain('apache2-utils');
    expect(missingWith(['dockerd', 'go', 'htpasswd'])).not.toContain('apache2-utils');
  });
});
