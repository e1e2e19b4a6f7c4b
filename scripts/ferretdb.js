// Finds and starts FerretDB, the MongoDB-wire server the mongo store is tested and benchmarked on.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/** Where the FerretDB binary is: $FERRETDB_BIN, $GOBIN, $(go env GOPATH)/bin, or PATH. */
function ferretdbBinary() {
  const candidates = [process.env.FERRETDB_BIN, process.env.GOBIN && path.join(process.env.GOBIN, 'ferretdb')];
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    candidates.push(path.join(gopath, 'bin', 'ferretdb'));
  } catch {
    // go is not installed; the binary may still be on PATH
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) candidates.push(path.join(dir, 'ferretdb'));
  return candidates.find((c) => c && fs.existsSync(c));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ferretdb exited with code ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ferretdb did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/**
 * Starts FerretDB on its SQLite handler (or, given `postgresqlUrl`, its PostgreSQL handler on
 * that database), on a free loopback port, with its state in a fresh temporary directory.
 * `stop()` kills it and removes the directory; the data is always throwaway.
 */
async function startFerretdb({ logLevel = 'warn', logToFile = false, timeoutMs = 20000, postgresqlUrl } = {}) {
  const binary = ferretdbBinary();
  if (!binary) {
    throw new Error(
      'FerretDB not found: run scripts/install-ferretdb.sh, set FERRETDB_BIN, or set GYOZA_TEST_MONGODB_URI',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-ferretdb-'));
  const port = await freePort();
  const log = logToFile ? fs.openSync(path.join(dir, 'ferretdb.log'), 'a') : 'ignore';
  const child = spawn(
    binary,
    [
      `--listen-addr=127.0.0.1:${port}`,
      ...(postgresqlUrl
        ? ['--handler=postgresql', `--postgresql-url=${postgresqlUrl}`]
        : ['--handler=sqlite', `--sqlite-url=file:${dir}/`]),
      '--telemetry=disable',
      `--state-dir=${dir}`,
      `--log-level=${logLevel}`,
      '--debug-addr=-',
    ],
    { stdio: ['ignore', log, log] },
  );
  if (logToFile) fs.closeSync(log);
  // The parent must not wait on the server: stop() ends it, and the parent exits promptly.
  child.unref();
  await waitForPort(port, child, timeoutMs);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    async stop() {
      child.kill('SIGKILL');
      let timer;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer); // a pending timer would hold the process (jest) open for 5 s
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { ferretdbBinary, startFerretdb };
