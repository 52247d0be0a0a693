import type { WorkflowExecutionInfo } from '@temporalio/client';
import { backupScheduleId, backupWorkflowId } from '../../contracts/backup-names';
import { databaseWorkflowId } from '../../workflows/signals';
import { kubeTarget, listBackups } from '../kube';
import type { Invocation } from '../main';
import {
  UserError,
  humanDuration,
  parseFormat,
  renderTable,
  serialize,
  timestamp,
  type Colour,
} from '../output';
import { connectTemporal, temporalSettings, type TemporalFlags } from '../temporal';

/**
 * `history <db>`: what Temporal ran for a Database. Found by what identifies it, not by an id
 * prefix (`backup/shop/orders` is also a prefix of the backups of `orders-copy`): the Database's
 * search attributes, which its workflow and its upgrade children carry; whatever has its workflow
 * as root (the upgrades' pre-upgrade backups); the runs its backup
 * Schedule started (TemporalScheduledById); and the backup runs of its DatabaseBackup objects,
 * by their exact workflow ids. Every value in the query is a Kubernetes name checked against the
 * DNS-name pattern (kube.ts checkName), so a quote can never reach it.
 */
export function historyQuery(namespace: string, database: string, backupNames: string[]): string {
  const q = (s: string) => `'${s}'`;
  const parts = [
    `(DatabaseNamespace = ${q(namespace)} AND DatabaseName = ${q(database)})`,
    // Children of children (an upgrade's pre-upgrade backup), also once retention removed its object.
    `RootWorkflowId = ${q(databaseWorkflowId(namespace, database))}`,
    `TemporalScheduledById = ${q(backupScheduleId(namespace, database))}`,
  ];
  if (backupNames.length) {
    parts.push(`WorkflowId IN (${backupNames.map((b) => q(backupWorkflowId(namespace, b))).join(', ')})`);
  }
  return parts.join(' OR ');
}

export interface HistoryRow {
  workflow: string;
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime?: string;
  durationSeconds?: number;
  parent?: string;
}

const KINDS: Record<string, string> = {
  databaseWorkflow: 'database',
  upgradeWorkflow: 'upgrade',
  backupWorkflow: 'backup',
  scheduledBackupWorkflow: 'scheduled backup',
};

export function historyRow(info: WorkflowExecutionInfo): HistoryRow {
  const start = info.startTime.getTime();
  return {
    workflow: KINDS[info.type] ?? info.type,
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.status.name,
    startTime: timestamp(info.startTime),
    closeTime: info.closeTime ? timestamp(info.closeTime) : undefined,
    durationSeconds: info.closeTime ? (info.closeTime.getTime() - start) / 1000 : undefined,
    parent: info.parentExecution?.workflowId ?? undefined,
  };
}

function statusColour(s: string): Colour | undefined {
  if (s === 'COMPLETED') return 'green';
  if (s === 'RUNNING' || s === 'CONTINUED_AS_NEW') return 'yellow';
  if (s === 'FAILED' || s === 'TERMINATED' || s === 'TIMED_OUT' || s === 'CANCELLED') return 'red';
  return undefined;
}

export function renderHistory(
  rows: HistoryRow[],
  opts: { tty: boolean; columns: number },
  now: Date,
): string {
  if (rows.length === 0) return 'No workflow runs found.\n';
  return renderTable(
    [
      { header: 'started' },
      { header: 'what' },
      { header: 'status', colour: statusColour },
      { header: 'took' },
      { header: 'workflow id' },
      { header: 'run' },
    ],
    rows.map((r) => [
      r.startTime,
      r.workflow,
      r.status,
      r.durationSeconds !== undefined
        ? humanDuration(r.durationSeconds * 1000)
        : `${humanDuration(now.getTime() - Date.parse(r.startTime))}…`,
      r.workflowId,
      r.runId.slice(0, 8),
    ]),
    { width: opts.columns, colour: opts.tty },
  );
}

export async function history(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const format = parseFormat(values.output);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UserError(`--limit must be a positive whole number, not '${String(values.limit)}'`);
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const name = inv.args[0]!;
  // The backups' names come from the cluster; a deleted Database's backups still count.
  const backups = (await listBackups(t, name)).map((b) => b.metadata.name!);
  const settings = temporalSettings(values as TemporalFlags);
  const session = await connectTemporal(settings);
  const rows: HistoryRow[] = [];
  try {
    for await (const info of session.client.workflow.list({
      query: historyQuery(t.namespace, name, backups),
    })) {
      rows.push(historyRow(info));
      if (rows.length >= 1000) break;
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UserError(
      `listing the workflows of ${t.namespace}/${name} in Temporal namespace ${settings.namespace} at ${settings.address} failed: ${why}`,
      /search attribute/i.test(why)
        ? 'register the search attributes: temporal operator search-attribute create --name DatabaseName --type Keyword (and DatabaseNamespace, DatabaseEngine, DatabasePhase)'
        : 'check TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (or --temporal-address / --temporal-namespace)',
    );
  } finally {
    await session.close();
  }
  rows.sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
  const shown = rows.slice(0, limit);
  if (rows.length === 0 && backups.length === 0) {
    io.err(
      `no workflow runs for ${t.namespace}/${name} (database workflow ${databaseWorkflowId(t.namespace, name)})\n`,
    );
  }
  io.out(format === 'table' ? renderHistory(shown, io, new Date()) : serialize(shown, format));
  return 0;
}
