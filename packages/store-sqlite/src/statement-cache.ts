import type { Database, Statement } from 'better-sqlite3';

/**
 * Makes `db.prepare(sql)` answer the Statement it prepared before for the same SQL, so code
 * that builds a query per call (list filters, leases, pending reasons) compiles it once
 * rather than on every request. At most `size` statements are kept, least recently used
 * dropped first. Installed after the stores' constructors, whose statements (some with
 * `.pluck()`) are theirs alone. Safe because what is prepared per call is never iterated
 * (`.iterate()`) nor switched to another mode (`.pluck()`, `.raw()`): a statement handed
 * out again is never busy nor altered.
 */
export function cachePreparedStatements(db: Database, size = 256): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (statement) {
      cache.delete(sql);
    } else {
      statement = prepare(sql);
      if (cache.size >= size) cache.delete(cache.keys().next().value as string);
    }
    cache.set(sql, statement);
    return statement;
  }) as Database['prepare'];
}
