import * as k8s from '@kubernetes/client-node';
import { DATABASE, GROUP, parseDatabaseSpec, VERSION } from '../crds';
import type { Logger } from '../common/logger';
import type { AnnotationRequestSignaler } from './annotation-requests';
import { ResilientInformer, type InformerEvent } from './resilient-informer';
import type { DatabaseObject, DatabaseObservation, SpecSignaler } from './signaler';
import type { BackoffOptions } from './timing';

/**
 * The Database informer: every add or update whose generation is new (or whose deletion just
 * started) becomes a spec signal. Status-only updates leave the generation alone and so send
 * nothing; the final delete event sends nothing either (the finalizer turned deletion into an
 * update with deletionTimestamp, which was signaled) — unless the finalizer was bypassed, in
 * which case the workflow is told that its Database is gone (SpecSignaler.vanished).
 */

/** `/apis/durable.dev/v1alpha1[/namespaces/<ns>]/databases`. */
export function databasePath(namespace?: string): string {
  const ns = namespace ? `/namespaces/${namespace}` : '';
  return `/apis/${GROUP}/${VERSION}${ns}/${DATABASE.plural}`;
}

/** What the signaler needs from a Database; undefined when it lacks a name, namespace or uid. */
export function observationOf(db: DatabaseObject): DatabaseObservation | undefined {
  const { name, namespace, uid, generation, deletionTimestamp } = db.metadata ?? {};
  if (!name || !namespace || !uid) return undefined;
  const spec = db.spec ?? {};
  const engine = (spec as { engine?: unknown }).engine;
  return {
    uid,
    namespace,
    name,
    generation: generation ?? 0,
    deleting: deletionTimestamp !== undefined && deletionTimestamp !== null,
    spec,
    engine: typeof engine === 'string' && engine !== '' ? engine : undefined,
  };
}

export interface DatabaseInformerOptions {
  kubeConfig: k8s.KubeConfig;
  /** Undefined: all namespaces. */
  namespace?: string;
  signaler: SpecSignaler;
  /** Turn request annotations (cancel-upgrade, switchover) into signals (metadata only: no new generation). */
  requests?: AnnotationRequestSignaler[];
  logger: Logger;
  watchdogMs?: number;
  backoff?: BackoffOptions;
  onActivity?: () => void;
  onEvent?: (event: InformerEvent) => void;
}

export function createDatabaseInformer(opts: DatabaseInformerOptions): ResilientInformer<DatabaseObject> {
  const { kubeConfig, namespace, signaler, requests = [], logger } = opts;
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const log = logger.child({ part: 'database-informer' });
  const list = (): Promise<k8s.KubernetesListObject<DatabaseObject>> =>
    namespace
      ? custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: DATABASE.plural,
        })
      : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: DATABASE.plural });

  const seen = (db: DatabaseObject) => {
    for (const r of requests) r.observe(db);
    const obs = observationOf(db);
    if (!obs) return;
    if (!signaler.observe(obs)) return;
    const parsed = parseDatabaseSpec(obs.spec);
    if (!parsed.ok) {
      // Signaled all the same: the workflow reports the error as a condition.
      log.warn(
        { namespace: obs.namespace, name: obs.name, generation: obs.generation, invalid: parsed.message },
        'Database spec does not parse',
      );
    }
  };

  return new ResilientInformer<DatabaseObject>({
    name: `databases/${namespace ?? '*'}`,
    kubeConfig,
    path: databasePath(namespace),
    list,
    logger,
    watchdogMs: opts.watchdogMs,
    backoff: opts.backoff,
    onActivity: opts.onActivity,
    onEvent: opts.onEvent,
    handlers: {
      add: seen,
      update: seen,
      delete: (db) => {
        if (db.metadata?.uid) for (const r of requests) r.forget(db.metadata!.uid);
        const obs = observationOf(db);
        if (obs) void signaler.vanished(obs);
        else if (db.metadata?.uid) signaler.forget(db.metadata.uid);
      },
    },
  });
}
