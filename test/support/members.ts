import type { EngineEndpoint } from '../../engines/resolver';
import { memberAddress, sql, superuser } from './sql';

/**
 * SQL against a Database's members as an application would (test/support/sql.ts), bound to a test
 * file's namespace: `namespace` is read at each call, so a test file can create it in its
 * beforeAll.
 */
export function memberSql(namespace: () => string) {
  return {
    password: async (db: string): Promise<string> => (await superuser(namespace(), db)).password,
    member: (db: string, ordinal: number, engine: 'postgres' | 'mariadb'): Promise<EngineEndpoint> =>
      memberAddress(namespace(), db, engine, ordinal),
    pgQuery: <T>(db: string, ordinal: number, text: string): Promise<T[]> =>
      sql<T>(namespace(), db, 'postgres', text, ordinal),
    myQuery: <T>(db: string, ordinal: number, text: string): Promise<T[]> =>
      sql<T>(namespace(), db, 'mariadb', text, ordinal),
  };
}
