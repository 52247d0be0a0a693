import { defineSignal } from '@temporalio/workflow';

/**
 * The planned switchover's names and signal, apart from signals.ts so that the workflows that do
 * not take part (upgrade, backup) keep their code, and their recorded histories, as they are.
 */

/**
 * A person asked for a planned switchover (annotation durable.dev/switchover-to, seen by the
 * watcher): `to` is the annotation's value, the member to make primary, not yet checked.
 */
export interface SwitchoverRequest {
  uid: string;
  to: string;
}
export const switchoverSignal = defineSignal<[SwitchoverRequest]>('switchover');

/** Id of a Database's switchover, numbered by the parent's count (State.switchovers). */
export function switchoverWorkflowId(namespace: string, name: string, seq: number): string {
  return `switchover/${namespace}/${name}/${seq}`;
}

/**
 * Id of the switchover an upgrade runs before it updates the primary (`ordinal`): one per
 * generation and member, so a retried start finds the same child.
 */
export function upgradeSwitchoverWorkflowId(
  namespace: string,
  name: string,
  generation: number,
  ordinal: number,
): string {
  return `switchover/${namespace}/${name}/upgrade-g${generation}-${ordinal}`;
}

/** Registered name of the switchover workflow function (workflows/switchover.ts). */
export const SWITCHOVER_WORKFLOW_TYPE = 'switchoverWorkflow';
