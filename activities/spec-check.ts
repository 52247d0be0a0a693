import { ENGINES, type Condition, type DatabaseSpec, type DatabaseStatus, type Engine } from '../crds';
import { checkSpec, type Verdict } from '../crds/spec-rules';
import { lastFinishedBackup, stamp, type FinishedBackup } from './backup';
import { observeRunningBuild } from './database-objects';
import { readDatabase } from './database-ref';
import type { KubeClients } from './kube-clients';
import { readRoles, type RoleRecord } from './roles';
import type { DatabaseTarget } from './types';

export interface SpecAssessment {
  /** The spec with the schema's defaults, when it can be reconciled. */
  verdict: Verdict & { spec?: DatabaseSpec };
  /** What the StatefulSet runs, when asked to look (`observe`) and it can be told. */
  running?: { version: string; image?: string };
  /** With `observe`: the newest finished backup, whose notice the run may have missed. */
  lastBackup?: FinishedBackup;
  /**
   * With `observe`: status.upgrade and the Upgraded condition as an earlier run left them (it may
   * have ended mid-upgrade); a fresh run's first status report would otherwise drop the condition.
   */
  recordedUpgrade?: DatabaseStatus['upgrade'];
  recordedUpgradedCondition?: Condition;
}

/**
 * A scale-down removes the members with the highest ordinals: one that would remove the primary
 * (after a failover made a high ordinal primary) is refused, rather than taking the primary away
 * and forcing a failover that may lose writes.
 */
export function keepsPrimary(
  verdict: Verdict & { spec?: DatabaseSpec },
  name: string,
  roles: RoleRecord | undefined,
): Verdict & { spec?: DatabaseSpec } {
  if (!verdict.ok || !verdict.spec || !roles) return verdict;
  const primary = Math.max(roles.primary, roles.targetPrimary ?? 0);
  if (verdict.spec.replicas > primary) return verdict;
  return {
    ok: false,
    reason: 'PrimaryWouldBeRemoved',
    message: `replicas: ${verdict.spec.replicas} would remove ${name}-${primary}, the primary (a scale-down removes the highest ordinals first): keep at least ${primary + 1} members while ${name}-${primary} is the primary`,
  };
}

/**
 * Checks a generation's spec against the schema and the rules (supported versions, no
 * downgrade, no major jump in place) in an activity, so that the decision is recorded in the
 * workflow's history: a later build with another schema or other supported versions never
 * changes what a running workflow already decided. With `observe` (a run that knows nothing of
 * the cluster), first reads what the StatefulSet runs, and checks against that; and reads what
 * an earlier run may have left unsaid: the newest finished backup (told to a run that is no
 * more) and the upgrade its status says is under way.
 */
export async function assessSpec(
  clients: KubeClients,
  target: Omit<DatabaseTarget, 'spec'> & { spec: unknown },
  opts: { runningVersion?: string; observe: boolean },
): Promise<SpecAssessment> {
  let running: SpecAssessment['running'];
  let lastBackup: FinishedBackup | undefined;
  let recordedUpgrade: SpecAssessment['recordedUpgrade'];
  let recordedUpgradedCondition: Condition | undefined;
  const engine = (target.spec as { engine?: unknown } | undefined)?.engine;
  if (opts.observe && (ENGINES as readonly unknown[]).includes(engine)) {
    running = await observeRunningBuild(clients, target, engine as Engine);
  }
  const db = opts.observe ? await readDatabase(clients, target) : undefined;
  if (db) {
    lastBackup = await lastFinishedBackup(clients, target, stamp(db.metadata.creationTimestamp));
    recordedUpgrade = db.status?.upgrade;
    recordedUpgradedCondition = db.status?.conditions?.find((c) => c.type === 'Upgraded');
  }
  const verdict = keepsPrimary(
    checkSpec(target.spec, running?.version ?? opts.runningVersion),
    target.name,
    await readRoles(clients, target),
  );
  return {
    verdict,
    ...(running && { running }),
    ...(lastBackup && { lastBackup }),
    ...(recordedUpgrade && { recordedUpgrade }),
    ...(recordedUpgradedCondition && { recordedUpgradedCondition }),
  };
}
