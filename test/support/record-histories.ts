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
import { Worker } from '@temporalio/worker';
import { stackInfo, temporalClient, temporalConnection } from './stack';

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

/**
 * The runs of `types` among one test namespace's workflows (by the DatabaseNamespace search
 * attribute): recorded as `<label>-<type>-<codeHash>-<i>` when DURABLE_RECORD_HISTORIES is set,
 * and replayed against the workflow bundle the test run built, each one without an error (a
 * nondeterminism error is the workflow code no longer matching its own history). Returns the
 * types found, for the test to check that what it meant to cover ran.
 */
export async function recordAndReplayNamespace(
  namespace: string,
  label: string,
  types: readonly WorkflowType[],
  covers: string,
): Promise<Set<WorkflowType>> {
  const connection = await temporalConnection();
  try {
    const client = temporalClient(connection);
    const runs: { workflowId: string; runId: string; type: WorkflowType }[] = [];
    for await (const wf of client.workflow.list({ query: `DatabaseNamespace="${namespace}"` })) {
      const type = types.find((t) => t === wf.type);
      if (type) runs.push({ workflowId: wf.workflowId, runId: wf.runId, type });
    }
    await recordHistories(
      runs.map((r, i) => ({
        name: `${label}-${r.type}-${workflowCodeHash(r.type)}-${i + 1}`,
        workflowId: r.workflowId,
        runId: r.runId,
        workflowType: r.type,
        covers,
      })),
    );
    const histories = await Promise.all(
      runs.map(async (r) => ({
        workflowId: r.workflowId,
        history: await client.workflow.getHandle(r.workflowId, r.runId).fetchHistory(),
      })),
    );
    const workflowBundle = { code: fs.readFileSync(process.env.DURABLE_WORKFLOW_BUNDLE!, 'utf8') };
    const failed: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      if (result.error) failed.push(`${result.workflowId}: ${result.error.message}`);
    }
    if (failed.length > 0) throw new Error(`histories that do not replay:\n${failed.join('\n')}`);
    return new Set(runs.map((r) => r.type));
  } finally {
    await connection.close();
  }
}
