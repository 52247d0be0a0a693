import { driftOnUpdate, ownedView } from './drift';

/** A Database at rest is looked over hours apart: the watcher tells it when its pods' readiness changes. */
describe('readiness notices', () => {
  const sts = (over: { readyReplicas?: number; updateRevision?: string; generation?: number } = {}) => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'orders', namespace: 'shop', generation: over.generation ?? 3, managedFields: [] },
    spec: { replicas: 2 },
    status: {
      observedGeneration: 3,
      replicas: 2,
      readyReplicas: over.readyReplicas ?? 2,
      currentRevision: 'orders-a',
      updateRevision: over.updateRevision ?? 'orders-a',
    },
  });
  const view = (o: Parameters<typeof sts>[0] = {}) => ownedView('StatefulSet', sts(o));

  it('says when the pods stop being all ready, and when they are again', () => {
    expect(driftOnUpdate(view({ readyReplicas: 1 }), view())).toEqual({
      kind: 'StatefulSet',
      name: 'orders',
      change: 'readiness',
    });
    expect(driftOnUpdate(view(), view({ readyReplicas: 1 }))).toEqual({
      kind: 'StatefulSet',
      name: 'orders',
      change: 'readiness',
    });
    // A rollout in progress (a revision not yet on every pod) is not all ready either.
    expect(driftOnUpdate(view({ updateRevision: 'orders-b' }), view())?.change).toBe('readiness');
  });

  it('says nothing while readiness stays the same', () => {
    expect(driftOnUpdate(view({ readyReplicas: 1 }), view({ readyReplicas: 0 }))).toBeUndefined();
    expect(driftOnUpdate(view(), view())).toBeUndefined();
  });

  it('other kinds carry no readiness', () => {
    const svc = ownedView('Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'x', namespace: 'y' },
    });
    expect(svc.ready).toBeUndefined();
  });
});
