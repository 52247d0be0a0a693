import type { V1Pod } from '@kubernetes/client-node';
import { runningContainer } from './manifests/test-fixtures';
import { podTrouble } from './pod-trouble';

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
      "orders-0: container database CrashLoopBackOff: back-off restarting failed container; last exit 1: [ERROR] unknown variable 'gtid_mode=ON'",
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

  it('says which image cannot be pulled, in the same words whether the kubelet says ErrImagePull or ImagePullBackOff', () => {
    const pulling = (reason: string, message: string) =>
      ({
        metadata: { name: 'orders-0' },
        spec: { containers: [{ name: 'database', image: 'localhost/durable-test/does-not-exist:1' }] },
        status: {
          containerStatuses: [
            {
              name: 'database',
              ready: false,
              restartCount: 0,
              image: '',
              imageID: '',
              state: { waiting: { reason, message } },
            },
          ],
        },
      }) satisfies V1Pod;
    const texts = [
      podTrouble([pulling('ErrImagePull', 'failed to pull and unpack image: not found')]),
      podTrouble([
        pulling('ImagePullBackOff', 'Back-off pulling image "localhost/durable-test/does-not-exist:1"'),
      ]),
    ];
    expect(texts[0]).toBe(
      'orders-0: container database cannot pull image "localhost/durable-test/does-not-exist:1" (ErrImagePull/ImagePullBackOff)',
    );
    expect(texts[1]).toBe(texts[0]);
  });

  it('leaves the growing back-off of a crash loop out, so the text stays while the cause does', () => {
    const crashing = (backOff: string) =>
      pod('orders-0', {
        containerStatuses: [
          {
            name: 'database',
            ready: false,
            restartCount: 5,
            image: 'x',
            imageID: '',
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: `back-off ${backOff} restarting failed container=database pod=orders-0_shop(1)`,
              },
            },
          },
        ],
      });
    expect(podTrouble([crashing('10s')])).toBe(podTrouble([crashing('5m0s')]));
  });

  it('names a data volume claim that cannot bind before the scheduler’s general complaint', () => {
    const p: V1Pod = {
      metadata: { name: 'orders-0' },
      spec: {
        containers: [{ name: 'database' }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-orders-0' } }],
      },
      status: {
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.',
          },
        ],
      },
    };
    const why = 'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found (StorageClass "fast")';
    expect(podTrouble([p], { 'data-orders-0': why })).toBe(
      `orders-0: volume claim data-orders-0 is not bound: ${why}`,
    );
    // Without trouble of its claim, the scheduler's words.
    expect(podTrouble([p])).toBe(
      'orders-0: Unschedulable: 0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.',
    );
  });
});
