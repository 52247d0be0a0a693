import crypto from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { FIELD_MANAGER, LABEL_INSTANCE, LABEL_MANAGED_BY, OPERATOR_NAME } from '../crds';
import type { Logger } from '../common/logger';
import { databaseWorkflowId, driftSignal, type DriftNotice, type OwnedKind } from '../workflows/signals';
import { ResilientInformer, type InformerEvent } from './resilient-informer';
import type { SignalResult } from './signaler';
import { KeyedSender, noWorkflow, temporalCall } from './sender';
import type { BackoffOptions } from './timing';
import { stableJson } from '../common/stable-json';

/**
 * Drift: the objects the operator owns (StatefulSets, Services, ConfigMaps labelled
 * `app.kubernetes.io/managed-by=durable-db-operator`) are watched, and a change that someone
 * else made to what matters, or a deletion, becomes a drift signal to the owning Database's
 * workflow, which re-ensures. The operator's own server-side applies are recognised by their
 * field manager in managedFields and ignored (see `isOwnWrite`).
 *
 * Secrets are not watched: a watch needs `list` and `watch` on Secrets, which RBAC cannot limit
 * to the operator's own (label selectors are not part of authorization; a metadata-only watch
 * needs the same verbs), and in cluster-wide mode would let the watcher read every Secret in the
 * cluster. The credentials Secret is read by name only (the worker's `get`), and the workflow's
 * periodic resync re-ensures it (re-creates it if deleted, re-adopts it if its owner reference
 * was removed); an edit of its values is nothing the operator would undo anyway (ensureSecret
 * keeps an existing Secret as it is).
 */

export { FIELD_MANAGER, LABEL_INSTANCE, LABEL_MANAGED_BY, OPERATOR_NAME };
export const OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;

/** Who wrote an object: one managedFields entry, its field set reduced to a digest. */
export interface Writer {
  manager: string;
  operation?: string;
  subresource?: string;
  /** Milliseconds since the epoch; whole seconds, and 0 when absent (scale subresource writes). */
  timeMs: number;
  /** Digest of fieldsV1 (field paths, never values). */
  fields: string;
}

/** What the drift logic keeps of an owned object: identity, writers and a digest of what matters. */
/** The owned kinds the drift informers watch (Secrets are not, see above). */
export type WatchedKind = Exclude<OwnedKind, 'Secret'>;

export interface OwnedView extends k8s.KubernetesObject {
  kind: WatchedKind;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
  };
  writers: Writer[];
  /** Changes exactly when the part of the object the operator cares about changes. */
  fingerprint: string;
  /**
   * StatefulSets only: every pod ready at the current revision. A change is a `readiness`
   * notice, so that a Database at rest (looked over only hours apart) hears of a member that
   * went down, or came back, at once.
   */
  ready?: boolean;
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

type Fingerprint = (obj: k8s.KubernetesObject & Record<string, unknown>) => string;

/** What matters per kind: what someone else may change that the operator has to put back. */
const FINGERPRINTS: Record<WatchedKind, Fingerprint> = {
  // The controller manager's status updates do not bump the generation; spec changes do.
  StatefulSet: (o) => String(o.metadata?.generation ?? ''),
  Service: (o) => sha256(stableJson(o.spec ?? {})),
  ConfigMap: (o) => sha256(stableJson({ data: o.data ?? {}, binaryData: o.binaryData ?? {} })),
};

/** Reduces an owned object to its OwnedView. */
export function ownedView(kind: WatchedKind, obj: k8s.KubernetesObject): OwnedView {
  const meta = obj.metadata ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind,
    metadata: {
      name: meta.name ?? '',
      namespace: meta.namespace ?? '',
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      labels: meta.labels,
    },
    writers: (meta.managedFields ?? []).map((e) => ({
      manager: e.manager ?? '',
      operation: e.operation,
      subresource: e.subresource || undefined,
      timeMs: e.time ? new Date(e.time).getTime() || 0 : 0,
      fields: sha256(stableJson(e.fieldsV1 ?? {})).slice(0, 16),
    })),
    fingerprint: FINGERPRINTS[kind](obj as k8s.KubernetesObject & Record<string, unknown>),
    ...(kind === 'StatefulSet' && { ready: allPodsReady(obj as k8s.V1StatefulSet) }),
  };
}

function allPodsReady(sts: k8s.V1StatefulSet): boolean {
  const want = sts.spec?.replicas ?? 1;
  const status = sts.status;
  return (
    (status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0) &&
    (status?.readyReplicas ?? 0) === want &&
    (status?.replicas ?? 0) === want &&
    status?.currentRevision === status?.updateRevision
  );
}

const writerKey = (w: Writer) => `${w.manager}|${w.operation ?? ''}|${w.subresource ?? ''}`;

/**
 * True when the change from `old` to `view` was written by the operator alone, judged by the
 * managedFields entries the change touched (the status subresource, where controllers write,
 * left out):
 *
 * 1. the writers are the entries that appeared or whose time advanced; if there are none (the
 *    API server records whole seconds, and scale-subresource entries carry no time at all), the
 *    entries whose field set changed;
 * 2. it is the operator's own write when there are writers and all are the operator's field
 *    manager.
 *
 * Comparing with the previous version, not just taking the newest entry, matters twice over: a
 * `kubectl scale` leaves an entry without time (the newest-entry rule would credit the operator's
 * older apply), and a write in the same second as the operator's would be a tie. When in doubt
 * this answers "someone else": a needless drift signal costs an idempotent re-ensure, a missed
 * one leaves drift until the next periodic resync. Entries of a forced apply's losers shrink but
 * keep their time, so they do not count as writers when the applier's entry advanced.
 */
export function isOwnWrite(view: Pick<OwnedView, 'writers'>, old: Pick<OwnedView, 'writers'>): boolean {
  const relevant = (ws: Writer[]) => ws.filter((w) => w.subresource !== 'status');
  const before = new Map(relevant(old.writers).map((w) => [writerKey(w), w]));
  const after = relevant(view.writers);
  let writers = after.filter((w) => {
    const prev = before.get(writerKey(w));
    return !prev || w.timeMs > prev.timeMs;
  });
  if (writers.length === 0) {
    writers = after.filter((w) => before.get(writerKey(w))?.fields !== w.fields);
  }
  return writers.length > 0 && writers.every((w) => w.manager === FIELD_MANAGER);
}

/** The drift notice an update calls for, if any. */
export function driftOnUpdate(view: OwnedView, old: OwnedView): DriftNotice | undefined {
  if (view.fingerprint === old.fingerprint) {
    // The pods' readiness is written by the StatefulSet controller, never by the operator.
    if (view.ready !== undefined && old.ready !== undefined && view.ready !== old.ready) {
      return { kind: view.kind, name: view.metadata.name, change: 'readiness' };
    }
    return undefined;
  }
  if (isOwnWrite(view, old)) return undefined;
  return { kind: view.kind, name: view.metadata.name, change: 'modified' };
}

/** The Database an owned object belongs to: label `app.kubernetes.io/instance`, same namespace. */
export function ownerOf(view: OwnedView): { namespace: string; name: string } | undefined {
  const name = view.metadata.labels?.[LABEL_INSTANCE];
  if (!name || !view.metadata.namespace) return undefined;
  return { namespace: view.metadata.namespace, name };
}

export interface DriftSignalerOptions {
  client: Client;
  logger: Logger;
  /** Quiet time per object before its signal goes out; a burst yields one. Default 1 s. */
  debounceMs?: number;
  backoff?: BackoffOptions;
  /** Attempts per notice before giving up (the workflow's periodic resync is the safety net). */
  maxAttempts?: number;
  requestTimeoutMs?: number;
  /** Called after each signal call (for metrics); must not throw. */
  onSignal?: (result: SignalResult, seconds: number) => void;
}

interface Drift {
  database: { namespace: string; name: string };
  notice: DriftNotice;
}

const driftFields = ({ database, notice }: Drift) => ({
  ...database,
  kind: notice.kind,
  object: notice.name,
  change: notice.change,
});

/**
 * Debounces drift notices per object (the latest change wins) and signals them: a plain signal,
 * never signalWithStart, and a Database without a running workflow is no failure.
 */
export class DriftSignaler {
  private readonly sender: KeyedSender<Drift>;

  constructor(opts: DriftSignalerOptions) {
    const log = opts.logger.child({ part: 'drift-signaler' });
    this.sender = new KeyedSender<Drift>({
      what: 'drift signal',
      logger: log,
      send: ({ database, notice }, signal) =>
        temporalCall(opts.client, signal, opts.requestTimeoutMs ?? 20_000, () =>
          opts.client.workflow
            .getHandle(databaseWorkflowId(database.namespace, database.name))
            .signal(driftSignal, notice),
        ),
      permanent: noWorkflow,
      debounceMs: opts.debounceMs ?? 1_000,
      backoff: opts.backoff,
      maxAttempts: opts.maxAttempts ?? 6,
      logFields: driftFields,
      onResult: opts.onSignal,
      onSent: (_key, drift) => log.info(driftFields(drift), 'drift signal sent'),
      onPermanent: (_key, drift) =>
        log.debug(driftFields(drift), 'drift ignored: the Database has no running workflow'),
    });
  }

  start(): void {
    this.sender.start();
  }

  stop(): Promise<void> {
    return this.sender.stop();
  }

  notify(database: { namespace: string; name: string }, notice: DriftNotice): void {
    this.sender.submit(`${database.namespace}/${notice.kind}/${notice.name}`, { database, notice });
  }
}

/** How to list and watch one owned kind. */
interface OwnedKindSource {
  kind: WatchedKind;
  path: (namespace?: string) => string;
  list: (
    kc: k8s.KubeConfig,
    namespace?: string,
  ) => () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
}

const nsPath = (namespace?: string) => (namespace ? `/namespaces/${namespace}` : '');

const OWNED_SOURCES: OwnedKindSource[] = [
  {
    kind: 'StatefulSet',
    path: (ns) => `/apis/apps/v1${nsPath(ns)}/statefulsets`,
    list: (kc, namespace) => {
      const apps = kc.makeApiClient(k8s.AppsV1Api);
      const labelSelector = OWNED_SELECTOR;
      return () =>
        namespace
          ? apps.listNamespacedStatefulSet({ namespace, labelSelector })
          : apps.listStatefulSetForAllNamespaces({ labelSelector });
    },
  },
  {
    kind: 'Service',
    path: (ns) => `/api/v1${nsPath(ns)}/services`,
    list: (kc, namespace) => {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const labelSelector = OWNED_SELECTOR;
      return () =>
        namespace
          ? core.listNamespacedService({ namespace, labelSelector })
          : core.listServiceForAllNamespaces({ labelSelector });
    },
  },
  {
    kind: 'ConfigMap',
    path: (ns) => `/api/v1${nsPath(ns)}/configmaps`,
    list: (kc, namespace) => {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const labelSelector = OWNED_SELECTOR;
      return () =>
        namespace
          ? core.listNamespacedConfigMap({ namespace, labelSelector })
          : core.listConfigMapForAllNamespaces({ labelSelector });
    },
  },
];

/** The kinds the drift informers watch, one informer each. */
export const WATCHED_KINDS: readonly WatchedKind[] = OWNED_SOURCES.map((s) => s.kind);

export interface DriftInformerOptions {
  kubeConfig: k8s.KubeConfig;
  /** Undefined: all namespaces. */
  namespace?: string;
  signaler: DriftSignaler;
  logger: Logger;
  watchdogMs?: number;
  backoff?: BackoffOptions;
  onActivity?: () => void;
  onEvent?: (event: InformerEvent) => void;
}

/** One informer per owned kind, in one namespace (or all). */
export function createDriftInformers(
  opts: DriftInformerOptions,
): ResilientInformer<k8s.KubernetesObject, OwnedView>[] {
  const { kubeConfig, namespace, signaler, logger } = opts;
  const log = logger.child({ part: 'drift' });
  return OWNED_SOURCES.map(
    (source) =>
      new ResilientInformer<k8s.KubernetesObject, OwnedView>({
        name: `${source.kind.toLowerCase()}s/${namespace ?? '*'}`,
        kubeConfig,
        path: source.path(namespace),
        list: source.list(kubeConfig, namespace),
        labelSelector: OWNED_SELECTOR,
        transform: (obj) => ownedView(source.kind, obj),
        logger,
        watchdogMs: opts.watchdogMs,
        backoff: opts.backoff,
        onActivity: opts.onActivity,
        onEvent: opts.onEvent,
        handlers: {
          update: (view, old) => {
            const notice = driftOnUpdate(view, old);
            const owner = ownerOf(view);
            if (!notice || !owner) return;
            log.debug(
              {
                ...owner,
                kind: view.kind,
                object: view.metadata.name,
                writers: view.writers.map(
                  (w) => `${w.manager}${w.subresource ? `/${w.subresource}` : ''}@${w.timeMs}`,
                ),
                before: old.writers.map(
                  (w) => `${w.manager}${w.subresource ? `/${w.subresource}` : ''}@${w.timeMs}`,
                ),
              },
              'drift detected',
            );
            signaler.notify(owner, notice);
          },
          delete: (view) => {
            const owner = ownerOf(view);
            if (owner)
              signaler.notify(owner, { kind: view.kind, name: view.metadata.name, change: 'deleted' });
          },
        },
      }),
  );
}
