import { describeStoreContract, mongoPostgresqlTestUri, temporaryMongoDatabase } from '@gyoza/test-support';
import { openMongoStore } from './index';

describeStoreContract('mongo', async () => {
  const { uri, dbName, drop } = temporaryMongoDatabase('gyoza_test');
  return {
    open: () => openMongoStore({ uri, dbName }),
    destroy: drop,
  };
});

// FerretDB's PostgreSQL handler stores documents as jsonb, which has its own limits (no NUL
// in a string): the same contract, on it.
describeStoreContract('mongo on FerretDB PostgreSQL', async () => {
  const { uri, dbName, drop } = temporaryMongoDatabase('gyoza_test', mongoPostgresqlTestUri());
  return {
    open: () => openMongoStore({ uri, dbName }),
    destroy: drop,
  };
});
