import { randomBytes } from 'node:crypto';
import { describeStoreContract } from '@gyoza/store/contract';
import mongoose from 'mongoose';
import { openMongoStore } from './index';

const uri = process.env.GYOZA_TEST_MONGODB_URI;
if (!uri) throw new Error('GYOZA_TEST_MONGODB_URI is not set: the jest global setup starts FerretDB');

describeStoreContract('mongo', async () => {
  const dbName = `gyoza_test_${randomBytes(6).toString('hex')}`;
  return {
    open: () => openMongoStore({ uri, dbName }),
    destroy: async () => {
      const connection = await mongoose.createConnection(uri, { dbName }).asPromise();
      await connection.dropDatabase();
      await connection.close();
    },
  };
});
