import type { Store } from '@gyoza/store';
import mongoose, { type Connection } from 'mongoose';
import { MongoClaimStore } from './claim-store';
import { MongoDefinitionStore } from './definition-store';
import { MongoDeliveryStore } from './delivery-store';
import { MongoStoreOpenError, redactUri } from './errors';
import { MongoLeaseStore } from './lease-store';
import { type MongoStoreLogger, silentLogger } from './logger';
import { claimIntentModel } from './models/claim-intent.model';
import { ClaimVersions, claimVersionModel } from './models/claim-version.model';
import { definitionModel } from './models/definition.model';
import { deliveryClaimModel } from './models/delivery-claim.model';
import { eventModel } from './models/event.model';
import { leaseModel } from './models/lease.model';
import { revisionModel } from './models/revision.model';
import { runModel } from './models/run.model';
import { runShapeModel } from './models/run-shape.model';
import { tokenModel } from './models/token.model';
import { workerModel } from './models/worker.model';
import { MongoRunStore } from './run-store';
import { MongoWorkerStore } from './worker-store';

const NAMESPACE_EXISTS = 48;

/** Used when neither `dbName` nor the URI names a database (the driver would pick `test`). */
export const DEFAULT_DATABASE = 'gyoza';

export interface MongoStoreOptions {
  /** `mongodb://…` or `mongodb+srv://…` (required). */
  uri: string;
  /**
   * The database.
   * @defaultValue the URI's path, else `gyoza` (`DEFAULT_DATABASE`)
   */
  dbName?: string;
  /**
   * How long to wait for the server before giving up at start.
   * @defaultValue 5000
   */
  serverSelectionTimeoutMs?: number;
  /**
   * pino-compatible.
   * @defaultValue a silent logger
   */
  logger?: MongoStoreLogger;
}

/**
 * MongoDB through mongoose, on its own connection (never mongoose's default one, so several
 * stores and the host app do not share state); creates its collections and indexes before
 * answering. An unreachable or refusing database rejects with MongoStoreOpenError.
 */
export async function openMongoStore(options: MongoStoreOptions): Promise<Store> {
  const logger = options.logger ?? silentLogger;
  let connection: Connection | undefined;
  try {
    // Inside the try: a malformed URI throws here, and gets the same one-line error.
    connection = mongoose.createConnection(options.uri, {
      dbName: databaseName(options.uri, options.dbName),
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 5000,
      autoIndex: false,
      autoCreate: false,
    });
    await connection.asPromise();
    const models = {
      definitions: definitionModel(connection),
      runs: runModel(connection),
      revisions: revisionModel(connection),
      events: eventModel(connection),
      workers: workerModel(connection),
      leases: leaseModel(connection),
      claimIntents: claimIntentModel(connection),
      tokens: tokenModel(connection),
      deliveryClaims: deliveryClaimModel(connection),
      runShapes: runShapeModel(connection),
      claimVersion: claimVersionModel(connection),
    };
    for (const model of Object.values(models)) {
      // Created up front: FerretDB creating a collection on first insert from several
      // connections at once can lose the _id uniqueness those first inserts rely on.
      await model.createCollection().catch((error: { code?: number }) => {
        if (error.code !== NAMESPACE_EXISTS) throw error;
      });
      await model.createIndexes();
    }
    const versions = new ClaimVersions(models.claimVersion);
    await versions.open();
    const leases = new MongoLeaseStore(models.leases, models.tokens);
    const deliveries = new MongoDeliveryStore(
      { events: models.events, claims: models.deliveryClaims, revisions: models.revisions, runs: models.runs },
      (id) => runs.getRun(id),
    );
    const claimState = { shapes: models.runShapes, versions };
    const runs = new MongoRunStore(models.runs, models.revisions, models.events, claimState, logger, () =>
      deliveries.written(),
    );
    await runs.backfillShapes();
    const claims = new MongoClaimStore(
      models.runs,
      models.workers,
      models.claimIntents,
      runs,
      leases,
      claimState,
      logger,
    );
    logger.info({ uri: redactUri(options.uri), db: connection.name }, 'mongo store open');
    const open = connection;
    return {
      kind: 'mongo',
      definitions: new MongoDefinitionStore(models.definitions),
      runs,
      claims,
      workers: new MongoWorkerStore(models.workers, models.tokens, versions, (id) => runs.listHeldRunIds(id)),
      leases,
      deliveries,
      async close() {
        await open.close();
      },
    };
  } catch (error) {
    await connection?.close().catch(() => undefined);
    throw new MongoStoreOpenError(redactUri(options.uri), error);
  }
}

/** The database a store on `uri` uses: `dbName`, else the URI's path, else DEFAULT_DATABASE. */
export function databaseName(uri: string, dbName?: string): string {
  if (dbName) return dbName;
  const path = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(uri)?.[1];
  return path ? decodeURIComponent(path) : DEFAULT_DATABASE;
}
