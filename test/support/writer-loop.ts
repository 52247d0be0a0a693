import pg from 'pg';
import mysql from 'mysql2/promise';
import { Resolver } from 'node:dns/promises';
import { stackInfo } from './stack';

/**
 * An application writing through a Service: one INSERT at a time, each on a fresh connection to
 * the Service's name (resolved at the stack's CoreDNS, dialled at its ClusterIP through
 * kube-proxy), keeping the ids the server acknowledged and when. Connection and statement
 * trouble is counted, and the loop goes on after a short pause, as a client's retry would.
 */
/** How long one MariaDB write may take before it counts as failed. */
const ATTEMPT_MS = 3_000;

export class WriterLoop {
  readonly acknowledged: { id: number; at: number }[] = [];
  readonly failures: { at: number; message: string }[] = [];
  private next = 1;
  private stopped = false;
  private done?: Promise<void>;

  constructor(
    private readonly opts: {
      service: string;
      namespace: string;
      user: string;
      password: string;
      table: string;
      pauseMs?: number;
      /** The engine behind the Service (default postgres). */
      engine?: 'postgres' | 'mariadb';
      /** MariaDB: the database the table is in. */
      database?: string;
    },
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The first acknowledged write after `t`, in ms after `t` (undefined if none yet). */
  firstAckAfter(t: number): number | undefined {
    const ack = this.acknowledged.find((a) => a.at > t);
    return ack ? ack.at - t : undefined;
  }

  /**
   * The outage after `t`: from `t` to the first acknowledged write after the last failure since
   * `t`, in ms (0 when no write failed; undefined while the last attempt failed). Read once
   * writes flow again: an outage is one run of failures, and writes acknowledged inside it (a
   * commit that raced the kill) do not end it.
   */
  writesBackAfter(t: number): number | undefined {
    const failures = this.failures.filter((f) => f.at > t);
    if (failures.length === 0) return 0;
    const last = failures[failures.length - 1]!;
    const ack = this.acknowledged.find((a) => a.at > last.at);
    return ack ? ack.at - t : undefined;
  }

  /** When the first write after `t` failed (undefined if none did). */
  firstFailureAfter(t: number): number | undefined {
    return this.failures.find((f) => f.at > t)?.at;
  }

  private async loop(): Promise<void> {
    const resolver = new Resolver({ timeout: 1_000, tries: 1 });
    resolver.setServers([stackInfo().clusterDns!]);
    const fqdn = `${this.opts.service}.${this.opts.namespace}.svc.cluster.local`;
    while (!this.stopped) {
      const id = this.next;
      try {
        const host = (await resolver.resolve4(fqdn))[0]!;
        await (this.opts.engine === 'mariadb' ? this.insertMariadb(host, id) : this.insertPostgres(host, id));
        this.acknowledged.push({ id, at: Date.now() });
        this.next++;
      } catch (err) {
        this.failures.push({ at: Date.now(), message: err instanceof Error ? err.message : String(err) });
        await new Promise((r) => setTimeout(r, this.opts.pauseMs ?? 100));
      }
    }
  }

  private async insertPostgres(host: string, id: number): Promise<void> {
    const client = new pg.Client({
      host,
      port: 5432,
      user: this.opts.user,
      password: this.opts.password,
      database: 'postgres',
      connectionTimeoutMillis: 1_000,
      query_timeout: 2_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      // An insert that committed but whose answer was lost is tried again: no duplicate.
      await client.query(`INSERT INTO ${this.opts.table} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [id]);
    } finally {
      // Not awaited: ending waits for the server to close its side, which a partitioned or
      // frozen server never does (see insertMariadb).
      void client.end().catch(() => undefined);
    }
  }

  /**
   * One INSERT on a fresh connection, given up after ATTEMPT_MS: a frozen server accepts the TCP
   * connection (the kernel does) but never sends its greeting, and mysql2's connectTimeout does
   * not cover that wait.
   */
  private async insertMariadb(host: string, id: number): Promise<void> {
    let conn: mysql.Connection | undefined;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const attempt = (async () => {
      const c = await mysql.createConnection({
        host,
        port: 3306,
        user: this.opts.user,
        password: this.opts.password,
        database: this.opts.database ?? 'mysql',
        connectTimeout: 1_000,
      });
      c.on('error', () => undefined);
      if (timedOut) return c.destroy();
      conn = c;
      await c.query({
        sql: `INSERT IGNORE INTO ${this.opts.table} (id) VALUES (?)`,
        values: [id],
        timeout: 2_000,
      });
    })();
    attempt.catch(() => undefined);
    try {
      await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new Error(`no answer within ${ATTEMPT_MS} ms`));
          }, ATTEMPT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      // Never end(): it waits for the server to close the connection, which a server frozen just
      // after it answered never does; the write would count as acknowledged only once the frozen
      // pod is killed, long after it was.
      (conn as mysql.Connection | undefined)?.destroy();
    }
  }
}
