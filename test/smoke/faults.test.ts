import * as k8s from '@kubernetes/client-node';
import { FAILED_EXIT_CODE, failJobPods, neverReadyImages } from '../../tools/stack/faults';
import { waitFor } from '../../tools/stack/wait';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  stackInfo,
  uniqueName,
} from '../support/stack';

/** Fault injection on the local stack (tools/stack/faults.ts), against the real stack. */
describe('local stack fault injection (smoke)', () => {
  let ns: string;
  let kubeconfig: string;
  let api: { apps: k8s.AppsV1Api; core: k8s.CoreV1Api; batch: k8s.BatchV1Api };

  beforeAll(async () => {
    kubeconfig = stackInfo().kubernetes.kubeconfig;
    const kc = kubeConfig();
    api = {
      apps: kc.makeApiClient(k8s.AppsV1Api),
      core: kc.makeApiClient(k8s.CoreV1Api),
      batch: kc.makeApiClient(k8s.BatchV1Api),
    };
    ns = await createNamespace('faults');
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  async function createJob(name: string): Promise<void> {
    await api.batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'dump', image: 'registry.example/dump:1', command: ['true'] }],
            },
          },
        },
      },
    });
  }

  async function jobCondition(name: string): Promise<string | undefined> {
    const job = await api.batch.readNamespacedJob({ name, namespace: ns });
    const done = (job.status?.conditions ?? []).find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    return done?.type;
  }

  it('fails the pods of listed Jobs with the message and exit code; other Jobs complete', async () => {
    const [failing, failingToo, unlisted] = [uniqueName('dump'), uniqueName('dump'), uniqueName('dump')];
    // Two concurrent calls, as from two test files: each adds a stage of its own.
    await Promise.all([
      failJobPods(kubeconfig, [failing], 'pg_dump: error: connection to "db-0" {{ refused }}'),
      failJobPods(kubeconfig, [failingToo]),
    ]);
    await Promise.all([createJob(failing), createJob(failingToo), createJob(unlisted)]);

    const expectations: [string, string][] = [
      [failing, 'Failed'],
      [failingToo, 'Failed'],
      [unlisted, 'Complete'],
    ];
    for (const [name, expected] of expectations) {
      await waitFor(`Job ${name} ${expected}`, async () => (await jobCondition(name)) === expected, {
        timeoutMs: 60_000,
        intervalMs: 300,
      });
    }
    const terminated = async (job: string) => {
      const pods = await api.core.listNamespacedPod({
        namespace: ns,
        labelSelector: `batch.kubernetes.io/job-name=${job}`,
      });
      expect(pods.items).toHaveLength(1);
      expect(pods.items[0]?.status?.phase).toBe('Failed');
      return pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated;
    };
    expect(await terminated(failing)).toMatchObject({
      exitCode: FAILED_EXIT_CODE,
      reason: 'Error',
      message: 'pg_dump: error: connection to "db-0" {{ refused }}',
    });
    expect(await terminated(failingToo)).toMatchObject({
      exitCode: FAILED_EXIT_CODE,
      message: 'failure injected by the local stack',
    });
    const job = await api.batch.readNamespacedJob({ name: unlisted, namespace: ns });
    expect(job.status?.succeeded).toBe(1);
  });

  it('keeps pods with a never-ready image Running and not Ready while other pods become Ready', async () => {
    const broken = `registry.example/${uniqueName('broken')}:2`;
    await neverReadyImages(kubeconfig, [broken]);
    const statefulSet = (name: string, image: string) => `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ${name} }
spec:
  serviceName: ${name}
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: db, image: "${image}" }]
`;
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      `${statefulSet('healthy', 'registry.example/db:1')}---\n${statefulSet('stuck', broken)}`,
    );

    await waitFor(
      'StatefulSet healthy Ready',
      async () =>
        (await api.apps.readNamespacedStatefulSet({ name: 'healthy', namespace: ns })).status
          ?.readyReplicas === 1,
    );
    const stuckPod = () =>
      api.core.readNamespacedPod({ name: 'stuck-0', namespace: ns }).catch(() => undefined);
    await waitFor('pod stuck-0 Running', async () => (await stuckPod())?.status?.phase === 'Running');
    // Several seconds later it is still Running and not Ready, and so is its StatefulSet.
    for (let i = 0; i < 8; i++) {
      const pod = await stuckPod();
      expect(pod?.status?.phase).toBe('Running');
      expect(pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
      expect(pod?.status?.containerStatuses?.[0]).toMatchObject({ ready: false, state: { running: {} } });
      await new Promise((r) => setTimeout(r, 500));
    }
    const stuck = await api.apps.readNamespacedStatefulSet({ name: 'stuck', namespace: ns });
    expect(stuck.status?.readyReplicas ?? 0).toBe(0);

    // Deleting the pod still works (kwok's pod-delete stage), and the replacement is stuck too.
    const before = (await stuckPod())?.metadata?.uid;
    await api.core.deleteNamespacedPod({ name: 'stuck-0', namespace: ns });
    await waitFor('replacement pod Running', async () => {
      const pod = await stuckPod();
      return pod?.metadata?.uid !== before && pod?.status?.phase === 'Running';
    });
    const replacement = await stuckPod();
    expect(replacement?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
  });
});
