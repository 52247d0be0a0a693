import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { apiRequest, type ApiAccess } from './api';
import { binary, kubectlPath } from './binaries';
import { NETWORK } from './host';
import { writeKubeconfig } from './kubeconfig';
import { PROVISIONER } from './local-path-provisioner';
import type { NodePki } from './node-pki';
import { createPki, type Pki } from './pki';
import { freePorts } from './ports';
import type { ProcessGroup } from './processes';
import { waitFor } from './wait';

const run = promisify(execFile);

export interface KubernetesInfo {
  server: string;
  /** Admin credentials, for kubectl and tests. */
  kubeconfig: string;
  /**
   * Credentials of the user "durable-db-operator" (all permissions for now): every write it
   * makes is recorded in auditLog, which is how the benchmarks count API writes.
   */
  operatorKubeconfig: string;
  auditLog: string;
  /** Number of simulated (kwok) nodes, tainted (SIMULATED_NODE_TAINT) so ordinary pods avoid them. */
  nodes: number;
}

export interface KubernetesOptions {
  dir: string;
  /** Simulated (kwok) nodes. */
  nodes: number;
  /**
   * With real nodes, the API server listens on the control-plane bridge (pods reach it, as
   * in-cluster clients do), authorizes kubelets by the Node authorizer and calls them with a client
   * certificate of the stack's CA, verifying theirs.
   */
  realNodes?: { names: string[]; pki: NodePki };
  log: (msg: string) => void;
}

/** Taint of the simulated nodes: only pods that tolerate it (scale tests) land there. */
export const SIMULATED_NODE_TAINT = {
  key: 'durable.dev/simulated',
  value: 'true',
  effect: 'NoSchedule',
} as const;

export interface ControlPlane {
  info: KubernetesInfo;
  pki: Pki;
  caFile: string;
}

// Simulated nodes: kwok manages nodes carrying this annotation, turns their pods Running/Ready
// and completes the pods of Jobs (its default "fast" stages, see kwok/default-stages.yaml).
const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';

/**
 * Starts etcd, kube-apiserver (RBAC, service-account tokens), kube-controller-manager,
 * kube-scheduler and kwok as local processes on free loopback ports, then registers the
 * simulated nodes and a default StorageClass.
 */
export async function startKubernetes(procs: ProcessGroup, opts: KubernetesOptions): Promise<ControlPlane> {
  const { dir, log, realNodes } = opts;
  const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort] = await freePorts(6);
  const pki = createPki(path.join(dir, 'pki'), realNodes?.names ?? []);

  log(`etcd on 127.0.0.1:${etcdPort}`);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  procs.start('etcd', binary('etcd'), [
    '--name=default',
    `--data-dir=${path.join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    // A throw-away test store: fsync buys nothing here and costs seconds on a busy disk.
    '--unsafe-no-fsync',
    '--quota-backend-bytes=2147483648',
    '--log-level=warn',
  ]);
  await waitFor(
    'etcd health',
    async () => {
      procs.assertRunning('etcd');
      const res = await fetch(`${etcdUrl}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    { timeoutMs: 30_000 },
  );

  const apiIp = realNodes ? NETWORK.controlPlaneIp : '127.0.0.1';
  const server = `https://${apiIp}:${apiPort}`;
  // Its self-signed certificate names the address it was made for: a new one for each start.
  fs.rmSync(pki.certDir, { recursive: true, force: true });
  const auditLog = path.join(dir, 'logs', 'audit-operator-writes.log');
  const auditPolicy = path.join(dir, 'audit-policy.yaml');
  fs.writeFileSync(auditPolicy, OPERATOR_WRITES_AUDIT_POLICY);
  log(`kube-apiserver on ${server}`);
  procs.start('kube-apiserver', binary('kube-apiserver'), [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${apiIp}`,
    `--advertise-address=${apiIp}`,
    `--secure-port=${apiPort}`,
    `--cert-dir=${pki.certDir}`,
    `--token-auth-file=${pki.tokenFile}`,
    // With real nodes, a serving certificate from the stack's CA (pods and a loopback proxy alike
    // verify it); without, the API server makes its own for the address it listens on.
    ...(realNodes
      ? [
          `--tls-cert-file=${realNodes.pki.apiserverServing.cert}`,
          `--tls-private-key-file=${realNodes.pki.apiserverServing.key}`,
        ]
      : []),
    ...(realNodes
      ? [
          '--authorization-mode=Node,RBAC',
          `--kubelet-client-certificate=${realNodes.pki.apiserverKubeletClient.cert}`,
          `--kubelet-client-key=${realNodes.pki.apiserverKubeletClient.key}`,
          `--kubelet-certificate-authority=${realNodes.pki.caCert}`,
          '--kubelet-preferred-address-types=InternalIP',
        ]
      : ['--authorization-mode=RBAC']),
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    `--service-cluster-ip-range=${NETWORK.serviceRange}`,
    '--allow-privileged=true',
    // Setting blockOwnerDeletion then needs `update` on the owner's finalizers subresource, as on
    // hardened clusters (OpenShift enables it): a missing RBAC rule fails a test, not a user.
    // NodeRestriction: a kubelet may change only its own Node and the pods bound to it.
    `--enable-admission-plugins=OwnerReferencesPermissionEnforcement${realNodes ? ',NodeRestriction' : ''}`,
    // Saves CPU on a 2-core machine; nothing here exercises priority and fairness.
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    `--audit-policy-file=${auditPolicy}`,
    `--audit-log-path=${auditLog}`,
    '--audit-log-maxsize=100',
    '--v=1',
  ]);
  const caFile = realNodes ? realNodes.pki.caCert : path.join(pki.certDir, 'apiserver.crt');
  await waitFor(
    'kube-apiserver /readyz',
    async () => {
      procs.assertRunning('kube-apiserver');
      if (!fs.existsSync(caFile)) return false;
      return (await httpsGet(`${server}/readyz`, pki.adminToken)) === 200;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );

  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, server, caFile, 'admin', pki.adminToken);
  const operatorKubeconfig = path.join(dir, 'operator.kubeconfig');
  writeKubeconfig(operatorKubeconfig, server, caFile, 'durable-db-operator', pki.operatorToken);
  const controlPlaneKubeconfig = path.join(dir, 'control-plane.kubeconfig');
  writeKubeconfig(controlPlaneKubeconfig, server, caFile, 'system:control-plane', pki.controlPlaneToken);

  log('kube-controller-manager and kube-scheduler');
  procs.start('kube-controller-manager', binary('kube-controller-manager'), [
    `--kubeconfig=${controlPlaneKubeconfig}`,
    `--authentication-kubeconfig=${controlPlaneKubeconfig}`,
    `--authorization-kubeconfig=${controlPlaneKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${kcmPort}`,
    `--cert-dir=${path.join(dir, 'pki', 'kcm')}`,
    '--leader-elect=false',
    // Defaults include the StatefulSet, Job, garbage-collector, namespace and service-account
    // controllers. Volumes come from the stack's own provisioner (local-path-provisioner.ts).
    '--controllers=*',
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${caFile}`,
    '--allocate-node-cidrs=false',
    '--v=1',
  ]);
  procs.start('kube-scheduler', binary('kube-scheduler'), [
    `--kubeconfig=${controlPlaneKubeconfig}`,
    `--authentication-kubeconfig=${controlPlaneKubeconfig}`,
    `--authorization-kubeconfig=${controlPlaneKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${schedPort}`,
    `--cert-dir=${path.join(dir, 'pki', 'scheduler')}`,
    '--leader-elect=false',
    '--v=1',
  ]);

  log(`kwok with ${opts.nodes} simulated nodes`);
  const api: ApiAccess = { server, token: pki.adminToken };
  await Promise.all([
    applyYaml(kubeconfig, clusterBaseline(opts.nodes)),
    // kwok reads its stages from the API server (--enable-crds=Stage), so that tests can add
    // fault stages while it runs (tools/stack/faults.ts). The CRD and the default stages come
    // first: kwok lists Stages once at start (and only retries after a back-off if the CRD is not
    // served yet), and with its stages in that list it manages the nodes at once.
    installStageCrd(api).then(async () => {
      await createDefaultStages(api);
      procs.start('kwok', binary('kwok'), [
        `--kubeconfig=${controlPlaneKubeconfig}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
        '--node-lease-duration-seconds=40',
        '--cidr=10.244.0.0/16',
        '--node-ip=10.244.0.1',
        `--server-address=127.0.0.1:${kwokPort}`,
        '--enable-crds=Stage',
      ]);
    }),
  ]);
  await waitFor(
    'controllers and simulated nodes ready',
    async () => {
      for (const p of ['kube-controller-manager', 'kube-scheduler', 'kwok']) procs.assertRunning(p);
      const kcm = await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`);
      const sched = await httpsGet(`https://127.0.0.1:${schedPort}/healthz`);
      if (kcm !== 200 || sched !== 200) return false;
      const { stdout } = await run(kubectlPath(), [
        `--kubeconfig=${kubeconfig}`,
        'get',
        'nodes',
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      return stdout.split('\n').filter((s) => s === 'True').length === opts.nodes;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  return { info: { server, kubeconfig, operatorKubeconfig, auditLog, nodes: opts.nodes }, pki, caFile };
}

/** Records, once completed, each write request of the operator's user, and nothing else. */
const OPERATOR_WRITES_AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    users: [durable-db-operator]
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
`;

/** The default StorageClass and the simulated nodes. */
function clusterBaseline(nodes: number): string {
  const docs = [
    `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: ${PROVISIONER}
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer`,
  ];
  for (let i = 0; i < nodes; i++) {
    docs.push(`apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations: { ${KWOK_ANNOTATION}: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels:
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-${i % 3}
    type: kwok
spec:
  taints: [{ key: ${SIMULATED_NODE_TAINT.key}, value: "${SIMULATED_NODE_TAINT.value}", effect: ${SIMULATED_NODE_TAINT.effect} }]
status:
  allocatable: { cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi }
  capacity: { cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi }
  nodeInfo: { architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake }`);
  }
  return docs.join('\n---\n');
}

export async function applyYaml(kubeconfig: string, yamlText: string): Promise<void> {
  // Unique per call: concurrent calls in one process (fault stages of parallel tests) must not share it.
  const file = path.join(
    path.dirname(kubeconfig),
    `apply-${process.pid}-${crypto.randomBytes(6).toString('hex')}.yaml`,
  );
  fs.writeFileSync(file, yamlText);
  try {
    await run(kubectlPath(), [`--kubeconfig=${kubeconfig}`, 'apply', '--server-side', '-f', file]);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Where the API server serves kwok's Stages (cluster-scoped). */
export const STAGES_PATH = '/apis/kwok.x-k8s.io/v1alpha1/stages';
const KWOK_DIR = path.join(__dirname, 'kwok');

/** Creates kwok's Stage CRD (copied from kwok v0.7.0) and waits until Stages are served. */
async function installStageCrd(api: ApiAccess): Promise<void> {
  const crd = YAML.parse(fs.readFileSync(path.join(KWOK_DIR, 'stage-crd.yaml'), 'utf8')) as KubeObject;
  await apiApply(api, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await waitFor(
    'kwok Stage CRD served',
    async () => (await apiRequest('GET', api.server + STAGES_PATH, api.token)).status === 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** kwok's default node and pod stages, as Stage objects. */
async function createDefaultStages(api: ApiAccess): Promise<void> {
  const text = fs.readFileSync(path.join(KWOK_DIR, 'default-stages.yaml'), 'utf8');
  const stages = YAML.parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((doc) => doc !== null);
  await Promise.all(stages.map((stage) => apiApply(api, STAGES_PATH, stage)));
}

interface KubeObject {
  metadata: { name: string };
}

/**
 * Server-side apply (creates, or leaves as it is on a --persist stack). Not a POST: the API
 * server delays every create of a custom resource by 2 s while its CRD is younger than 2 s
 * (apiextensions-apiserver customresource_handler.go), which would add 2 s to each stack start.
 */
async function apiApply(api: ApiAccess, collectionPath: string, obj: KubeObject): Promise<void> {
  const url = `${api.server}${collectionPath}/${obj.metadata.name}?fieldManager=local-stack&force=true`;
  const res = await apiRequest('PATCH', url, api.token, JSON.stringify(obj));
  if (res.status !== 200 && res.status !== 201) {
    throw new Error(`apply ${collectionPath}/${obj.metadata.name} answered ${res.status}: ${res.body}`);
  }
}

/** GET without verifying TLS (health endpoints of local components); returns the status. */
async function httpsGet(url: string, token?: string): Promise<number> {
  return (await apiRequest('GET', url, token)).status;
}
