// Starts the MongoDB-wire test server (FerretDB on its SQLite handler) on a free loopback
// port for the whole jest run, unless GYOZA_TEST_MONGODB_URI points at a real MongoDB.
// A missing binary fails the run: the mongo suites must never be skipped silently.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ferretdbBinary } = require('./ferretdb-path');

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

module.exports = async function globalSetup() {
  if (process.env.GYOZA_TEST_MONGODB_URI) return;
  const binary = ferretdbBinary();
  if (!binary) {
    throw new Error(
      'FerretDB not found: run scripts/install-ferretdb.sh, set FERRETDB_BIN, or set GYOZA_TEST_MONGODB_URI',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-ferretdb-'));
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'ferretdb.log'), 'a');
  const child = spawn(
    binary,
    [
      `--listen-addr=127.0.0.1:${port}`,
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      '--telemetry=disable',
      `--state-dir=${dir}`,
      '--log-level=warn',
      '--debug-addr=-',
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  // The parent must not wait on the server: teardown stops it, and jest exits promptly.
  child.unref();
  await waitForPort(port, child, 20000);
  globalThis.__GYOZA_FERRETDB__ = { child, dir };
  process.env.GYOZA_TEST_MONGODB_URI = `mongodb://127.0.0.1:${port}/`;
  process.env.GYOZA_TEST_MONGODB_KIND = 'ferretdb';
};
