import type { DatabaseTarget } from '../../../activities';
import { act } from '../../activity-options';
import { ConditionTypes } from '../../conditions';
import { SUPERSEDED, type Generation, type Superseded } from '../generation';
import { lean } from '../builds';
import { announce, type DatabaseEvent } from '../status-book';

/**
 * The objects a Database needs before its pods: the finalizer (so a deletion reaches this
 * workflow), the prerequisites (namespace-level things the spec names), the ConfigMap and the
 * credentials Secret. Returns the ConfigMap's hash, which rolls the pods when the config changes.
 */
export async function ensureConfiguration(
  g: Generation,
  target: DatabaseTarget,
): Promise<{ configHash: string } | Superseded> {
  const { id, ref, book } = g;
  const { name } = g.entity;
  if (
    (await g.run(`add finalizer to Database ${id}`, () =>
      act(`add finalizer to Database ${id}`).addFinalizer(ref),
    )) === SUPERSEDED
  )
    return SUPERSEDED;
  if (
    (await g.run(`check prerequisites of ${id}`, () =>
      act(`check prerequisites of Database ${id}`).checkPrerequisites(lean(target)),
    )) === SUPERSEDED
  )
    return SUPERSEDED;

  const cm = await g.run(`apply ConfigMap ${id}-config`, () =>
    act(`apply ConfigMap ${id}-config`).applyConfigMap(target),
  );
  if (cm === SUPERSEDED) return SUPERSEDED;
  book.mark(ConditionTypes.ConfigMapReady, 'True', 'Applied', `ConfigMap ${name}-config ${cm.outcome}`);
  await book.report(announce('ConfigMap', `${name}-config`, cm.outcome));

  const secret = await g.run(`ensure Secret ${id}-credentials`, () =>
    act(`ensure Secret ${id}-credentials`).ensureSecret(lean(target)),
  );
  if (secret === SUPERSEDED) return SUPERSEDED;
  g.entity.state.status.secretName = secret.secretName;
  book.mark(ConditionTypes.SecretReady, 'True', 'Present', `Secret ${secret.secretName} ${secret.outcome}`);
  await book.report(announce('Secret', secret.secretName, secret.outcome));
  return { configHash: cm.configHash };
}

/** The StatefulSet of the members, with the pod template for `target` and its config hash. */
export async function applyMembers(
  g: Generation,
  target: DatabaseTarget,
  configHash: string,
): Promise<void | Superseded> {
  const sts = await g.run(`apply StatefulSet ${g.id}`, () =>
    act(`apply StatefulSet ${g.id}`).applyStatefulSet(lean(target), configHash),
  );
  if (sts === SUPERSEDED) return SUPERSEDED;
  await g.book.report(announce('StatefulSet', g.entity.name, sts.outcome));
}

/** The primary, read-only and headless Services; their names become status.endpoints. */
export async function applyServices(g: Generation, target: DatabaseTarget): Promise<void | Superseded> {
  const { name, state } = g.entity;
  const svc = await g.run(`apply Services of ${g.id}`, () =>
    act(`apply Services ${g.id}-primary, -ro, -headless`).applyServices(lean(target)),
  );
  if (svc === SUPERSEDED) return SUPERSEDED;
  state.status.endpoints = svc.endpoints;
  g.book.mark(
    ConditionTypes.ServicesReady,
    'True',
    'Applied',
    `Services ${name}-primary, ${name}-ro, ${name}-headless ${svc.outcome}`,
  );
  await g.book.report(announce('Services', `${name}-primary, ${name}-ro, ${name}-headless`, svc.outcome));
}

/**
 * The objects of a generation in one activity (one-pass-provision-v1): finalizer, prerequisites,
 * ConfigMap, Secret, the StatefulSet unless an upgrade rolls it, and the Services; then one
 * status write with the generation's `announcement` (when it starts here) and an Event for each
 * object created or changed.
 */
export async function ensureObjects(
  g: Generation,
  target: DatabaseTarget,
  opts: { statefulSet: boolean },
  announcement?: DatabaseEvent,
): Promise<{ configHash: string } | Superseded> {
  const { id, book } = g;
  const { state } = g.entity;
  const what = `apply ConfigMap, Secret, ${opts.statefulSet ? 'StatefulSet, ' : ''}Services of ${id}`;
  const objects = await g.run(what, () => act(what).ensureObjects(target, opts));
  if (objects === SUPERSEDED) return SUPERSEDED;
  state.status.secretName = objects.secretName;
  state.status.endpoints = objects.endpoints;
  const events: (DatabaseEvent | undefined)[] = [announcement];
  for (const o of objects.outcomes) {
    const text = `${o.kind} ${o.name} ${o.outcome}`;
    if (o.kind === 'ConfigMap') book.mark(ConditionTypes.ConfigMapReady, 'True', 'Applied', text);
    if (o.kind === 'Secret') book.mark(ConditionTypes.SecretReady, 'True', 'Present', text);
    if (o.kind === 'Services') book.mark(ConditionTypes.ServicesReady, 'True', 'Applied', text);
    events.push(announce(o.kind, o.name, o.outcome));
  }
  await book.report(...events);
  return { configHash: objects.configHash };
}
