import type { Database, Statement } from 'better-sqlite3';

/**
 * Makes `db.prepare(sql)` answer the Statement it prepared before for the same SQL, so code
 * that builds a query per call (list filters, leases, pending reasons) compiles it once
 * rather than on every request. At most `size` statements are kept, least recently used
 * dropped first. Safe because the store never iterates a statement (`.iterate()`) nor
 * changes its mode (`.pluck()`, `.raw()`), so a reused statement is never busy or altered.
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
