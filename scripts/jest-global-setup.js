// Starts the MongoDB-wire test servers for the whole jest run, each on a free loopback port:
// FerretDB on its SQLite handler (GYOZA_TEST_MONGODB_URI, unless set: it may point at a real
// MongoDB) and FerretDB on its PostgreSQL handler over a throwaway PostgreSQL
// (GYOZA_TEST_MONGODB_POSTGRESQL_URI, unless set). A missing binary fails the run: the mongo
// suites must never be skipped silently.
const { startFerretdb } = require('./ferretdb');
const { startPostgres } = require('./postgres');

module.exports = async function globalSetup() {
  if (!process.env.GYOZA_TEST_MONGODB_URI) {
    const ferret = await startFerretdb({ logToFile: true });
    globalThis.__GYOZA_FERRETDB__ = ferret;
    process.env.GYOZA_TEST_MONGODB_URI = ferret.uri;
    process.env.GYOZA_TEST_MONGODB_KIND = 'ferretdb';
  }
  if (!process.env.GYOZA_TEST_MONGODB_POSTGRESQL_URI) {
    const pg = await startPostgres();
    if (pg.reason) throw new Error(`FerretDB's PostgreSQL handler needs a PostgreSQL: ${pg.reason}`);
    globalThis.__GYOZA_POSTGRES__ = pg;
    pg.createDatabase('ferretdb');
    const ferret = await startFerretdb({ postgresqlUrl: pg.url('ferretdb') });
    globalThis.__GYOZA_FERRETDB_POSTGRESQL__ = ferret;
    process.env.GYOZA_TEST_MONGODB_POSTGRESQL_URI = ferret.uri;
  }
};
