import type { DatabaseBackup } from '../../crds';
import { getDatabase, kubeTarget, listBackups } from '../kube';
import type { Invocation } from '../main';
import {
  age,
  colourOf,
  humanBytes,
  humanDuration,
  parseFormat,
  renderTable,
  serialize,
  timestamp,
} from '../output';

/** One row of `backups <db>` (and its `-o json|yaml` form). */
export interface BackupRow {
  name: string;
  phase: string;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  durationSeconds?: number;
  sizeBytes?: number;
  attempts?: number;
  location?: string;
  error?: string;
}

export function backupRow(b: DatabaseBackup): BackupRow {
  const started = b.status?.startedAt ? Date.parse(String(b.status.startedAt)) : NaN;
  const finished = b.status?.finishedAt ? Date.parse(String(b.status.finishedAt)) : NaN;
  return {
    name: b.metadata.name!,
    phase: b.status?.phase ?? 'Pending',
    reason: b.spec.reason,
    startedAt: b.status?.startedAt ? timestamp(String(b.status.startedAt)) : undefined,
    finishedAt: b.status?.finishedAt ? timestamp(String(b.status.finishedAt)) : undefined,
    durationSeconds:
      Number.isNaN(started) || Number.isNaN(finished) ? undefined : (finished - started) / 1000,
    sizeBytes: b.status?.sizeBytes,
    attempts: b.status?.attempts,
    location: b.status?.location,
    error: b.status?.error,
  };
}

export function renderBackups(rows: BackupRow[], opts: { tty: boolean; columns: number }, now: Date): string {
  if (rows.length === 0) return 'No backups.\n';
  return renderTable(
    [
      { header: 'name' },
      { header: 'phase', colour: colourOf },
      { header: 'reason' },
      { header: 'started' },
      { header: 'duration' },
      { header: 'size' },
      { header: 'attempts' },
      { header: 'destination' },
    ],
    rows.map((r) => [
      r.name,
      r.phase,
      r.reason ?? '-',
      r.startedAt ? `${age(r.startedAt, now)} ago` : '-',
      r.durationSeconds !== undefined
        ? humanDuration(r.durationSeconds * 1000)
        : r.startedAt
          ? 'running'
          : '-',
      humanBytes(r.sizeBytes),
      r.attempts !== undefined ? String(r.attempts) : '-',
      r.location ?? (r.phase === 'Failed' && r.error ? r.error.split('\n')[0]! : '-'),
    ]),
    { width: opts.columns, colour: opts.tty },
  );
}

export async function backups(inv: Invocation): Promise<number> {
  const format = parseFormat(inv.values.output);
  const t = kubeTarget(inv.values as { kubeconfig?: string; context?: string; namespace?: string });
  const name = inv.args[0]!;
  // The Database may be gone while its backups remain (they outlive it): list them anyway.
  const list = await listBackups(t, name);
  if (list.length === 0) await getDatabase(t, name);
  const rows = list.map(backupRow);
  inv.io.out(format === 'table' ? renderBackups(rows, inv.io, new Date()) : serialize(rows, format));
  return 0;
}
