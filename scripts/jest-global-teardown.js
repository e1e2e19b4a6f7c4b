const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const ferret = globalThis.__GYOZA_FERRETDB__;
  if (!ferret) return;
  const exited = new Promise((resolve) => ferret.child.once('exit', resolve));
  // The data is throwaway; a clean shutdown only slows the end of the run.
  ferret.child.kill('SIGKILL');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  fs.rmSync(ferret.dir, { recursive: true, force: true });
};
