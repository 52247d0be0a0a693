import type * as k8s from '@kubernetes/client-node';
import { observationOf } from './database-informer';
import { driftOnUpdate, isOwnWrite, ownedView, ownerOf, WATCHED_KINDS, type Writer } from './drift';
import { backoffDelay } from './timing';

/** Pure functions of the watcher: no cluster, no Temporal, no fakes. */

const T = Date.parse('2026-01-01T10:00:00Z');
const w = (manager: string, dt: number | undefined, fields = 'f1', subresource?: string): Writer => ({
  manager,
  operation: manager === 'durable-db-operator' ? 'Apply' : 'Update',
  subresource,
  timeMs: dt === undefined ? 0 : T + dt * 1000,
  fields,
});
const writers = (...ws: Writer[]) => ({ writers: ws });

function configMap(data: Record<string, string>, managedFields: k8s.V1ManagedFieldsEntry[] = [], rv = '1') {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'orders-config',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: rv,
      labels: {
        'app.kubernetes.io/instance': 'orders',
        'app.kubernetes.io/managed-by': 'durable-db-operator',
      },
      managedFields,
    },
    data,
  };
}

describe('isOwnWrite', () => {
  const op = 'durable-db-operator';
  it('is true when only the operator’s entry advanced (a forced apply shrinks the loser’s entry, not its time)', () => {
    expect(
      isOwnWrite(writers(w('kubectl-create', 0, 'f2'), w(op, 5)), writers(w('kubectl-create', 0, 'f1'))),
    ).toBe(true);
  });
  it('is true for the operator’s first apply in the same second as the creation (no tie)', () => {
    expect(
      isOwnWrite(writers(w('kubectl-create', 0, 'f2'), w(op, 0)), writers(w('kubectl-create', 0, 'f1'))),
    ).toBe(true);
  });
  it('is false when someone else’s entry appeared or advanced', () => {
    expect(isOwnWrite(writers(w(op, 0), w('kubectl-patch', 5)), writers(w(op, 0)))).toBe(false);
    expect(
      isOwnWrite(writers(w(op, 0), w('kubectl-patch', 9)), writers(w(op, 0), w('kubectl-patch', 5))),
    ).toBe(false);
  });
  it('is false for a scale by a user, whose scale-subresource entry has no time', () => {
    const before = writers(w(op, 0), w('kube-controller-manager', 3, 'f9', 'status'));
    const after = writers(
      w(op, 0),
      w('kubectl', undefined, 'f5', 'scale'),
      w('kube-controller-manager', 3, 'f9', 'status'),
    );
    expect(isOwnWrite(after, before)).toBe(false);
    // A second scale changes no entry at all: someone else, when in doubt.
    expect(isOwnWrite(after, after)).toBe(false);
  });
  it('leaves status writes out (controllers write there)', () => {
    expect(
      isOwnWrite(writers(w(op, 5), w('kube-controller-manager', 9, 'f9', 'status')), writers(w(op, 0))),
    ).toBe(true);
  });
  it('falls back to changed field sets when no time advanced, and answers "someone else" when nothing changed', () => {
    expect(isOwnWrite(writers(w(op, 0, 'f2')), writers(w(op, 0, 'f1')))).toBe(true);
    expect(
      isOwnWrite(
        writers(w(op, 0), w('kubectl-edit', 0, 'f3')),
        writers(w(op, 0), w('kubectl-edit', 0, 'f2')),
      ),
    ).toBe(false);
    expect(isOwnWrite(writers(w(op, 0)), writers(w(op, 0)))).toBe(false);
    expect(isOwnWrite(writers(), writers())).toBe(false);
  });
});

describe('drift of owned objects', () => {
  it('reports a data change by someone else, and nothing for the operator’s own or for metadata only', () => {
    const old = ownedView('ConfigMap', configMap({ a: '1' }));
    const byUser = ownedView(
      'ConfigMap',
      configMap(
        { a: '2' },
        [{ manager: 'kubectl-patch', operation: 'Update', time: new Date(T + 1000) }],
        '2',
      ),
    );
    expect(driftOnUpdate(byUser, old)).toEqual({
      kind: 'ConfigMap',
      name: 'orders-config',
      change: 'modified',
    });

    const byOperator = ownedView(
      'ConfigMap',
      configMap(
        { a: '3' },
        [
          { manager: 'kubectl-patch', operation: 'Update', time: new Date(T + 1000), fieldsV1: {} },
          // As a watch event delivers it: a string, not a Date.
          {
            manager: 'durable-db-operator',
            operation: 'Apply',
            time: '2026-01-01T10:00:05Z' as unknown as Date,
            fieldsV1: { 'f:data': { 'f:a': {} } },
          },
        ],
        '3',
      ),
    );
    expect(driftOnUpdate(byOperator, byUser)).toBeUndefined();

    const relabelled = ownedView('ConfigMap', { ...configMap({ a: '1' }, [], '4') });
    expect(driftOnUpdate(relabelled, old)).toBeUndefined();
    expect(ownerOf(old)).toEqual({ namespace: 'shop', name: 'orders' });
  });

  it('watches no Secrets: their list and watch would expose every Secret the role reaches', () => {
    expect([...WATCHED_KINDS].sort()).toEqual(['ConfigMap', 'Service', 'StatefulSet']);
  });

  it('compares a StatefulSet by generation only (status updates do not bump it)', () => {
    const sts = (generation: number, readyReplicas: number) => ({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'orders', namespace: 'shop', generation },
      status: { readyReplicas },
    });
    expect(ownedView('StatefulSet', sts(1, 0)).fingerprint).toBe(
      ownedView('StatefulSet', sts(1, 1)).fingerprint,
    );
    expect(ownedView('StatefulSet', sts(1, 0)).fingerprint).not.toBe(
      ownedView('StatefulSet', sts(2, 0)).fingerprint,
    );
  });

  it('fingerprints a Service spec independently of key order and absent fields', () => {
    const a = { metadata: { name: 's' }, spec: { type: 'ClusterIP', ports: [{ port: 5432 }] } };
    const b = {
      metadata: { name: 's' },
      spec: { ports: [{ port: 5432 }], type: 'ClusterIP', selector: undefined },
    };
    expect(ownedView('Service', a).fingerprint).toBe(ownedView('Service', b).fingerprint);
  });
});

describe('observationOf (Database)', () => {
  it('takes uid, generation, deletion and engine; keeps a spec that does not parse as it is', () => {
    const obs = observationOf({
      apiVersion: 'durable.dev/v1alpha1',
      kind: 'Database',
      metadata: {
        name: 'orders',
        namespace: 'shop',
        uid: 'u1',
        generation: 3,
        deletionTimestamp: new Date(T),
      },
      spec: { engine: 'postgres', version: 'not a version' },
    });
    expect(obs).toEqual({
      uid: 'u1',
      namespace: 'shop',
      name: 'orders',
      generation: 3,
      deleting: true,
      spec: { engine: 'postgres', version: 'not a version' },
      engine: 'postgres',
    });
    expect(observationOf({ metadata: { name: 'x', namespace: 'shop' } })).toBeUndefined(); // no uid
    expect(
      observationOf({ metadata: { name: 'x', namespace: 'shop', uid: 'u2' }, spec: { engine: 7 } })?.engine,
    ).toBe(undefined);
  });
});

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, with bounded jitter', () => {
    const opts = { initialMs: 100, maxMs: 1_000 };
    for (let i = 0; i < 50; i++) {
      expect(backoffDelay(1, opts)).toBeGreaterThanOrEqual(80);
      expect(backoffDelay(1, opts)).toBeLessThanOrEqual(120);
      expect(backoffDelay(3, opts)).toBeGreaterThanOrEqual(320);
      expect(backoffDelay(3, opts)).toBeLessThanOrEqual(480);
      expect(backoffDelay(20, opts)).toBeLessThanOrEqual(1_000);
      expect(backoffDelay(20, opts)).toBeGreaterThanOrEqual(800);
    }
  });
});
