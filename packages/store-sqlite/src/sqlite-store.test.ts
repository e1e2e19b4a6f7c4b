import { join } from 'node:path';
import { describeStoreContract, temporaryDirectory } from '@gyoza/test-support';
import { openSqliteStore } from './index';

describeStoreContract('sqlite', async () => {
  const { dir, remove } = temporaryDirectory('gyoza-sqlite-');
  const path = join(dir, 'nested', 'gyoza.db');
  return {
    open: () => openSqliteStore({ path }),
    destroy: async () => remove(),
  };
});
