import { databaseWorkflowId, stateQuery } from '../../workflows/signals';
import { objectNames, podName } from '../../contracts/names';
import { databaseEvents, getDatabase, getPods, getStatefulSet, kubeTarget, listBackups, api } from '../kube';
import { measureLag } from '../lag';
import type { Invocation } from '../main';
import { parseFormat, serialize } from '../output';
import { buildStatusView } from '../status-model';
import { renderStatus } from '../status-text';
import {
  connectTemporal,
  temporalSettings,
  withTimeout,
  workflowUiUrl,
  type TemporalFlags,
} from '../temporal';

/**
 * `status <db>`: reads the Database and what it owns, measures lag in the engines, asks the
 * workflow for its current step; Temporal being unreachable costs only the step (the rest is the
 * cluster's record), and the line says which address was tried.
 */
export async function status(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const format = parseFormat(values.output);
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const name = inv.args[0]!;
  const db = await getDatabase(t, name);
  const memberNames = [
    ...new Set([
      ...(db.status?.members ?? []).map((m) => m.name),
      ...Array.from({ length: db.spec.replicas }, (_, i) => podName(name, i)),
    ]),
  ];
  const [pods, statefulSet, backups, events] = await api(
    `read the objects of Database ${t.namespace}/${name}`,
    () =>
      Promise.all([
        getPods(t, memberNames),
        getStatefulSet(t, objectNames(name).statefulSet),
        listBackups(t, name),
        databaseEvents(t, name),
      ]),
    t,
  );
  const replicas = (db.status?.members ?? []).filter((m) => m.role === 'replica').map((m) => m.name);
  const lag = values['no-lag']
    ? undefined
    : await measureLag(
        t,
        db,
        replicas.filter((r) => pods.has(r)),
      );
  const settings = temporalSettings(values as TemporalFlags);
  const workflowId = databaseWorkflowId(t.namespace, name);
  const { step, stepNote } = await workflowStep(settings, workflowId);
  const view = buildStatusView({
    db,
    pods,
    statefulSet,
    backups,
    events,
    lag,
    workflowId,
    uiUrl: settings.uiUrl ? workflowUiUrl(settings.uiUrl, settings.namespace, workflowId) : undefined,
    step,
    stepNote,
  });
  io.out(format === 'table' ? renderStatus(view, io, new Date()) : serialize(view, format));
  return 0;
}

/** The workflow's current step (its `state` query), or why there is none. */
async function workflowStep(
  settings: ReturnType<typeof temporalSettings>,
  workflowId: string,
): Promise<{ step?: string; stepNote?: string }> {
  let session;
  try {
    session = await connectTemporal(settings, 3_000);
  } catch {
    return {
      stepNote: `Temporal unreachable at ${settings.address}: set TEMPORAL_ADDRESS or --temporal-address`,
    };
  }
  try {
    const view = await withTimeout(
      session.client.workflow.getHandle(workflowId).query(stateQuery),
      5_000,
      'no worker answered within 5s',
    );
    return view.step ? { step: view.step } : { stepNote: 'no step running' };
  } catch (err) {
    return { stepNote: `step unknown: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  } finally {
    await session.close();
  }
}
