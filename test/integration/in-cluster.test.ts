import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { DatabaseSpecInput } from '../../crds';
import { builtImages, archiveOf } from '../../tools/images';
import { waitFor } from '../../tools/stack/wait';
import { createBackup, waitForBackupDone } from '../support/backups';
import { chartDir, createRestrictedNamespace, helm } from '../support/deploy-helm';
import { applyDatabase, getDatabase, waitForPhase } from '../support/operator';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  kubectlOk,
  stackInfo,
  uniqueName,
} from '../support/stack';

/**
 * The operator as users run it: the image built from the Dockerfile (tools/build-operator-image.sh,
 * imported into the real nodes' containerd), installed with `helm install` into a namespace with
 * the restricted Pod Security level. The worker and the watcher run as pods on the real nodes,
 * with their ServiceAccounts, the in-cluster config, a read-only root filesystem and probes the
 * kubelets poll; they reach the stack's Temporal at the control plane's address. No operator code
 * runs in this test's process: every action is kubectl or helm, as a user's would be.
 */

const execFileAsync = promisify(execFile);
const LEASE = 'durable-db-operator-watcher';
const appVersion = /^appVersion:\s*['"]?([^'"\s]+)/m.exec(
  fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'),
)![1]!;
const imageRef = (tag: string) => `docker.io/library/durable-db-operator:${tag}`;
const NEXT_TAG = `${appVersion}-next`;

const release = uniqueName('incl');
const fullname = `${release}-durable-db-operator`;
let opNs = '';
let dbNs = '';
let valuesFile = '';

function helmOk(args: string[]): Promise<string> {
  return helm([...args, '--kubeconfig', stackInfo().kubernetes.kubeconfig]).then((res) => {
    if (res.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return res.stdout;
  });
}

interface PodView {
  name: string;
  uid: string;
  image: string;
  ready: boolean;
  restarts: number;
  node: string;
}

async function pods(namespace: string, selector: string): Promise<PodView[]> {
  const out = JSON.parse(await kubectlOk(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json'])) as {
    items: {
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      spec: { nodeName?: string; containers: { image: string }[] };
      status: {
        conditions?: { type: string; status: string }[];
        containerStatuses?: { restartCount: number }[];
      };
    }[];
  };
  return out.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      image: p.spec.containers[0]!.image,
      ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      node: p.spec.nodeName ?? '',
    }));
}

const component = (c: 'worker' | 'watcher') =>
  `app.kubernetes.io/instance=${release},app.kubernetes.io/component=${c}`;

async function rolledOut(): Promise<void> {
  for (const c of ['worker', 'watcher']) {
    await kubectlOk(['rollout', 'status', `deployment/${fullname}-${c}`, '-n', opNs, '--timeout=240s']);
  }
}

async function leaseHolder(): Promise<string> {
  const res = await kubectl(['get', 'lease', LEASE, '-n', opNs, '-o', 'jsonpath={.spec.holderIdentity}']);
  return res.code === 0 ? res.stdout.trim() : '';
}

/** What the kubelets' prober counted for the release's containers (kubelet /metrics/probes). */
async function probeCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of stackInfo().realNodes) {
    const text = await kubectlOk(['get', '--raw', `/api/v1/nodes/${node.name}/proxy/metrics/probes`]);
    for (const line of text.split('\n')) {
      if (!line.startsWith('prober_probe_total{') || !line.includes(`namespace="${opNs}"`)) continue;
      const type = /probe_type="(\w+)"/.exec(line)?.[1];
      const result = /result="(\w+)"/.exec(line)?.[1];
      const container = /container="([\w-]+)"/.exec(line)?.[1];
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      const key = `${container} ${type} ${result}`;
      counts[key] = (counts[key] ?? 0) + value;
    }
  }
  return counts;
}

/** The operator pods' logs, kept in the stack's log directory (the pods go with the release). */
async function keepLogs(): Promise<void> {
  for (const c of ['worker', 'watcher'] as const) {
    for (const p of await pods(opNs, component(c)).catch(() => [])) {
      const res = await kubectl(['logs', '-n', opNs, p.name]);
      fs.writeFileSync(
        path.join(stackInfo().dir, 'logs', `in-cluster-${p.name}.log`),
        res.stdout + res.stderr,
      );
    }
  }
}

const spec: DatabaseSpecInput = {
  engine: 'postgres',
  version: '15',
  replicas: 1,
  storage: { size: '1Gi' },
  deletionPolicy: 'Delete',
  backup: { enabled: false, maxAttempts: 1, retention: { count: 2 } },
};

describe('the operator installed with Helm from its own image, on the real nodes', () => {
  let installedInMs = 0;

  beforeAll(async () => {
    const { temporal, realNodes } = stackInfo();
    if (realNodes.length === 0) throw new Error('this test needs the stack with real nodes');
    if (!temporal.podAddress)
      throw new Error('the stack gives no Temporal address for pods (it needs real nodes)');
    const archives = builtImages();
    for (const tag of [appVersion, NEXT_TAG]) archiveOf(imageRef(tag), archives);

    // The operator's pods must pass the restricted Pod Security Standard, as in deploy/manifests.
    opNs = await createRestrictedNamespace('incl-op');
    dbNs = await createNamespace('incl-db');
    valuesFile = path.join(os.tmpdir(), `${release}-values.yaml`);
    fs.writeFileSync(
      valuesFile,
      stringify({
        // Imported into every node's containerd by the stack: never pulled.
        image: { repository: 'durable-db-operator', tag: appVersion, pullPolicy: 'Never' },
        temporal: {
          address: temporal.podAddress,
          namespace: temporal.namespace,
          // A queue of its own: the host-run operators of other test files poll theirs.
          taskQueue: release,
          uiUrl: temporal.uiUrl,
        },
        // Only this test's namespace: Databases of other test files are none of its business.
        watchNamespaces: [dbNs],
        logLevel: 'debug',
      }),
    );
    const started = Date.now();
    // With the chart's CRDs, as a user installs it (Helm skips those another test applied already).
    await helmOk(['install', release, chartDir, '-n', opNs, '-f', valuesFile]);
    await rolledOut();
    installedInMs = Date.now() - started;
    process.stderr.write(`[in-cluster] helm install → worker and watcher Ready: ${installedInMs} ms\n`);
  }, 360_000);

  afterAll(async () => {
    if (dbNs) {
      // With the operator still running, the Databases' finalizers are honoured.
      await kubectl([
        'delete',
        'databases.durable.dev',
        '--all',
        '-n',
        dbNs,
        '--wait=true',
        '--timeout=120s',
      ]);
    }
    if (opNs) await keepLogs();
    if (opNs)
      await helm(['uninstall', release, '-n', opNs, '--kubeconfig', stackInfo().kubernetes.kubeconfig]);
    for (const n of [dbNs, opNs]) if (n) await deleteNamespace(n);
    if (valuesFile) fs.rmSync(valuesFile, { force: true });
  }, 240_000);

  it('runs both components as pods of the built image: restricted, read-only root, probes polled by the kubelets', async () => {
    const all = [...(await pods(opNs, component('worker'))), ...(await pods(opNs, component('watcher')))];
    expect(all).toHaveLength(4);
    for (const p of all) {
      expect(p).toMatchObject({ ready: true, restarts: 0, image: `durable-db-operator:${appVersion}` });
    }
    const podSpec = JSON.parse(
      await kubectlOk(['get', 'pod', all[0]!.name, '-n', opNs, '-o', 'jsonpath={.spec}']),
    ) as { containers: { securityContext: Record<string, unknown> }[]; serviceAccountName: string };
    expect(podSpec.containers[0]!.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
    });
    expect(podSpec.serviceAccountName).toBe(`${fullname}-worker`);
    // The kubelets poll the probes: successful liveness and readiness answers, counted by the
    // kubelet itself, growing while we watch.
    const before = await probeCounts();
    await new Promise((r) => setTimeout(r, 12_000));
    const after = await probeCounts();
    for (const c of ['worker', 'watcher']) {
      for (const type of ['Liveness', 'Readiness']) {
        const key = `${c} ${type} successful`;
        expect({ key, grew: (after[key] ?? 0) > (before[key] ?? 0) }).toEqual({ key, grew: true });
      }
    }
    // One watcher leads, through the Lease in the release namespace.
    const watchers = (await pods(opNs, component('watcher'))).map((p) => p.name);
    await waitFor('a watcher pod to hold the Lease', async () => watchers.includes(await leaseHolder()));
  }, 120_000);

  it('takes a Database to Ready, scales it, backs it up and deletes it', async () => {
    await applyDatabase(dbNs, 'orders', spec);
    await waitForPhase(dbNs, 'orders', 'Ready', { timeoutMs: 300_000 });
    await applyDatabase(dbNs, 'orders', { ...spec, replicas: 2 });
    const scaled = await waitForPhase(dbNs, 'orders', 'Ready', { generation: 2, timeoutMs: 300_000 });
    expect(scaled.status?.readyReplicas).toBe(2);
    await createBackup(dbNs, 'orders-now', 'orders');
    const backup = await waitForBackupDone(dbNs, 'orders-now', 300_000);
    expect(backup.status?.phase).toBe('Succeeded');
    await kubectlOk(['delete', 'databases.durable.dev/orders', '-n', dbNs, '--wait=false']);
    await waitFor(
      'the Database deleted (its finalizer removed by the in-cluster worker)',
      async () => !(await getDatabase(dbNs, 'orders')),
      {
        timeoutMs: 180_000,
      },
    );
  }, 900_000);

  it('converges when the worker pods are killed mid-provisioning', async () => {
    await applyDatabase(dbNs, 'billing', spec);
    await waitFor(
      'provisioning under way (the StatefulSet exists)',
      async () => (await kubectl(['get', 'statefulset', 'billing', '-n', dbNs])).code === 0,
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const killed = (await pods(opNs, component('worker'))).map((p) => p.name);
    // Force: no graceful drain, the containers are killed and the pods replaced.
    await kubectlOk(['delete', 'pod', '-n', opNs, ...killed, '--grace-period=0', '--force']);
    const ready = await waitForPhase(dbNs, 'billing', 'Ready', { timeoutMs: 300_000 });
    expect(ready.status?.readyReplicas).toBe(1);
    const now = (await pods(opNs, component('worker'))).map((p) => p.name);
    expect(now.filter((n) => killed.includes(n))).toEqual([]);
  }, 600_000);

  it('hands the Lease to another watcher when the leading watcher is killed', async () => {
    const leader = await leaseHolder();
    const watchers = await pods(opNs, component('watcher'));
    const victim = watchers.find((p) => p.name === leader);
    expect(victim).toBeDefined();
    // A crash, not a shutdown: SIGKILL to the container on its node (no chance to release the
    // Lease), then the pod removed, so that the kubelet does not restart it under the same name.
    const containerId = (
      await kubectlOk([
        'get',
        'pod',
        leader,
        '-n',
        opNs,
        '-o',
        'jsonpath={.status.containerStatuses[0].containerID}',
      ])
    ).replace(/^containerd:\/\//, '');
    const node = stackInfo().realNodes.find((n) => n.name === victim!.node)!;
    const started = Date.now();
    await execFileAsync('ctr', [
      '--address',
      node.containerdSocket,
      '-n',
      'k8s.io',
      'tasks',
      'kill',
      '-s',
      'SIGKILL',
      containerId,
    ]);
    await kubectlOk(['delete', 'pod', leader, '-n', opNs, '--grace-period=0', '--force']);
    const next = await waitFor(
      'another watcher to take the Lease',
      async () => {
        const holder = await leaseHolder();
        return holder && holder !== leader ? holder : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    const takeoverMs = Date.now() - started;
    process.stderr.write(
      `[in-cluster] Lease taken over by ${next} ${takeoverMs} ms after the leader was SIGKILLed\n`,
    );
    expect((await pods(opNs, component('watcher'))).map((p) => p.name)).toContain(next);
    // The new leader carries the watcher's work: a change to the Database reaches its workflow.
    await applyDatabase(dbNs, 'billing', { ...spec, replicas: 2 });
    const scaled = await waitForPhase(dbNs, 'billing', 'Ready', { generation: 2, timeoutMs: 300_000 });
    expect(scaled.status?.readyReplicas).toBe(2);
  }, 600_000);

  it('`helm upgrade` to a new image tag (same workflow code) restarts no database pod', async () => {
    await rolledOut();
    const members = await pods(dbNs, 'app.kubernetes.io/instance=billing');
    expect(members).toHaveLength(2);
    const stsGeneration = await kubectlOk([
      'get',
      'statefulset',
      'billing',
      '-n',
      dbNs,
      '-o',
      'jsonpath={.metadata.generation}',
    ]);
    const dbBefore = await getDatabase(dbNs, 'billing');

    await helmOk([
      'upgrade',
      release,
      chartDir,
      '-n',
      opNs,
      '--skip-crds',
      '-f',
      valuesFile,
      '--set',
      `image.tag=${NEXT_TAG}`,
    ]);
    await rolledOut();
    const operatorPods = [
      ...(await pods(opNs, component('worker'))),
      ...(await pods(opNs, component('watcher'))),
    ];
    expect(new Set(operatorPods.map((p) => p.image))).toEqual(new Set([`durable-db-operator:${NEXT_TAG}`]));
    // The new pods resync every Database at start: give them the time to do (or not do) it.
    await waitFor('a watcher of the new image to hold the Lease', async () =>
      operatorPods.map((p) => p.name).includes(await leaseHolder()),
    );
    await new Promise((r) => setTimeout(r, 15_000));

    const after = await pods(dbNs, 'app.kubernetes.io/instance=billing');
    expect(after.map((p) => [p.uid, p.restarts])).toEqual(members.map((p) => [p.uid, p.restarts]));
    expect(
      await kubectlOk(['get', 'statefulset', 'billing', '-n', dbNs, '-o', 'jsonpath={.metadata.generation}']),
    ).toBe(stsGeneration);
    const dbAfter = await getDatabase(dbNs, 'billing');
    expect(dbAfter?.status?.phase).toBe('Ready');
    expect(dbAfter?.status?.observedGeneration).toBe(dbBefore?.status?.observedGeneration);
  }, 600_000);
});
