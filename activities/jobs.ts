import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { isConflict, kubeCall, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';

/**
 * The Jobs of backups, restores and data deletion: created once by name, waited for with
 * heartbeats, and read back for the result their script left in its termination message.
 */

export interface JobOutcome {
  state: 'running' | 'succeeded' | 'failed';
  /** Progress while running; the error (termination message, else the Job's reason) on failure. */
  message: string;
  sizeBytes?: number;
  location?: string;
}

/** The Job, or undefined when it does not exist. */
export async function readJob(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<V1Job | undefined> {
  return kubeRead(`Job ${namespace}/${name}`, () => clients.batch.readNamespacedJob({ name, namespace }));
}

/** Creates a Job if no Job of that name exists; 'exists' means an earlier attempt created it. */
export async function createJobIfAbsent(clients: KubeClients, job: V1Job): Promise<'created' | 'exists'> {
  const { name, namespace } = job.metadata as { name: string; namespace: string };
  return kubeCall(`create Job ${namespace}/${name}`, async () => {
    try {
      await clients.batch.createNamespacedJob({ namespace, body: job });
      return 'created';
    } catch (err) {
      if (isConflict(err)) return 'exists';
      throw err;
    }
  });
}

const POLL_MS = 1_000;

/**
 * Waits until the Job has finished or `budgetSeconds` passed, heartbeating every poll (a dead
 * worker is noticed within the heartbeat timeout; a cancellation is delivered). On completion it
 * reads the result the script left in its pod's termination message.
 */
export async function waitForJob(
  clients: KubeClients,
  namespace: string,
  jobName: string,
  budgetSeconds: number,
): Promise<JobOutcome> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  for (;;) {
    const job = await readJob(clients, namespace, jobName);
    if (!job) {
      // Deleted by someone: this attempt cannot finish any more; the workflow counts it as failed.
      return { state: 'failed', message: `Job ${jobName} was deleted before it finished` };
    }
    const conditions = job.status?.conditions ?? [];
    const done = conditions.find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (done) {
      const pods = await kubeCall(`list pods of Job ${namespace}/${jobName}`, () =>
        clients.core.listNamespacedPod({
          namespace,
          labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
        }),
      );
      return jobOutcome(
        done.type === 'Complete',
        pods.items,
        `${done.reason ?? ''} ${done.message ?? ''}`.trim(),
      );
    }
    const progress: JobOutcome = {
      state: 'running',
      message: `Job ${jobName}: ${job.status?.active ?? 0} active pod(s)`,
    };
    ctx.heartbeat(progress);
    if (Date.now() >= deadline) return progress;
    await ctx.sleep(POLL_MS);
  }
}

/**
 * The result of a finished Job from its pods: the JSON the script wrote to the termination log on
 * success; on failure the failed container's message (the script's error, or the log tail), else
 * the pod's or the Job's own reason (DeadlineExceeded, BackoffLimitExceeded, …). Pure.
 */
export function jobOutcome(succeeded: boolean, pods: V1Pod[], jobReason: string): JobOutcome {
  const terminated = pods.flatMap((pod) =>
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
      .map((s) => s.state?.terminated ?? s.lastState?.terminated)
      .filter((t) => t !== undefined),
  );
  if (succeeded) {
    for (const t of terminated) {
      const result = parseResult(t.message);
      if (result) return { state: 'succeeded', message: 'completed', ...result };
    }
    return { state: 'succeeded', message: 'completed' };
  }
  const failed = terminated.find((t) => t.exitCode !== 0);
  const podReason = pods
    .map((p) => [p.status?.reason, p.status?.message].filter(Boolean).join(': '))
    .find((m) => m !== '');
  const message =
    failed?.message?.trim() ||
    (failed
      ? `container exited with code ${failed.exitCode}${failed.reason ? ` (${failed.reason})` : ''}`
      : '') ||
    podReason ||
    jobReason ||
    'the Job failed';
  return { state: 'failed', message: message.slice(0, 4000) };
}

function parseResult(message: string | undefined): { sizeBytes?: number; location?: string } | undefined {
  if (!message) return undefined;
  try {
    const value = JSON.parse(message) as { sizeBytes?: unknown; location?: unknown };
    const out: { sizeBytes?: number; location?: string } = {};
    if (typeof value.sizeBytes === 'number' && Number.isFinite(value.sizeBytes))
      out.sizeBytes = value.sizeBytes;
    if (typeof value.location === 'string') out.location = value.location;
    return out;
  } catch {
    return undefined;
  }
}
