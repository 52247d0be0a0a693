import * as k8s from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { clusterDnsResolver } from '../../engines/resolver';
import { kubeConfig, kubectlOk, stackInfo } from './stack';

/** The engines the local stack runs (MySQL itself is covered by unit tests only). */
export type StackEngine = 'postgres' | 'mariadb';

/** The superuser of a Database, read from the Secret the operator made, as an application would. */
export async function superuser(namespace: string, db: string): Promise<{ user: string; password: string }> {
  const secret = await kubeConfig()
    .makeApiClient(k8s.CoreV1Api)
    .readNamespacedSecret({ name: `${db}-credentials`, namespace });
  const value = (key: string) => Buffer.from(secret.data![key]!, 'base64').toString('utf8');
  return { user: value('username'), password: value('password') };
}

let resolver: ReturnType<typeof clusterDnsResolver> | undefined;

/** A member's address: its cluster DNS name resolved at the stack's CoreDNS, as the worker does. */
export function memberAddress(namespace: string, db: string, engine: StackEngine, ordinal = 0) {
  resolver ??= clusterDnsResolver(stackInfo().clusterDns!);
  return resolver({ namespace, database: db, ordinal, engine });
}

/**
 * Runs one SQL statement on a member (member 0 by default) of a Database over the network, as an
 * application would: its cluster DNS name resolved at the stack's CoreDNS, the superuser's
 * password from the Secret. Returns the rows. PostgreSQL connects to the database `postgres`.
 */
export async function sql<T>(
  namespace: string,
  db: string,
  engine: StackEngine,
  text: string,
  ordinal = 0,
): Promise<T[]> {
  const { host, port } = await memberAddress(namespace, db, engine, ordinal);
  const { user, password } = await superuser(namespace, db);
  if (engine === 'postgres') {
    const client = new pg.Client({
      host,
      port,
      user,
      password,
      database: 'postgres',
      connectionTimeoutMillis: 10_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(text)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const conn = await mysql.createConnection({ host, port, user, password, connectTimeout: 10_000 });
  try {
    return (await conn.query(text))[0] as T[];
  } finally {
    await conn.end();
  }
}

/**
 * Runs SQL as the superuser inside member 0's database container, the way an administrator with
 * kubectl would: PostgreSQL through the pod's own Unix socket (trust), MariaDB with the root
 * password the container was started with. The SQL goes on stdin, never on a command line.
 */
export async function sqlInPod(
  namespace: string,
  db: string,
  engine: StackEngine,
  text: string,
): Promise<string> {
  const client =
    engine === 'postgres'
      ? ['psql', '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1']
      : ['sh', '-c', 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B'];
  return kubectlOk(['exec', '-i', '-n', namespace, `${db}-0`, '-c', 'database', '--', ...client], text);
}

/** A string literal of the engine's SQL dialect. */
export function sqlLiteral(engine: StackEngine, value: string): string {
  // PostgreSQL (standard_conforming_strings) only doubles quotes; MariaDB also reads backslashes.
  const escaped = engine === 'postgres' ? value : value.replace(/\\/g, '\\\\');
  return `'${escaped.replace(/'/g, "''")}'`;
}
