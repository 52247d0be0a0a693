/**
 * What running on real nodes (kubelet + containerd, images built here) must prove, beyond what a
 * simulated node could: the engine runs with the configuration the operator rendered and the
 * user's spec.parameters; readiness is what the probes find, so an engine that stops answering
 * turns its pod NotReady (its process frozen from the host with SIGSTOP) and Ready again when it
 * answers; `kubectl logs` and `kubectl exec` reach the engine's own container; and a container
 * that keeps exiting keeps the Database from Ready, with a condition saying why in words.
 * Figures go to stderr as `[real-nodes] …`.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Condition, Database } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import {
  applyDatabase,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { memberSql } from '../support/members';
import { createNamespace, deleteNamespace, kubeConfig, kubectlOk, stackInfo } from '../support/stack';

jest.setTimeout(600_000);

const run = promisify(execFile);
const figure = (text: string) => process.stderr.write(`[real-nodes] ${text}\n`);
const READY_TIMEOUT_MS = 420_000;
const CRASHING_PG = 'localhost/durable-test/postgres-crashing:15';

const condition = (db: Database | undefined, type: string): Condition | undefined =>
  db?.status?.conditions?.find((c) => c.type === type);

describe('real nodes', () => {
  let ns: string;
  let op: RunningOperator;
  let core: k8s.CoreV1Api;
  let crashAppliedAt = 0;

  beforeAll(async () => {
    ns = await createNamespace('real');
    op = await startOperator(ns);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    // All three at once: they come up side by side.
    await applyDatabase(ns, 'pgdb', {
      engine: 'postgres',
      version: '15',
      replicas: 1,
      parameters: { max_connections: '57', log_min_duration_statement: '250ms', work_mem: '8MB' },
    });
    await applyDatabase(ns, 'mydb', {
      engine: 'mariadb',
      version: '11.8',
      replicas: 1,
      parameters: { max_connections: '77', max_allowed_packet: '32M' },
    });
    crashAppliedAt = Date.now();
    await applyDatabase(ns, 'crash', { engine: 'postgres', version: '15', image: CRASHING_PG, replicas: 1 });
  });
  afterAll(async () => {
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  const sql = memberSql(() => ns);
  const pgQuery = <T>(query: string) => sql.pgQuery<T>('pgdb', 0, query);
  const myQuery = <T>(query: string) => sql.myQuery<T>('mydb', 0, query);

  const configMap = async (db: string) =>
    (await core.readNamespacedConfigMap({ name: `${db}-config`, namespace: ns })).data ?? {};
  const exec = (pod: string, command: string[]) =>
    kubectlOk(['exec', '-n', ns, pod, '-c', 'database', '--', ...command]);

  // First: it measures from the apply in beforeAll, while the others come up.
  it('a container that keeps exiting: not Ready, and the Ready condition says why', async () => {
    const db = await waitFor(
      'crash: Ready=False naming the crash loop',
      async () => {
        const d = await getDatabase(ns, 'crash');
        const ready = condition(d, 'Ready');
        return ready?.status === 'False' && /CrashLoopBackOff/.test(ready.message) ? d : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    figure(
      `crashing image: Ready condition names the crash loop ${((Date.now() - crashAppliedAt) / 1000).toFixed(1)} s after kubectl apply`,
    );
    const ready = condition(db, 'Ready')!;
    expect(db.status?.phase).not.toBe('Ready');
    expect(ready.message).toMatch(/crash-0: container database CrashLoopBackOff/);
    expect(ready.message).toMatch(/last exit 1/);
    const pod = await core.readNamespacedPod({ name: 'crash-0', namespace: ns });
    const status = pod.status?.containerStatuses?.find((c) => c.name === 'database');
    expect(status?.ready).toBe(false);
    expect(status?.restartCount).toBeGreaterThanOrEqual(1);
    expect(status?.lastState?.terminated?.exitCode).toBe(1);
    // The kubelet kept the failed container's output.
    const logs = await kubectlOk(['logs', '-n', ns, 'crash-0', '-c', 'database', '--previous']);
    expect(logs).toMatch(/exits 1 on purpose/);
  });

  describe('the engine runs with the rendered config and spec.parameters', () => {
    it('postgres 15: settings, the config file and the pg_hba.conf in use', async () => {
      await waitForPhase(ns, 'pgdb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
      const [s] = await pgQuery<Record<string, string>>(
        `SELECT current_setting('max_connections') AS max_connections,
                current_setting('log_min_duration_statement') AS log_min_duration_statement,
                current_setting('work_mem') AS work_mem,
                current_setting('wal_level') AS wal_level,
                current_setting('max_wal_senders') AS max_wal_senders,
                current_setting('hot_standby') AS hot_standby,
                current_setting('listen_addresses') AS listen_addresses,
                current_setting('config_file') AS config_file,
                current_setting('hba_file') AS hba_file,
                current_setting('data_directory') AS data_directory,
                current_setting('server_version') AS server_version`,
      );
      expect(s).toEqual({
        max_connections: '57',
        log_min_duration_statement: '250ms',
        work_mem: '8MB',
        wal_level: 'replica',
        max_wal_senders: '10',
        hot_standby: 'on',
        listen_addresses: '*',
        config_file: '/etc/postgresql/postgresql.conf',
        hba_file: '/etc/postgresql/pg_hba.conf',
        data_directory: '/var/lib/postgresql/data/pgdata',
        server_version: expect.stringMatching(/^15\.20\b/),
      });
      // Where each setting came from: the rendered file, not a default or the command line.
      const sources = await pgQuery<{ name: string; sourcefile: string | null }>(
        "SELECT name, sourcefile FROM pg_settings WHERE name IN ('max_connections', 'log_min_duration_statement', 'wal_level') ORDER BY name",
      );
      for (const row of sources) expect(row.sourcefile).toBe('/etc/postgresql/postgresql.conf');
      // No line of the file was refused.
      const errors = await pgQuery('SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL');
      expect(errors).toEqual([]);
      // The file the server read is the ConfigMap's.
      const data = await configMap('pgdb');
      expect(await exec('pgdb-0', ['cat', '/etc/postgresql/postgresql.conf'])).toBe(data['postgresql.conf']);
      // The client authentication rules in force are the rendered pg_hba.conf, without error.
      const rules = await pgQuery<Record<string, unknown>>(
        'SELECT type, database, user_name, auth_method, error FROM pg_hba_file_rules ORDER BY line_number',
      );
      expect(rules).toEqual([
        { type: 'local', database: ['all'], user_name: ['all'], auth_method: 'trust', error: null },
        { type: 'host', database: ['all'], user_name: ['all'], auth_method: 'scram-sha-256', error: null },
        {
          type: 'host',
          database: ['replication'],
          user_name: ['replicator'],
          auth_method: 'scram-sha-256',
          error: null,
        },
      ]);
      expect(await exec('pgdb-0', ['cat', '/etc/postgresql/pg_hba.conf'])).toBe(data['pg_hba.conf']);
    });

    it('mariadb 11.8: server variables from the rendered my.cnf and spec.parameters', async () => {
      await waitForPhase(ns, 'mydb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
      const [v] = await myQuery<Record<string, unknown>>(
        `SELECT @@max_connections AS max_connections, @@max_allowed_packet AS max_allowed_packet,
                @@gtid_strict_mode AS gtid_strict_mode, @@log_bin AS log_bin,
                @@log_bin_basename AS log_bin_basename, @@binlog_format AS binlog_format,
                @@log_slave_updates AS log_slave_updates, @@server_id AS server_id,
                @@datadir AS datadir, @@port AS port, @@bind_address AS bind_address, VERSION() AS version`,
      );
      expect(v).toEqual({
        max_connections: 77,
        max_allowed_packet: 32 * 1024 * 1024,
        gtid_strict_mode: 1,
        log_bin: 1,
        log_bin_basename: '/var/lib/mysql/data/binlog',
        binlog_format: 'ROW',
        log_slave_updates: 1,
        // --server-id=1<ordinal> from the pod's command line.
        server_id: 10,
        datadir: '/var/lib/mysql/data/',
        port: 3306,
        bind_address: '0.0.0.0',
        version: expect.stringMatching(/^11\.8\.\d+-MariaDB/),
      });
      const data = await configMap('mydb');
      expect(await exec('mydb-0', ['cat', '/etc/mysql/conf.d/my.cnf'])).toBe(data['my.cnf']);
    });
  });

  describe('readiness follows the probes', () => {
    /** The host PID of the pod's engine: the task of its container in the node's containerd. */
    async function enginePid(pod: string): Promise<{ pid: number; restarts: number }> {
      const p = await core.readNamespacedPod({ name: pod, namespace: ns });
      const status = p.status?.containerStatuses?.find((c) => c.name === 'database');
      const id = status?.containerID?.replace(/^containerd:\/\//, '');
      const node = stackInfo().realNodes?.find((n) => n.name === p.spec?.nodeName);
      if (!id || !node) throw new Error(`${pod}: no container id or not on a real node`);
      const { stdout } = await run('ctr', [
        '--address',
        node.containerdSocket,
        '-n',
        'k8s.io',
        'tasks',
        'ls',
      ]);
      const line = stdout.split('\n').find((l) => l.startsWith(id));
      const pid = Number(line?.split(/\s+/)[1]);
      if (!pid) throw new Error(`${pod}: no running task ${id} on ${node.name}:\n${stdout}`);
      return { pid, restarts: status?.restartCount ?? 0 };
    }

    const podReady = async (pod: string) => {
      const p = await core.readNamespacedPod({ name: pod, namespace: ns });
      return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    };

    it.each([
      ['postgres 15', 'pgdb', /postgres/],
      ['mariadb 11.8', 'mydb', /mariadbd/],
    ])(
      '%s: an engine frozen with SIGSTOP turns its pod NotReady, and Ready again once thawed',
      async (_, db, comm) => {
        await waitForPhase(ns, db, 'Ready', { timeoutMs: READY_TIMEOUT_MS });
        const pod = `${db}-0`;
        const { pid, restarts } = await enginePid(pod);
        // The task's process is the engine itself: the entrypoint execs it.
        expect((await run('cat', [`/proc/${pid}/comm`])).stdout).toMatch(comm);
        const stopped = Date.now();
        process.kill(pid, 'SIGSTOP');
        let notReadyAt: number;
        try {
          // Probe period 10 s, failure threshold 3 (timeout 5 s each): NotReady within about 35 s;
          // thawed before the liveness probe (threshold 6) would restart the container.
          await waitFor('pod NotReady', async () => !(await podReady(pod)), {
            timeoutMs: 55_000,
            intervalMs: 250,
          });
          notReadyAt = Date.now();
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        const thawed = Date.now();
        await waitFor('pod Ready again', () => podReady(pod), { timeoutMs: 60_000, intervalMs: 250 });
        figure(
          `${db}: engine frozen → pod NotReady after ${((notReadyAt - stopped) / 1000).toFixed(1)} s; ` +
            `thawed → Ready again after ${((Date.now() - thawed) / 1000).toFixed(1)} s`,
        );
        // The same container: the probes saw it stop answering and answer again; nothing restarted it.
        expect(await enginePid(pod)).toEqual({ pid, restarts });
        await waitForPhase(ns, db, 'Ready', { timeoutMs: 180_000 });
      },
    );
  });

  describe('kubectl logs and kubectl exec reach the engine', () => {
    it('postgres 15', async () => {
      await waitForPhase(ns, 'pgdb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
      const logs = await kubectlOk(['logs', '-n', ns, 'pgdb-0', '-c', 'database']);
      expect(logs).toMatch(/database system is ready to accept connections/);
      expect(logs).toMatch(/PostgreSQL 15\.20/);
      // Over the pod's own Unix socket, where pg_hba.conf trusts the local superuser.
      const out = await exec('pgdb-0', ['psql', '-U', 'postgres', '-At', '-c', 'select 40 + 2']);
      expect(out.trim()).toBe('42');
    });

    it('mariadb 11.8', async () => {
      await waitForPhase(ns, 'mydb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
      const logs = await kubectlOk(['logs', '-n', ns, 'mydb-0', '-c', 'database']);
      expect(logs).toMatch(/ready for connections/);
      const out = await exec('mydb-0', [
        'sh',
        '-c',
        'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -u root -N -B -e "select 40 + 2"',
      ]);
      expect(out.trim()).toBe('42');
    });
  });
});
