import type { V1Pod } from '@kubernetes/client-node';
import { runningContainer } from './manifests/test-fixtures';
import { podTrouble } from './readiness';

const pod = (name: string, status: V1Pod['status']): V1Pod => ({ metadata: { name }, status });
const ready = pod('orders-0', { conditions: [{ type: 'Ready', status: 'True' }] });

describe('podTrouble', () => {
  it('is undefined when every pod is Ready', () => {
    expect(podTrouble([ready])).toBeUndefined();
    expect(podTrouble([])).toBeUndefined();
  });

  it("says the scheduler's reason for a pod that is not scheduled", () => {
    const p = pod('orders-1', {
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/2 nodes are available: 2 Insufficient memory.',
        },
      ],
    });
    expect(podTrouble([ready, p])).toBe(
      'orders-1: Unschedulable: 0/2 nodes are available: 2 Insufficient memory.',
    );
  });

  it("says the kubelet's reason for a waiting container, with its last exit", () => {
    const p = pod('orders-0', {
      containerStatuses: [
        {
          name: 'database',
          ready: false,
          restartCount: 3,
          image: 'mariadb:11.8',
          imageID: '',
          state: {
            waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' },
          },
          lastState: { terminated: { exitCode: 1, message: "[ERROR] unknown variable 'gtid_mode=ON'" } },
        },
      ],
    });
    expect(podTrouble([p])).toBe(
      "orders-0: container database CrashLoopBackOff: back-off 40s restarting failed container; last exit 1: [ERROR] unknown variable 'gtid_mode=ON'",
    );
  });

  it('names an init container that failed, and a probe still failing', () => {
    const init = pod('orders-1', {
      initContainerStatuses: [
        {
          name: 'bootstrap-replica',
          ready: false,
          restartCount: 0,
          image: 'postgres:17',
          imageID: '',
          state: { terminated: { exitCode: 2, reason: 'Error' } },
        },
      ],
    });
    expect(podTrouble([init])).toBe('orders-1: container bootstrap-replica exited 2 (Error)');
    const probing = pod('orders-2', {
      containerStatuses: [
        { name: 'database', ready: false, restartCount: 0, image: 'x', imageID: '', state: { running: {} } },
      ],
    });
    expect(podTrouble([probing])).toBe('orders-2: container database running, readiness probe not passing');
  });

  it('names the startup probe while it has not passed once, the readiness probe after', () => {
    const running = (started: boolean) => pod('orders-2', { containerStatuses: [runningContainer(started)] });
    expect(podTrouble([running(false)])).toBe(
      'orders-2: container database running, startup probe not passing yet',
    );
    expect(podTrouble([running(true)])).toBe(
      'orders-2: container database running, readiness probe not passing',
    );
  });
});
