import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { runningContainer } from './manifests/test-fixtures';
import { memberState, REVISION_LABEL } from './rollout';

const sts: V1StatefulSet = { status: { replicas: 3, updateRevision: 'orders-new' } };
const pod = (status: V1Pod['status']): V1Pod => ({
  metadata: { name: 'orders-2', labels: { [REVISION_LABEL]: 'orders-new' } },
  status,
});
const running = runningContainer;

describe('memberState (the upgrade gate of one member)', () => {
  it('says which probe holds back a member that runs the new revision but is not Ready', () => {
    // On a real node: the server runs, its startup probe (pg_isready) never passes.
    expect(
      memberState(sts, pod({ phase: 'Running', containerStatuses: [running(false)] }), 'orders-2'),
    ).toEqual({
      ready: false,
      message:
        'pod orders-2 at revision orders-new is Running, not Ready: container database running, startup probe not passing yet',
    });
    expect(
      memberState(sts, pod({ phase: 'Running', containerStatuses: [running(true)] }), 'orders-2').message,
    ).toBe(
      'pod orders-2 at revision orders-new is Running, not Ready: container database running, readiness probe not passing',
    );
    expect(memberState(sts, pod({ phase: 'Pending' }), 'orders-2').message).toBe(
      'pod orders-2 at revision orders-new is Pending, not Ready',
    );
  });

  it('is ready only at the update revision with the Ready condition', () => {
    const ready = pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    expect(memberState(sts, ready, 'orders-2').ready).toBe(true);
    const stale = { ...ready, metadata: { name: 'orders-2', labels: { [REVISION_LABEL]: 'orders-old' } } };
    expect(memberState(sts, stale, 'orders-2')).toMatchObject({ ready: false });
  });
});
