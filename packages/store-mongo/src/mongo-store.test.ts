import { describeStoreContract, temporaryMongoDatabase } from '@gyoza/test-support';
import { openMongoStore } from './index';

describeStoreContract('mongo', async () => {
  const { uri, dbName, drop } = temporaryMongoDatabase('gyoza_test');
  return {
    open: () => openMongoStore({ uri, dbName }),
    destroy: drop,
  };
});
