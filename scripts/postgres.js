// Starts a throwaway PostgreSQL from the machine's own binaries (initdb, pg_ctl) for the
// benchmarks' comparisons: a fresh data directory, trust authentication, a loopback port only.
// synchronous_commit=off puts it in the durability class of gyoza's SQLite (WAL, synchronous
// NORMAL): a commit survives the server process dying, not an OS crash or power loss.
// PostgreSQL refuses to run as root, so as root it runs as the system user `gyoza-pg`
// (created here with `useradd -r` when missing).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const PG_USER = 'gyoza-pg';

/** The directory holding initdb and pg_ctl: $PG_BIN, /usr/lib/postgresql/<newest>/bin, or PATH. */
function postgresBin() {
  const candidates = [process.env.PG_BIN];
  try {
    const versions = fs
      .readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // not the Debian layout; try PATH
  }
  candidates.push(...(process.env.PATH ?? '').split(path.delimiter));
  return candidates.find(
    (dir) => dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl')),
  );
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

/** As root: make sure `gyoza-pg` exists and return how to run a command as it. */
function runAs() {
  if (process.getuid?.() !== 0) return (file, args) => [file, args];
  try {
    execFileSync('id', ['-u', PG_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-r', '-M', '-s', '/usr/sbin/nologin', PG_USER], { stdio: 'ignore' });
  }
  return (file, args) => ['runuser', ['-u', PG_USER, '--', file, ...args]];
}

/**
 * Starts PostgreSQL on 127.0.0.1 on a free port with a fresh data directory; resolves to
 * `{ url(db), createDatabase(name), stop() }`, or to `undefined` with `reason` set when
 * PostgreSQL is not installed. `stop()` stops the server and removes the data.
 */
async function startPostgres() {
  const bin = postgresBin();
  if (!bin) return { reason: 'PostgreSQL not found (no initdb/pg_ctl in /usr/lib/postgresql/*/bin, $PG_BIN or PATH)' };
  const as = runAs();
  const run = (file, args) => {
    const [f, a] = as(path.join(bin, file), args);
    return execFileSync(f, a, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  try {
    if (process.getuid?.() === 0) execFileSync('chown', [PG_USER, dir]);
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    const options = `-h 127.0.0.1 -p ${port} -k ${dir} -c synchronous_commit=off -c max_connections=200`;
    run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    return {
      reason: `PostgreSQL did not start: ${
        String(error.stderr || error.message)
          .trim()
          .split('\n')[0]
      }`,
    };
  }
  let stopped = false;
  return {
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    createDatabase: (name) => run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name]),
    version: run('postgres', ['--version']).trim(),
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

module.exports = { startPostgres };
