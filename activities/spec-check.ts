import { ENGINES, type DatabaseSpec, type Engine } from '../crds';
import { checkSpec, type Verdict } from '../crds/spec-rules';
import { lastFinishedBackup, type FinishedBackup } from './backup';
import { observeRunningBuild } from './database-objects';
import type { KubeClients } from './kube-clients';
import type { DatabaseTarget } from './types';

export interface SpecAssessment {
  /** The spec with the schema's defaults, when it can be reconciled. */
  verdict: Verdict & { spec?: DatabaseSpec };
  /** What the StatefulSet runs, when asked to look (`observe`) and it can be told. */
  running?: { version: string; image?: string };
  /** With `observe`: the newest finished backup, whose notice the run may have missed. */
  lastBackup?: FinishedBackup;
}

/**
 * Checks a generation's spec against the schema and the rules (supported versions, no
 * downgrade, no major jump in place) in an activity, so that the decision is recorded in the
 * workflow's history: a later build with another schema or other supported versions never
 * changes what a running workflow already decided. With `observe` (a run that knows nothing of
 * the cluster), first reads what the StatefulSet runs, and checks against that, and reads the
 * newest finished backup, which a backup run may have told a run that is no more.
 */
export async function assessSpec(
  clients: KubeClients,
  target: Omit<DatabaseTarget, 'spec'> & { spec: unknown },
  opts: { runningVersion?: string; observe: boolean },
): Promise<SpecAssessment> {
  let running: SpecAssessment['running'];
  let lastBackup: FinishedBackup | undefined;
  const engine = (target.spec as { engine?: unknown } | undefined)?.engine;
  if (opts.observe && (ENGINES as readonly unknown[]).includes(engine)) {
    running = await observeRunningBuild(clients, target, engine as Engine);
  }
  if (opts.observe) lastBackup = await lastFinishedBackup(clients, target);
  const verdict = checkSpec(target.spec, running?.version ?? opts.runningVersion);
  return { verdict, ...(running && { running }), ...(lastBackup && { lastBackup }) };
}
