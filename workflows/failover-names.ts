/** The failover workflow's names, apart from signals.ts so that other workflows' code does not change with them. */

/**
 * Id of the failover of a Database away from the member `from`, numbered by the parent's failover
 * count (State.failovers): a retried start finds the same child, the next failover gets its own.
 */
export function failoverWorkflowId(namespace: string, name: string, seq: number): string {
  return `failover/${namespace}/${name}/${seq}`;
}

/** Registered name of the failover workflow function (workflows/failover.ts). */
export const FAILOVER_WORKFLOW_TYPE = 'failoverWorkflow';
