// Starts the MongoDB-wire test server (FerretDB on its SQLite handler) on a free loopback
// port for the whole jest run, unless GYOZA_TEST_MONGODB_URI points at a real MongoDB.
// A missing binary fails the run: the mongo suites must never be skipped silently.
const { startFerretdb } = require('./ferretdb');

module.exports = async function globalSetup() {
  if (process.env.GYOZA_TEST_MONGODB_URI) return;
  const ferret = await startFerretdb({ logToFile: true });
  globalThis.__GYOZA_FERRETDB__ = ferret;
  process.env.GYOZA_TEST_MONGODB_URI = ferret.uri;
  process.env.GYOZA_TEST_MONGODB_KIND = 'ferretdb';
};
