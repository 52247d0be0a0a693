import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, kubeConfig, kubectl, kubectlOk } from '../support/stack';

/** Polls `check` until it returns true (the stack's controllers act asynchronously). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('Kubernetes control plane with simulated nodes (smoke)', () => {
  let ns: string;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;
  let batch: k8s.BatchV1Api;

  beforeAll(async () => {
    ns = await createNamespace('smoke');
    const kc = kubeConfig();
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    batch = kc.makeApiClient(k8s.BatchV1Api);
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it('schedules a StatefulSet with volume claims on kwok nodes and reaches its ready replica count', async () => {
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: web
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: registry.example/web:1
          readinessProbe: { exec: { command: ["true"] } }
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
`,
    );
    await eventually('2 ready replicas', async () => {
      const sts = await apps.readNamespacedStatefulSet({ name: 'web', namespace: ns });
      return sts.status?.readyReplicas === 2;
    });
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-\d+$/);
      expect(pod.status?.phase).toBe('Running');
    }
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    expect(claims.items.map((c) => c.status?.phase)).toEqual(['Bound', 'Bound']);
  });

  it('runs a Job whose pod completes, and the Job turns Complete', async () => {
    await kubectlOk(['create', 'job', 'once', '-n', ns, '--image=registry.example/once:1', '--', 'true']);
    await eventually('Job Complete', async () => {
      const job = await batch.readNamespacedJob({ name: 'once', namespace: ns });
      return (job.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True');
    });
    const job = await batch.readNamespacedJob({ name: 'once', namespace: ns });
    expect(job.status?.succeeded).toBe(1);
  });

  it('garbage-collects what an owner owns when the owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' }, data: { role: 'owner' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await eventually('owned ConfigMap collected', async () => {
      const res = await kubectl(['get', 'configmap', 'owned', '-n', ns]);
      return res.code !== 0 && res.stderr.includes('NotFound');
    });
  });

  it('authenticates service-account tokens and denies a fresh service account by RBAC', async () => {
    await kubectlOk(['create', 'serviceaccount', 'nobody', '-n', ns]);
    const subject = `system:serviceaccount:${ns}:nobody`;
    for (const verb of [
      ['get', 'pods'],
      ['create', 'secrets'],
      ['list', 'nodes'],
    ]) {
      const res = await kubectl(['auth', 'can-i', ...verb, '-n', ns, `--as=${subject}`]);
      expect(res.stdout.trim()).toBe('no');
      expect(res.code).toBe(1);
    }
    // A real token issued by the TokenRequest API is accepted and maps to the service account.
    const token = (await kubectlOk(['create', 'token', 'nobody', '-n', ns, '--duration=10m'])).trim();
    const whoami = await kubectlOk([
      'auth',
      'whoami',
      `--token=${token}`,
      '-o',
      'jsonpath={.status.userInfo.username}',
    ]);
    expect(whoami).toBe(subject);
    const denied = await kubectl(['get', 'pods', '-n', ns, `--token=${token}`]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('forbidden');
  });
});
