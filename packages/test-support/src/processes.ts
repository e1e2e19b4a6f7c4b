import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Fails the suite early when a test needs compiled code (children run `dist`, as deployed). */
export function requireBuilt(file: string): void {
  if (!existsSync(file)) throw new Error(`build first: pnpm build (${file} is missing)`);
}

export interface NodeChild {
  child: ChildProcess;
  /** Everything the child wrote to stdout, once it has closed. */
  stdout: Promise<string>;
  /** Its exit code once it has closed (null when killed by a signal). */
  exited: Promise<number | null>;
}

export interface RunNodeOptions {
  cwd?: string;
  /** @defaultValue this process's environment */
  env?: NodeJS.ProcessEnv;
}

/** Runs `node script ...args`, collecting stdout; stderr goes to the test's own. */
export function runNode(script: string, args: string[] = [], options: RunNodeOptions = {}): NodeChild {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (chunk) => {
    out += chunk;
  });
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  return { child, stdout: closed.then(() => out), exited: closed };
}

/** Runs `node script ...args` to its end and parses its stdout as JSON; a non-zero exit rejects. */
export async function runNodeForJson<T>(script: string, args: string[] = [], options: RunNodeOptions = {}): Promise<T> {
  const { stdout, exited } = runNode(script, args, options);
  const [out, code] = await Promise.all([stdout, exited]);
  if (code !== 0) throw new Error(`${script} ${args[0] ?? ''} exited with ${code}`);
  return JSON.parse(out) as T;
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
      .on('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
  });
}

export interface WaitOptions {
  /** @defaultValue 20000 */
  timeoutMs?: number;
  /** @defaultValue 100 */
  intervalMs?: number;
}

/** Polls `probe` until it returns something other than undefined; a generous deadline, never a fixed sleep. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
