const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
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

module.exports = { ferretdbBinary };
