/**
 * gyoza test support: code the tests share, kept out of every runtime package.
 *
 * - `describeStoreContract`, `StoreHarness`, `fitPlanner`: the behaviour every store adapter must have.
 * - `heartbeat`, `WorkerShape`, `newRun`, `addRun`: worker and run fixtures.
 * - `expectWorkersFilled`: the capacity check every claim-race test ends with.
 * - `temporaryDirectory`, `temporaryMongoDatabase`, `mongoTestUri`, `mongoPostgresqlTestUri`, `openTemporarySqliteStore`: a fresh database per test.
 * - `ManualClock`: time that moves only when the test says so.
 * - `commitWithoutApplying`: what a MongoDB writer that died between commit and apply leaves.
 * - `startWebhookReceiver`: a real HTTP receiver on 127.0.0.1 recording webhooks.
 * - `runNode`, `runNodeForJson`, `requireBuilt`, `freePort`, `waitFor`: child processes and waiting on conditions.
 * - `startServerProcess`: the built server as a child process on a free port, once it answers /health;
 *   `apiRequest`: one API request with a key, its answer parsed.
 * - `commitBusyboxImage`, `SCRIPT_CMD`: a local test image with a command of its own, made offline.
 *
 * The API test server (`startHarness`, `API_KEY`) is in `@gyoza/test-support/api-harness`, so that
 * store tests do not load the HTTP stack.
 */
export { expectWorkersFilled } from './capacity';
export { ManualClock, openTemporarySqliteStore, type TemporarySqliteStore } from './clock';
export {
  mongoPostgresqlTestUri,
  mongoTestUri,
  type TemporaryDirectory,
  type TemporaryMongoDatabase,
  temporaryDirectory,
  temporaryMongoDatabase,
} from './databases';
export { fitPlanner } from './fit-planner';
export { addRun, heartbeat, newRun, type WorkerShape } from './fixtures';
export { commitBusyboxImage, SCRIPT_CMD } from './images';
export { commitWithoutApplying } from './mongo-crash';
export {
  freePort,
  type NodeChild,
  type RunNodeOptions,
  requireBuilt,
  runNode,
  runNodeForJson,
  type WaitOptions,
  waitFor,
} from './processes';
export {
  type ApiAnswer,
  apiRequest,
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
} from './server-process';
export { describeStoreContract, type StoreHarness } from './store-contract';
export {
  type ReceivedWebhook,
  type ReceiverAnswer,
  startWebhookReceiver,
  type WebhookReceiver,
} from './webhook-receiver';
