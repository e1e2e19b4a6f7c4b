module.exports = async function globalTeardown() {
  await globalThis.__GYOZA_FERRETDB__?.stop();
};
