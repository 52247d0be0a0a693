import type { Condition, ConditionStatus } from '../crds';

/**
 * Status conditions as the Kubernetes API conventions want them: one entry per type, and
 * lastTransitionTime moves only when the status value changes (not on every report).
 * Pure: the caller passes the time (workflow time inside a workflow).
 */
export const ConditionTypes = {
  Ready: 'Ready',
  Progressing: 'Progressing',
  ConfigMapReady: 'ConfigMapReady',
  SecretReady: 'SecretReady',
  StatefulSetReady: 'StatefulSetReady',
  ServicesReady: 'ServicesReady',
  /** The last version or image change: reasons in UpgradeReasons. */
  Upgraded: 'Upgraded',
  /** The backup Schedule matches spec.backup (False: paused, or it could not be set up). */
  BackupScheduled: 'BackupScheduled',
  /** The newest backup run that finished: True when it Succeeded. */
  LastBackupSucceeded: 'LastBackupSucceeded',
  /** spec.bootstrap.fromBackup was restored (False with BackupNotFound, BackupNotReady, RestoreFailed…). */
  Restored: 'Restored',
  /** Every replica streams from member 0 (True with reason SingleMember when there are none). */
  ReplicationReady: 'ReplicationReady',
} as const;
export type ConditionType = (typeof ConditionTypes)[keyof typeof ConditionTypes];

/** Reasons of the Upgraded condition (also the reasons of the matching Events). */
export const UpgradeReasons = {
  Upgrading: 'Upgrading',
  Upgraded: 'Upgraded',
  UpgradeFailed: 'UpgradeFailed',
  RolledBack: 'RolledBack',
  UpgradeCancelled: 'UpgradeCancelled',
  /** The run that upgraded ended (terminated, reset) before the upgrade completed. */
  UpgradeInterrupted: 'UpgradeInterrupted',
} as const;

export interface ConditionUpdate {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  observedGeneration: number,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    message: update.message.slice(0, 1024),
    observedGeneration,
    lastTransitionTime:
      existing && existing.status === update.status
        ? existing.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const others = conditions.filter((c) => c.type !== update.type);
  return [...others, next].sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
