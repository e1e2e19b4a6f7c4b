module.exports = async function globalTeardown() {
  await globalThis.__GYOZA_FERRETDB__?.stop();
  await globalThis.__GYOZA_FERRETDB_POSTGRESQL__?.stop();
  globalThis.__GYOZA_POSTGRES__?.stop();
};
