import { execFileSync } from 'node:child_process';

/** The command of an image whose op runs the shell script given as its `script` input. */
export const SCRIPT_CMD = ['sh', '-c', 'eval "$GYOZA_INPUT_SCRIPT"'];

/**
 * Tags `gyoza-busybox:latest` (made by `scripts/start-docker.sh`) as `tag` with `cmd` as its
 * command, offline: a container of the base is committed with the new CMD and removed.
 */
export function commitBusyboxImage(tag: string, cmd: string[]): void {
  const base = execFileSync('docker', ['create', 'gyoza-busybox:latest', 'sh'], { encoding: 'utf8' }).trim();
  try {
    execFileSync('docker', ['commit', '--change', `CMD ${JSON.stringify(cmd)}`, base, tag], { stdio: 'ignore' });
  } finally {
    execFileSync('docker', ['rm', base], { stdio: 'ignore' });
  }
}
