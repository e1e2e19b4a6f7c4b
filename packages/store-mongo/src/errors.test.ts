import { redactUri } from './errors';

describe('redactUri', () => {
  it.each([
    ['mongodb://gyoza:s3cret@127.0.0.1:1/gyoza', 'mongodb://gyoza:***@127.0.0.1:1/gyoza'],
    ['mongodb+srv://gyoza:s3cret@cluster.example/app', 'mongodb+srv://gyoza:***@cluster.example/app'],
    ['mongodb://u:p@h1:1,h2:2/app?replicaSet=rs', 'mongodb://u:***@h1:1,h2:2/app?replicaSet=rs'],
    // Malformed, refused by the driver, and named in its one-line error: still no password.
    ['mongodb://admin:pa/ss@host/db', 'mongodb://admin:***@host/db'],
    ['mongodb://:S3cret@host/db', 'mongodb://:***@host/db'],
    ['mongodb://admin:S3c@ret@host/db', 'mongodb://admin:***@host/db'],
    ['mongodb+srv://admin:a:b@c/d@cluster.example/app', 'mongodb+srv://admin:***@cluster.example/app'],
  ])('hides the password of %s', (uri, shown) => {
    expect(redactUri(uri)).toBe(shown);
  });

  it.each([
    'mongodb://127.0.0.1:27017/gyoza',
    'mongodb://h:1/app?replicaSet=rs',
    'mongodb://gyoza@127.0.0.1/gyoza?authMechanism=MONGODB-X509',
    'postgres://127.0.0.1/gyoza',
  ])('leaves %s, which has no password, as it is', (uri) => {
    expect(redactUri(uri)).toBe(uri);
  });
});
