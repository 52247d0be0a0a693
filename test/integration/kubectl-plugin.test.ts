import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { kubectlPath, repoRoot } from '../../tools/stack/binaries';
import { waitFor } from '../../tools/stack/wait';
import {
  FIRST_ROWS,
  breakCredentials,
  getBackup,
  readRows,
  restoreCredentials,
  withReadyDatabase,
  writeFirstRows,
} from '../support/backups';
import { databaseEventReasons, getDatabase, waitForPhase } from '../support/operator';
import { recordHistories } from '../support/record-histories';
import { workflowCodeHash } from '../replay/coverage';
import { databaseWorkflowId } from '../../workflows/signals';
import { kubectlOk, stackInfo } from '../support/stack';
import type { StatusView } from '../../plugin/status-model';
import type { BackupRow } from '../../plugin/commands/backups';
import type { HistoryRow } from '../../plugin/commands/history';

/**
 * `kubectl durable` as a user runs it, against the real stack: the plugin's entry as its own
 * process (through kubectl's plugin lookup: `kubectl durable …` finds `kubectl-durable` on PATH),
 * with only a kubeconfig and the Temporal settings in its environment, on a 2-member PostgreSQL
 * Database run by an in-process operator. Outputs are checked against what the cluster says.
 */
jest.setTimeout(600_000);

const entry = path.join(repoRoot, 'cmd', 'kubectl-durable.ts');
const db = 'shop';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** From the spawn to the first output on stdout (an answer printed before --wait follows). */
  firstOutMs?: number;
}

/** A directory of this test's own holding `kubectl-durable` (a shell wrapper of the entry through tsx), for PATH. */
const pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-durable-'));

function userEnv(): NodeJS.ProcessEnv {
  const { kubernetes, temporal } = stackInfo();
  return {
    PATH: `${pluginDir}:${path.dirname(kubectlPath())}:${process.env.PATH}`,
    HOME: process.env.HOME,
    KUBECONFIG: kubernetes.kubeconfig,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_UI_URL: temporal.uiUrl,
  };
}

/** `kubectl durable <args>` with stdin closed (or given), as from a script. */
function durable(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(kubectlPath(), ['durable', ...args], { env: userEnv(), cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    let firstOutMs: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      firstOutMs ??= Date.now() - t0;
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, firstOutMs }));
    child.stdin.end(input ?? '');
  });
}

beforeAll(() => {
  const wrapper = path.join(pluginDir, 'kubectl-durable');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${entry}" "$@"\n`, {
    mode: 0o755,
  });
});
afterAll(() => fs.rmSync(pluginDir, { recursive: true, force: true }));

/**
 * Two members (a primary and a replica to measure lag on and connect to), as small as they run;
 * a backup makes one attempt (retry-backup is tested on a backup that failed for real).
 */
const twoSmallMembers = (engine: 'postgres' | 'mariadb', version: string) => ({
  engine,
  version,
  replicas: 2,
  resources: { requests: { cpu: '10m', memory: '64Mi' } },
  backup: { enabled: false, maxAttempts: 1 },
});

describe('kubectl durable', () => {
  const bed = withReadyDatabase('plug', db, twoSmallMembers('postgres', '15'));
  let ns: string;
  let password: string;
  const outputs: string[] = [];
  const run = async (args: string[], input?: string) => {
    const r = await durable(args, input);
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  beforeAll(async () => {
    ns = bed.ns;
    // Only to check that no output ever holds it.
    const b64 = await kubectlOk([
      'get',
      'secret',
      `${db}-credentials`,
      '-n',
      ns,
      '-o',
      'jsonpath={.data.password}',
    ]);
    password = Buffer.from(b64, 'base64').toString();
    expect(password.length).toBeGreaterThan(8);
    // The replica streams before status is looked at (its lag is measured in the primary).
    await waitFor('the replica to stream', async () => {
      const out = await kubectlOk([
        'exec',
        '-n',
        ns,
        `${db}-0`,
        '-c',
        'database',
        '--',
        'psql',
        '-U',
        'postgres',
        '-XAtc',
        'select count(*) from pg_stat_replication',
      ]);
      return out.trim() === '1' || undefined;
    });
    // Rows for the backup to hold and the restore to read back.
    await writeFirstRows(ns, db, 'postgres');
  });

  const figures: Record<string, number> = {};
  afterAll(() => {
    process.stderr.write(`[kubectl durable figures] ${JSON.stringify(figures)}\n`);
    for (const text of outputs) expect(text).not.toContain(password);
    process.stderr.write(`[kubectl durable outputs]\n${outputs.filter(Boolean).join('\n---\n')}\n`);
  });

  it('status: engine, phase, members with role, lag and node, endpoints, workflow step and UI link', async () => {
    const r = await run(['status', db, '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const nodes = await kubectlOk([
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      `app.kubernetes.io/instance=${db}`,
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}{"\\n"}{end}',
    ]);
    const nodeOf = Object.fromEntries(
      nodes
        .trim()
        .split('\n')
        .map((l) => l.split('=')),
    );
    expect(r.stdout).toContain(`Database    ${ns}/${db}\n`);
    expect(r.stdout).toContain('Engine      postgres 15\n');
    expect(r.stdout).toMatch(/Phase {7}Ready {2}\S+/);
    expect(r.stdout).toContain(`Primary     ${db}-primary:5432  (${db}-primary.${ns}.svc.cluster.local)\n`);
    expect(r.stdout).toContain(`Read-only   ${db}-ro:5432`);
    expect(r.stdout).toMatch(new RegExp(`${db}-0 +primary +\\S+ +true +\\d+ +- +${nodeOf[`${db}-0`]}\\n`));
    expect(r.stdout).toMatch(
      new RegExp(`${db}-1 +replica +\\S+ +true +\\d+ +[\\d.]+s / \\d+ B +${nodeOf[`${db}-1`]}\\n`),
    );
    expect(r.stdout).toMatch(new RegExp(`Workflow    database/${ns}/${db}  step: \\S`));
    expect(r.stdout).toContain(`Temporal UI ${stackInfo().temporal.uiUrl}`);
    expect(r.stdout).toMatch(/REASON +MESSAGE\n/);
  });

  it('status -o json: the same view for scripts', async () => {
    const r = await run(['status', db, '-n', ns, '-o', 'json']);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as StatusView;
    expect(v).toMatchObject({
      namespace: ns,
      name: db,
      engine: 'postgres',
      phase: 'Ready',
      replicas: { desired: 2, ready: 2 },
    });
    expect(v.members.map((m) => [m.name, m.role, m.ready])).toEqual([
      [`${db}-0`, 'primary', true],
      [`${db}-1`, 'replica', true],
    ]);
    expect(v.endpoints.primary).toEqual({
      service: `${db}-primary`,
      host: `${db}-primary.${ns}.svc.cluster.local`,
      port: 5432,
    });
  });

  let backupName = '';
  it('backup --wait: an on-demand backup, its outcome printed, exit 0', async () => {
    const t0 = Date.now();
    const r = await run(['backup', db, '-n', ns, '--wait']);
    expect(r.code).toBe(0);
    const m = /^backup (\S+) Succeeded in (\d+)s, 1 attempt: (\d[\d.]* [kM]?B) at (pvc:\/\/\S+)\n$/.exec(
      r.stdout,
    );
    expect(m).not.toBeNull();
    backupName = m![1]!;
    expect(backupName).toMatch(new RegExp(`^${db}-manual-\\d{14}$`));
    expect(m![4]).toBe(`pvc://${db}-backups/${db}/${backupName}.sql.gz`);
    expect(r.stderr).toContain(`databasebackup.durable.dev/${backupName} created`);
    const b = await getBackup(ns, backupName);
    expect(b?.status?.phase).toBe('Succeeded');
    expect(b?.spec.reason).toBe('manual');
    process.stderr.write(`[kubectl durable] backup --wait took ${Date.now() - t0} ms\n`);
  });

  it('backups: the table and -o yaml', async () => {
    const r = await run(['backups', db, '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(
      /^NAME +PHASE +REASON +STARTED +DURATION +SIZE +ATTEMPTS +DESTINATION$/,
    );
    expect(r.stdout).toMatch(
      new RegExp(`${backupName} +Succeeded +manual +\\S+ ago +\\S+ +\\S+ k?B +1 +pvc://${db}-backups/`),
    );
    const y = await run(['backups', db, '-n', ns, '-o', 'yaml']);
    const rows = YAML.parse(y.stdout) as BackupRow[];
    expect(rows).toEqual([expect.objectContaining({ name: backupName, phase: 'Succeeded', attempts: 1 })]);
    expect(rows[0]!.sizeBytes).toBeGreaterThan(0);
  });

  it("status after the backup: the last backup; history: the Database's workflow and the backup's run", async () => {
    const s = await run(['status', db, '-n', ns, '--no-lag']);
    expect(s.stdout).toMatch(new RegExp(`Last backup ${backupName}  Succeeded  \\S+ ago`));
    expect(s.stdout).toMatch(new RegExp(`Restorable  1 backup: ${backupName} \\(\\S+ ago\\)\n`));
    const r = await run(['history', db, '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`database +RUNNING +\\S+… +database/${ns}/${db} `));
    expect(r.stdout).toMatch(new RegExp(`backup +COMPLETED +\\S+ +backup/${ns}/${backupName} `));
    const j = await run(['history', db, '-n', ns, '-o', 'json']);
    const rows = JSON.parse(j.stdout) as HistoryRow[];
    expect(rows.find((x) => x.workflowId === `backup/${ns}/${backupName}`)).toMatchObject({
      workflow: 'backup',
      status: 'COMPLETED',
    });
    expect(rows.find((x) => x.workflowId === `database/${ns}/${db}`)?.workflow).toBe('database');
  });

  it('psql: a query on the primary and on a replica, client arguments after --', async () => {
    const r = await run(['psql', db, '-n', ns, '--', '-XAtc', 'select 42']);
    expect(r).toMatchObject({ code: 0, stdout: '42\n' });
    const replica = await run([
      'psql',
      db,
      '-n',
      ns,
      '--replica',
      '--',
      '-XAtc',
      'select pg_is_in_recovery()',
    ]);
    expect(replica).toMatchObject({ code: 0, stdout: 't\n' });
    // A failing statement is the client's exit code.
    const bad = await run(['psql', db, '-n', ns, '--', '-XAtc', 'select nosuchcolumn']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('nosuchcolumn');
    // Piped SQL (no terminal): stdin reaches the client.
    const piped = await run(['psql', db, '-n', ns, '--', '-XAt'], 'select 6 * 7;\n');
    expect(piped).toMatchObject({ code: 0, stdout: '42\n' });
  });

  it('psql under a pseudo-terminal (script): an interactive session with a prompt', async () => {
    // The size a terminal would have: kubectl -t passes it on, and psql pages only taller output.
    const cmd = `stty rows 40 cols 160; exec kubectl durable psql ${db} -n ${ns}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...userEnv(), TERM: 'xterm' } });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    try {
      await waitFor('the psql prompt', async () => /postgres=# /.test(screen) || undefined, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      child.stdin.write('select 40 + 2 as answer;\n');
      await waitFor(
        'the answer',
        async () => /answer\s*\r?\n-+\r?\n\s*42\r?\n\(1 row\)/.test(screen) || undefined,
        {
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      );
      child.stdin.write('\\q\n');
      expect(await exited).toBe(0);
    } finally {
      child.kill();
      outputs.push(screen);
    }
    expect(screen).toContain(`connecting to ${db}-0 (primary) of ${ns}/${db}`);
    expect(screen).not.toContain('--More--');
  });

  it('errors name the fix: a Database that is not there, Temporal that does not answer', async () => {
    const missing = await run(['status', 'nope', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `error: Database nope not found in namespace ${ns}\n  fix: kubectl get databases -n ${ns}\n`,
    );
    const t = await run(['history', db, '-n', ns, '--temporal-address', '127.0.0.1:1']);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
    expect(t.stderr).toContain('fix: set TEMPORAL_ADDRESS (or --temporal-address HOST:PORT)');
    // status still shows the cluster's record, and says why the step is missing.
    const s = await run(['status', db, '-n', ns, '--no-lag', '--temporal-address', '127.0.0.1:1']);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(
      '(Temporal unreachable at 127.0.0.1:1: set TEMPORAL_ADDRESS or --temporal-address)',
    );
  });

  it('retry-backup: refused unless Failed; a backup that failed for real is retried, --wait prints each outcome', async () => {
    const ok = await run(['retry-backup', backupName, '-n', ns]);
    expect(ok.code).toBe(1);
    expect(ok.stderr).toBe(
      `error: backup ${backupName} Succeeded: only a Failed backup is retried\n  fix: for a newer one, take a new backup: kubectl durable backup ${db} -n ${ns}\n`,
    );
    const missing = await run(['retry-backup', 'nope', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `error: DatabaseBackup nope not found in namespace ${ns}\n  fix: kubectl get databasebackups -n ${ns}`,
    );

    const bad = `${db}-refused`;
    await breakCredentials(ns, db, 'postgres');
    try {
      const failed = await run(['backup', db, '-n', ns, '--name', bad, '--wait']);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(
        new RegExp(`^backup ${bad} Failed in \\d+s, 1 attempt: attempt 1: dump failed`),
      );
      // Retried while the engine still refuses the password: it fails again, exit 1.
      const t0 = Date.now();
      const again = await run(['retry-backup', bad, '-n', ns, '--wait']);
      figures.retryFailedAgainMs = Date.now() - t0;
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(
        new RegExp(
          `databasebackup.durable.dev/${bad} annotated durable.dev/retry=\\d+ \\(it failed after 1 attempt\\(s\\)\\)`,
        ),
      );
      expect(again.stdout).toMatch(
        new RegExp(`^backup ${bad} Failed in \\d+s, 2 attempts: attempt 2: dump failed`),
      );
    } finally {
      await restoreCredentials(ns, db, 'postgres');
    }
    const t1 = Date.now();
    const retried = await run(['retry-backup', bad, '-n', ns, '--wait']);
    figures.retrySucceededMs = Date.now() - t1;
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(
      new RegExp(
        `^backup ${bad} Succeeded in \\d+s, 3 attempts: \\d[\\d.]* [kM]?B at pvc://${db}-backups/${db}/${bad}.sql.gz\n$`,
      ),
    );
    expect((await getBackup(ns, bad))?.status).toMatchObject({
      phase: 'Succeeded',
      attempts: 3,
      jobName: `${bad}-3`,
    });
  });

  it('restore: refusals name the fix; --dry-run prints the manifest; a Succeeded backup into a new Database holds its rows', async () => {
    const copy = `${db}-copy`;
    const exists = await run(['restore', backupName, '--to', db, '-n', ns]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain(
      `error: Database ${db} exists already in ${ns}: a restore makes a new Database`,
    );
    const pitr = await run([
      'restore',
      backupName,
      '--to',
      copy,
      '-n',
      ns,
      '--time',
      new Date().toISOString(),
    ]);
    expect(pitr.code).toBe(1);
    expect(pitr.stderr).toContain('error: point-in-time restore (--time) is not available yet');
    expect(pitr.stderr).toContain(`fix: restore the newest backup finished by`);
    const dry = await run(['restore', backupName, '--to', copy, '-n', ns, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toBe(
      `from the Database ${db}: postgres 15, 2 member(s), storage 10Gi, its resources\n`,
    );
    // The source's spec as applied (its storage defaulted by the CRD), without its backup settings.
    const { backup: _backupSettings, ...shape } = twoSmallMembers('postgres', '15');
    expect(YAML.parse(dry.stdout)).toEqual({
      apiVersion: 'durable.dev/v1alpha1',
      kind: 'Database',
      metadata: { name: copy, namespace: ns },
      spec: { ...shape, storage: { size: '10Gi' }, bootstrap: { fromBackup: { name: backupName } } },
    });
    expect(await getDatabase(ns, copy)).toBeUndefined();

    const t0 = Date.now();
    const r = await run(['restore', backupName, '--to', copy, '-n', ns, '--wait']);
    figures.restoreWaitMs = Date.now() - t0;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`database.durable.dev/${copy} created, restoring backup ${backupName}\n`);
    expect(r.stdout).toMatch(
      new RegExp(`^restore of ${backupName} into ${copy} Ready in \\d+s: restored backup ${backupName}\n$`),
    );
    expect(await readRows(ns, copy, 'postgres')).toEqual(FIRST_ROWS);
    // Done with it: its pods would only slow the upgrade that follows.
    await kubectlOk(['delete', 'database', copy, '-n', ns, '--wait=false']);
  });

  it('cancel-upgrade: rejected at once with no upgrade running; accepted during a real upgrade, which rolls back', async () => {
    const none = await run(['cancel-upgrade', db, '-n', ns]);
    expect(none).toMatchObject({ code: 1, stdout: 'rejected: no upgrade is running\n', stderr: '' });
    figures.rejectedAnswerMs = none.firstOutMs!;

    await kubectlOk([
      'patch',
      'database',
      db,
      '-n',
      ns,
      '--type',
      'merge',
      '-p',
      '{"spec":{"version":"15.20"}}',
    ]);
    const generation = Number(
      await kubectlOk(['get', 'database', db, '-n', ns, '-o', 'jsonpath={.metadata.generation}']),
    );
    await waitFor(
      'the upgrade to start',
      async () => (await getDatabase(ns, db))?.status?.upgrade?.state === 'Upgrading' || undefined,
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    const t0 = Date.now();
    const r = await run(['cancel-upgrade', db, '-n', ns, '--wait']);
    figures.acceptedAnswerMs = r.firstOutMs!;
    figures.cancelToRolledBackMs = Date.now() - t0;
    expect(r.code).toBe(0);
    const upgradeId = `upgrade/${ns}/${db}/g${generation}`;
    const [accepted, outcome] = r.stdout.split('\n');
    expect(accepted).toBe(
      `accepted: cancelling the upgrade postgres 15 → postgres 15.20 (generation ${generation}, workflow ${upgradeId}): it rolls back`,
    );
    expect(outcome).toMatch(
      /^upgrade 15 → 15\.20 RolledBack: upgrade to postgres 15\.20 cancelled: cancelled while .+; rolled back to postgres 15$/,
    );
    const after = await waitForPhase(ns, db, 'Ready', { timeoutMs: 120_000 });
    expect(after.status?.currentVersion).toBe('15');
    expect(after.status?.conditions?.find((c) => c.type === 'Upgraded')).toMatchObject({
      reason: 'UpgradeCancelled',
    });
    expect(await databaseEventReasons(ns, db)).toEqual(
      expect.arrayContaining(['UpgradeCancelled', 'CancelUpgradeHandled', 'RolledBack']),
    );
    const over = await run(['cancel-upgrade', db, '-n', ns]);
    expect(over).toMatchObject({ code: 1, stdout: 'rejected: no upgrade is running\n' });

    // The Database's run, with its accepted Update, as a replay fixture.
    const workflowId = databaseWorkflowId(ns, db);
    const { runId } = await bed.client.workflow.getHandle(workflowId).describe();
    await recordHistories([
      {
        name: `kubectl-plugin-databaseWorkflow-${workflowCodeHash('databaseWorkflow')}-1`,
        workflowId,
        runId,
        workflowType: 'databaseWorkflow',
        covers:
          'PostgreSQL, 2 members: backups (one failed, retried twice), an upgrade cancelled by the cancelUpgrade Update (rejected Updates before and after)',
      },
    ]);
  });
});

describe('kubectl durable on MariaDB', () => {
  const bed = withReadyDatabase('plugm', db, twoSmallMembers('mariadb', '11.8'));

  it('status: the replica lag from Seconds_Behind_Master; mysql: the mariadb client on primary and replica', async () => {
    const ns = bed.ns;
    const s = await waitFor(
      'the replica to report its lag',
      async () => {
        const r = await durable(['status', db, '-n', ns, '-o', 'json']);
        if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
        const v = JSON.parse(r.stdout) as StatusView;
        return /^\d+(\.\d)?s$/.test(v.members.find((m) => m.role === 'replica')?.lag ?? '') ? v : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(s).toMatchObject({ engine: 'mariadb', phase: 'Ready' });
    expect(s.endpoints.primary.port).toBe(3306);
    const primary = await durable(['mysql', db, '-n', ns, '--', '-N', '-e', 'select 42']);
    expect(primary).toMatchObject({ code: 0, stdout: '42\n' });
    const replica = await durable([
      'mysql',
      db,
      '-n',
      ns,
      '--replica',
      '--',
      '-N',
      '-e',
      'select @@hostname',
    ]);
    expect(replica).toMatchObject({ code: 0, stdout: `${db}-1\n` });
    const wrong = await durable(['psql', db, '-n', ns]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`fix: kubectl durable mysql ${db}`);
  });
});
