import type { Client, WorkflowHandle } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import type { RunningOperator } from './operator';

/**
 * Workflow runs ended from outside, as a reset, a lost Temporal database or the history limit
 * would end them, for the tests that check what a fresh run does (the cluster is the record).
 */

/** One activity a run scheduled: its type and its summary (what the UI shows). */
export interface ScheduledStep {
  type: string;
  summary: string;
}

/** The activities scheduled so far in a run of a workflow (the current one without `runId`). */
export async function scheduledSteps(handle: WorkflowHandle): Promise<ScheduledStep[]> {
  const history = await handle.fetchHistory();
  const steps: ScheduledStep[] = [];
  for (const e of history.events ?? []) {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (!type) continue;
    let summary = '';
    try {
      const data = e.userMetadata?.summary?.data;
      summary = data ? String(JSON.parse(Buffer.from(data).toString('utf8'))) : '';
    } catch {
      // A summary that is not a JSON string: matched as empty.
    }
    steps.push({ type, summary });
  }
  return steps;
}

/** The activity types scheduled so far in the current run of a workflow. */
export async function scheduledActivities(handle: WorkflowHandle): Promise<string[]> {
  return (await scheduledSteps(handle)).map((s) => s.type);
}

/**
 * Waits until a running run of `workflowId` other than those in `skip` has scheduled the
 * activities `reached` asks for; returns that run's id.
 */
export async function waitForStep(
  client: Client,
  workflowId: string,
  what: string,
  reached: (steps: ScheduledStep[]) => boolean,
  { skip = new Set<string>(), timeoutMs = 300_000 }: { skip?: Set<string>; timeoutMs?: number } = {},
): Promise<string> {
  return waitFor(
    `${what} in a run of ${workflowId}`,
    async () => {
      const d = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      if (!d || d.status.name !== 'RUNNING' || skip.has(d.runId)) return undefined;
      const steps = await scheduledSteps(client.workflow.getHandle(workflowId, d.runId)).catch(
        (): ScheduledStep[] => [],
      );
      return reached(steps) ? d.runId : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Status of one run of a workflow (RUNNING, COMPLETED, TERMINATED, …). */
export async function runStatus(client: Client, workflowId: string, runId: string): Promise<string> {
  return (await client.workflow.getHandle(workflowId, runId).describe()).status.name;
}

/**
 * Terminates the current run and has a restarted watcher start a fresh one (signalWithStart);
 * resolves once it runs. Returns the terminated run's id.
 */
export async function replaceRun(
  client: Client,
  op: RunningOperator,
  workflowId: string,
  reason: string,
): Promise<string> {
  const before = (await client.workflow.getHandle(workflowId).describe()).runId;
  await client.workflow.getHandle(workflowId).terminate(reason);
  await op.restartWatcher();
  await waitFor(
    `a fresh run of ${workflowId}`,
    async () => {
      const d = await client.workflow.getHandle(workflowId).describe();
      return d.runId !== before && d.status.name === 'RUNNING';
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return before;
}
