import * as k8s from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { clusterDnsResolver, type EngineEndpoint } from '../../engines/resolver';
import { kubeConfig, stackInfo } from './stack';

/**
 * SQL against a Database's members as an application would: at the member's cluster DNS name,
 * resolved at the stack's CoreDNS (as the worker does off the cluster), with the superuser
 * password read from the Secret the operator made. `namespace` is read at each call, so a test
 * file can create it in its beforeAll.
 */
export function memberSql(namespace: () => string) {
  const resolve = clusterDnsResolver(stackInfo().clusterDns!);
  let core: k8s.CoreV1Api | undefined;

  async function password(db: string): Promise<string> {
    core ??= kubeConfig().makeApiClient(k8s.CoreV1Api);
    const secret = await core.readNamespacedSecret({ name: `${db}-credentials`, namespace: namespace() });
    return Buffer.from(secret.data!.password!, 'base64').toString('utf8');
  }

  const member = (db: string, ordinal: number, engine: 'postgres' | 'mariadb'): Promise<EngineEndpoint> =>
    resolve({ namespace: namespace(), database: db, ordinal, engine });

  async function pgQuery<T>(db: string, ordinal: number, sql: string): Promise<T[]> {
    const e = await member(db, ordinal, 'postgres');
    const client = new pg.Client({
      host: e.host,
      port: e.port,
      user: 'postgres',
      password: await password(db),
      database: 'postgres',
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async function myQuery<T>(db: string, ordinal: number, sql: string): Promise<T[]> {
    const e = await member(db, ordinal, 'mariadb');
    const conn = await mysql.createConnection({
      host: e.host,
      port: e.port,
      user: 'root',
      password: await password(db),
      connectTimeout: 5_000,
    });
    try {
      return (await conn.query(sql))[0] as T[];
    } finally {
      await conn.end();
    }
  }

  return { password, member, pgQuery, myQuery };
}
