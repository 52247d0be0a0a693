import * as k8s from '@kubernetes/client-node';
import { S3_CLIENT_IMAGE } from '../../activities/manifests/backup-jobs';
import { guardDrops } from '../../tools/stack/host';
import { SIMULATED_NODE_TAINT } from '../../tools/stack/kubernetes';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectl,
  kubectlOk,
  stackInfo,
} from '../support/stack';

/** Any image of the stack's serves: the engine images carry a shell, coreutils and getent. */
const SMOKE_IMAGE = 'postgres:15';

/** Polls `check` until it returns true (the stack's controllers act asynchronously). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('Kubernetes control plane with real nodes (smoke)', () => {
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

  /** Waits until the Job in the test's namespace has the condition Complete or Failed. */
  const jobEnds = (name: string, condition: 'Complete' | 'Failed') =>
    eventually(
      `Job ${name} ${condition}`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace: ns });
        return (job.status?.conditions ?? []).some((c) => c.type === condition && c.status === 'True');
      },
      90_000,
    );

  it('runs a StatefulSet with volume claims on real nodes: probes, logs, exec and cluster DNS work', async () => {
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { clusterIP: None, selector: { app: web }, publishNotReadyAddresses: true, ports: [{ port: 80 }] }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: web
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm: { labelSelector: { matchLabels: { app: web } }, topologyKey: kubernetes.io/hostname }
      containers:
        - name: web
          image: ${SMOKE_IMAGE}
          command: [sh, -c, 'echo "hello from $(hostname)"; echo written > /data/file; exec sleep 3600']
          readinessProbe: { exec: { command: [test, -s, /data/file] }, periodSeconds: 1 }
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
`,
    );
    await eventually(
      '2 ready replicas',
      async () => {
        const sts = await apps.readNamespacedStatefulSet({ name: 'web', namespace: ns });
        return sts.status?.readyReplicas === 2;
      },
      120_000,
    );
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(2);
    const nodes = new Set<string>();
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/^node-\d+$/);
      nodes.add(pod.spec!.nodeName!);
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.podIP).toMatch(/^10\.88\.\d+\.\d+$/);
    }
    // Preferred anti-affinity spreads them while there are nodes enough.
    if (stackInfo().realNodes.length > 1) expect(nodes.size).toBe(2);
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    expect(claims.items.map((c) => c.status?.phase)).toEqual(['Bound', 'Bound']);

    // The kubelet serves logs and exec (the API server calls it with its client certificate).
    expect(await kubectlOk(['logs', '-n', ns, 'web-0'])).toContain('hello from web-0');
    expect((await kubectlOk(['exec', '-n', ns, 'web-1', '--', 'cat', '/data/file'])).trim()).toBe('written');
    // Cluster DNS from a pod: a member's stable name resolves to its real address.
    const web1 = pods.items.find((p) => p.metadata?.name === 'web-1')!;
    const resolved = await kubectlOk([
      'exec',
      '-n',
      ns,
      'web-0',
      '--',
      'getent',
      'hosts',
      `web-1.web.${ns}.svc.cluster.local`,
    ]);
    expect(resolved.split(/\s+/)[0]).toBe(web1.status?.podIP);
    // Names outside the cluster resolve nowhere: no forwarder, nothing leaves the machine.
    const outside = await kubectl(['exec', '-n', ns, 'web-0', '--', 'getent', 'hosts', 'deb.debian.org']);
    expect(outside.code).not.toBe(0);
  });

  it('runs Jobs for real: one completes, one whose script fails ends Failed with its exit code', async () => {
    await kubectlOk(['create', 'job', 'once', '-n', ns, `--image=${SMOKE_IMAGE}`, '--', 'true']);
    await kubectlOk([
      'create',
      'job',
      'broken',
      '-n',
      ns,
      `--image=${SMOKE_IMAGE}`,
      '--',
      'sh',
      '-c',
      'echo failing >&2; exit 3',
    ]);
    await kubectlOk([
      'patch',
      'job',
      'broken',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"backoffLimit":0}}',
    ]);
    await jobEnds('once', 'Complete');
    await jobEnds('broken', 'Failed');
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=broken' });
    const terminated = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated?.exitCode).toBe(3);
  });

  it('lets pods reach the API server as in-cluster clients do (Service, DNS, TLS with the root CA)', async () => {
    const script = [
      'import json, ssl, urllib.request',
      'sa = "/var/run/secrets/kubernetes.io/serviceaccount"',
      'ctx = ssl.create_default_context(cafile=sa + "/ca.crt")',
      'req = urllib.request.Request("https://kubernetes.default.svc/version", headers={"Authorization": "Bearer " + open(sa + "/token").read()})',
      'print(json.load(urllib.request.urlopen(req, context=ctx))["gitVersion"])',
    ].join('\n');
    await kubectlOk([
      'create',
      'job',
      'incluster',
      '-n',
      ns,
      `--image=${S3_CLIENT_IMAGE}`,
      '--',
      'python3',
      '-c',
      script,
    ]);
    await jobEnds('incluster', 'Complete');
    expect((await kubectlOk(['logs', '-n', ns, 'job/incluster'])).trim()).toMatch(/^v1\.\d+\.\d+/);
  });

  it('keeps the simulated nodes for pods that ask for them (tainted, reached by toleration)', async () => {
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: { name: simulated }
spec:
  nodeSelector: { type: kwok }
  tolerations: [{ key: ${SIMULATED_NODE_TAINT.key}, operator: Exists, effect: NoSchedule }]
  containers: [{ name: c, image: registry.example/anything:1 }]
`,
    );
    await eventually('simulated pod Running', async () => {
      const pod = await core.readNamespacedPod({ name: 'simulated', namespace: ns });
      return pod.status?.phase === 'Running';
    });
    const pod = await core.readNamespacedPod({ name: 'simulated', namespace: ns });
    expect(pod.spec?.nodeName).toMatch(/^kwok-node-\d+$/);
  });

  it('drops nothing at the network guard: no pod or Service traffic tried to leave the machine', () => {
    expect(guardDrops()).toBe(0);
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
