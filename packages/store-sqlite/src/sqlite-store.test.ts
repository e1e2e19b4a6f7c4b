import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreContract } from '@gyoza/store/contract';
import { openSqliteStore } from './index';

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyoza-sqlite-'));
  const path = join(dir, 'nested', 'gyoza.db');
  return {
    open: () => openSqliteStore({ path }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
