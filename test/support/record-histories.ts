import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { binary, repoRoot } from '../../tools/stack/binaries';
import {
  readIndex,
  WORKFLOW_ENTRIES,
  workflowCodeHash,
  writeIndex,
  type WorkflowType,
} from '../replay/coverage';
import { stackInfo } from './stack';

const run = promisify(execFile);

export const recording = !!process.env.DURABLE_RECORD_HISTORIES;

/**
 * With DURABLE_RECORD_HISTORIES set, saves these runs as replay fixtures
 * (test/replay/histories/<name>.json, in the proto JSON form the Temporal CLI and UI export,
 * which historyFromJSON reads) and records in the index which workflow type and code each holds
 * and what branch it covers. Without it, does nothing.
 */
export async function recordHistories(
  runs: { name: string; workflowId: string; runId: string; workflowType: WorkflowType; covers: string }[],
): Promise<void> {
  if (!recording) return;
  const index = readIndex();
  for (const r of runs) {
    const { stdout } = await run(
      binary('temporal'),
      [
        'workflow',
        'show',
        `--address=${stackInfo().temporal.address}`,
        `--workflow-id=${r.workflowId}`,
        `--run-id=${r.runId}`,
        '--output=json',
      ],
      { maxBuffer: 512 * 1024 * 1024 },
    );
    const file = `${r.name}.json`;
    fs.writeFileSync(path.join(repoRoot, 'test', 'replay', 'histories', file), stdout);
    index[file] = {
      workflowType: r.workflowType,
      codeHash: workflowCodeHash(r.workflowType),
      covers: r.covers,
    };
  }
  writeIndex(index);
}

const PREFIXES = ['database', 'upgrade', 'backup', 'scheduled-backup'];

/**
 * Records every run of the workflows of one test namespace (Database workflows, their upgrade
 * children, backup runs, scheduled backups) as `<label>-<workflowType>-<codeHash>-<i>.json`.
 * Without DURABLE_RECORD_HISTORIES, does nothing.
 */
export async function recordNamespaceHistories(
  client: Client,
  namespace: string,
  label: string,
  covers: string,
): Promise<void> {
  if (!recording) return;
  const found: { workflowId: string; runId: string; workflowType: WorkflowType }[] = [];
  for await (const wf of client.workflow.list()) {
    if (!PREFIXES.some((p) => wf.workflowId.startsWith(`${p}/${namespace}/`))) continue;
    if (!(wf.type in WORKFLOW_ENTRIES)) continue;
    found.push({ workflowId: wf.workflowId, runId: wf.runId, workflowType: wf.type as WorkflowType });
  }
  found.sort((a, b) => `${a.workflowId}/${a.runId}`.localeCompare(`${b.workflowId}/${b.runId}`));
  const seq = new Map<string, number>();
  await recordHistories(
    found.map((f) => {
      const n = (seq.get(f.workflowType) ?? 0) + 1;
      seq.set(f.workflowType, n);
      return { ...f, name: `${label}-${f.workflowType}-${workflowCodeHash(f.workflowType)}-${n}`, covers };
    }),
  );
}
