// `gyoza server start` takes its flags, help and checks from the server's SETTINGS.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { FLAG_SETTINGS, flagName, helpText, LOG_LEVELS, SETTINGS } from '@gyoza/server';
import { requireBuilt, type TemporaryDirectory, temporaryDirectory } from '@gyoza/test-support';

const MAIN = resolve(__dirname, '../dist/main.js');

let tmp: TemporaryDirectory;
beforeAll(() => {
  requireBuilt(MAIN);
  tmp = temporaryDirectory('gyoza-cli-server-');
});
afterAll(() => tmp.remove());

function gyoza(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { cwd: tmp.dir, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

it('offers one flag per flagged setting, with its help, variable and default', async () => {
  const { code, stdout } = await gyoza(['server', 'start', '--help']);
  expect(code).toBe(0);
  const help = stdout.replace(/\s+/g, ' ');
  for (const name of FLAG_SETTINGS) {
    expect(help).toContain(`--${flagName(name)}`);
    expect(help).toContain(SETTINGS[name].variable);
  }
  expect(help).toContain(helpText('port').replace(/\s+/g, ' '));
  expect(help).toContain(`choices: ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`);
});

it.each([
  [['--log-level', 'warning'], {}, /log-level.*"warning"/],
  [[], { GYOZA_LOG_LEVEL: 'warning' }, /^gyoza: GYOZA_LOG_LEVEL: must be one of .*got 'warning'$/m],
  [['--port', '70000'], {}, /^gyoza: GYOZA_PORT: must be an integer from 0 to 65535, got '70000'$/m],
])('refuses %p %p with exit 2, as start-up would', async (args, env, message) => {
  const { code, stderr } = await gyoza(['server', 'start', ...args], env);
  expect(code).toBe(2);
  expect(stderr).toMatch(message);
});
