import fs from 'node:fs';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { SIMULATED_NODE_TAINT } from '../../tools/stack/kubernetes';
import { createWatcher } from '../../cmd/watcher';
import { createWorker } from '../../cmd/worker';
import { loadConfig, type OperatorConfig } from '../../common/config';
import type { DatabaseSpecInput } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import {
  applyServerSide,
  canI,
  createRestrictedNamespace,
  containerEnv,
  deleteClusterScoped,
  describeAccess,
  findObject,
  mapLimit,
  parseObjects,
  podSpecOf,
  renderChart,
  serviceAccountKubeconfig,
  type AccessCheck,
  type K8sObject,
} from '../support/deploy-helm';
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
 * The chart against the real API server (RBAC, service-account tokens, Pod Security admission):
 * its rendered objects apply cleanly, its RBAC grants exactly what the operator's code calls
 * (kubectl auth can-i), and the real worker and watcher, authenticated as the chart's
 * ServiceAccounts and configured from the rendered Deployments' environment, take a Database
 * through provisioning, scaling and deletion. A permission missing from the chart fails the last
 * test: a forbidden call either fails an activity for good or keeps an informer from listing.
 */

const LEASE = 'durable-db-operator-watcher';
const TEMPORAL_SECURITY_ENV = [
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_API_KEY_FILE',
];

interface Variant {
  title: string;
  scoped: boolean;
  deletionPolicy: 'Delete' | 'Retain';
  values(watched: string[]): Record<string, unknown>;
}

const variants: Variant[] = [
  {
    title: 'default values (cluster-wide RBAC)',
    scoped: false,
    deletionPolicy: 'Retain',
    values: () => ({}),
  },
  {
    title: 'watchNamespaces (a Role per namespace), mTLS, API key and an autoscaled worker',
    scoped: true,
    deletionPolicy: 'Delete',
    values: (watched) => ({
      watchNamespaces: watched,
      temporal: {
        uiUrl: 'https://temporal.example',
        tls: { enabled: true, secretName: 'temporal-mtls' },
        apiKey: { secretName: 'temporal-api-key' },
      },
      worker: { autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 4 } },
    }),
  },
];

// ---- what the code calls (activities/, watcher/), and what it must not be able to do ----------

const ns = (namespace: string, checks: Omit<AccessCheck, 'namespace'>[]): AccessCheck[] =>
  checks.map((c) => ({ ...c, namespace }));
const verbs = (resource: string, list: string[], subresource?: string) =>
  list.map((verb) => ({ verb, resource, subresource }));

const workerNeeds = (namespace: string): AccessCheck[] =>
  ns(namespace, [
    ...verbs('databases.durable.dev', ['get', 'patch']),
    ...verbs('databases.durable.dev', ['patch'], 'status'),
    ...verbs('databases.durable.dev', ['update'], 'finalizers'),
    ...['configmaps', 'services', 'secrets', 'statefulsets.apps'].flatMap((r) =>
      verbs(r, ['get', 'create', 'patch']),
    ),
    ...verbs('secrets', ['delete']),
    ...verbs('persistentvolumeclaims', ['list', 'delete', 'patch', 'create']),
    ...verbs('events', ['create', 'list']),
    ...verbs('databasebackups.durable.dev', ['get', 'list', 'create', 'patch', 'delete']),
    ...verbs('databasebackups.durable.dev', ['patch'], 'status'),
    ...verbs('jobs.batch', ['get', 'create']),
    // The role record <db>-roles is moved with PUT; member pods get their role label by patch.
    ...verbs('configmaps', ['update']),
    ...verbs('pods', ['get', 'list', 'delete', 'patch']),
    // A PostgreSQL replica that stays not connected: its engine's log, for a divergence.
    ...verbs('pods', ['get'], 'log'),
  ]);

const workerMustNot = (namespace: string): AccessCheck[] =>
  ns(namespace, [
    ...verbs('databases.durable.dev', ['create', 'update', 'delete', 'list', 'watch']),
    ...verbs('databases.durable.dev', ['update'], 'status'),
    ...verbs('databasebackups.durable.dev', ['update', 'watch']),
    ...verbs('jobs.batch', ['list', 'update', 'patch', 'delete']),
    ...verbs('secrets', ['list', 'watch', 'update']),
    ...verbs('configmaps', ['delete']),
    ...['services', 'statefulsets.apps'].flatMap((r) => verbs(r, ['update', 'delete'])),
    ...verbs('persistentvolumeclaims', ['get', 'update']),
    ...verbs('pods', ['create', 'update']),
    ...verbs('pods', ['create'], 'exec'),
    ...verbs('deployments.apps', ['create', 'patch']),
    ...verbs('serviceaccounts', ['create'], 'token'),
    ...verbs('rolebindings.rbac.authorization.k8s.io', ['create']),
    ...verbs('leases.coordination.k8s.io', ['get', 'create']),
    ...verbs('events', ['delete', 'patch']),
  ]);

const watcherNeeds = (namespace: string): AccessCheck[] =>
  ns(
    namespace,
    [
      'databases.durable.dev',
      'databasebackups.durable.dev',
      'configmaps',
      'services',
      'statefulsets.apps',
    ].flatMap((r) => verbs(r, ['list', 'watch'])),
  );

const watcherMustNot = (namespace: string): AccessCheck[] =>
  ns(namespace, [
    ...verbs('databases.durable.dev', ['get', 'patch', 'update', 'delete']),
    ...verbs('databases.durable.dev', ['patch'], 'status'),
    // No Secret at all: not even their names (list/watch would carry their data too).
    ...verbs('secrets', ['get', 'list', 'watch', 'create', 'patch']),
    ...verbs('configmaps', ['create', 'patch']),
    ...verbs('statefulsets.apps', ['create', 'patch', 'delete']),
    ...verbs('events', ['create']),
    ...verbs('persistentvolumeclaims', ['list', 'delete']),
    ...verbs('pods', ['create'], 'exec'),
    ...verbs('leases.coordination.k8s.io', ['create']),
    ...verbs('databasebackups.durable.dev', ['create', 'delete']),
    ...verbs('jobs.batch', ['create']),
  ]);

const leaderElectionNeeds = (namespace: string): AccessCheck[] =>
  ns(namespace, [
    ...verbs('leases.coordination.k8s.io', ['create']),
    ...verbs(`leases.coordination.k8s.io/${LEASE}`, ['get', 'update']),
  ]);

const leaderElectionMustNot = (namespace: string): AccessCheck[] =>
  ns(namespace, [
    ...verbs('leases.coordination.k8s.io', ['list', 'watch']),
    ...verbs(`leases.coordination.k8s.io/${LEASE}`, ['delete', 'patch']),
    ...verbs('leases.coordination.k8s.io/another-lease', ['get', 'update']),
  ]);

/** Cluster-scoped, and the dangerous classics: nobody gets them. */
const nobody: AccessCheck[] = [
  ...verbs('nodes', ['get', 'list', 'patch']),
  ...verbs('namespaces', ['delete', 'create']),
  ...verbs('storageclasses.storage.k8s.io', ['create', 'delete', 'list']),
  ...verbs('customresourcedefinitions.apiextensions.k8s.io', ['get', 'create', 'update']),
  ...verbs('clusterrolebindings.rbac.authorization.k8s.io', ['create']),
  ...verbs('clusterroles.rbac.authorization.k8s.io', ['escalate', 'bind']),
  ...verbs('serviceaccounts', ['impersonate']),
  ...verbs('persistentvolumes', ['delete']),
  { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'kube-system' },
];

describe.each(variants)('install with $title', (variant) => {
  const release = uniqueName('dep');
  const fullname = `${release}-durable-db-operator`;
  const workerSa = `${fullname}-worker`;
  const watcherSa = `${fullname}-watcher`;
  let opNs: string; // the release namespace
  let dbNs: string; // where the Database lives (watched)
  let watched: string[];
  let rendered: string;
  let objects: K8sObject[];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    // The operator's pods must pass the restricted Pod Security Standard, as in deploy/manifests.
    opNs = await createRestrictedNamespace('dep-op');
    dbNs = await createNamespace('dep-db');
    watched = variant.scoped ? [dbNs, await createNamespace('dep-db2')] : [];
    rendered = await renderChart({
      release,
      namespace: opNs,
      values: onSimulatedNodes(variant.values(watched)),
      includeCrds: true,
    });
    objects = parseObjects(rendered);
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await deleteClusterScoped(release);
    for (const n of [opNs, dbNs, ...watched]) if (n) await deleteNamespace(n);
  });

  it('applies cleanly with --server-side --dry-run=server, then for real; both Deployments roll out', async () => {
    const dry = await applyServerSide(rendered, { dryRun: true });
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toContain('(server dry run)');
    const real = await applyServerSide(rendered);
    expect(real).toMatchObject({ code: 0 });
    expect(real.stderr).not.toMatch(/PodSecurity|Warning/);
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['CustomResourceDefinition', 'ServiceAccount', 'Deployment']),
    );
    const created = await kubectlOk(['get', '-f', '-', '-o', 'name'], rendered);
    expect(created.trim().split('\n')).toHaveLength(objects.length);
    // On the simulated nodes (see onSimulatedNodes) no container runs, but the API server admits
    // the pods (restricted Pod Security) and the controllers create and schedule them.
    for (const d of [`${fullname}-worker`, `${fullname}-watcher`]) {
      await kubectlOk(['rollout', 'status', `deployment/${d}`, '-n', opNs, '--timeout=120s']);
    }
    const pods = await kubectlOk([
      'get',
      'pods',
      '-n',
      opNs,
      '-l',
      'app.kubernetes.io/component=watcher',
      '-o',
      'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}',
    ]);
    expect(pods.trim().split('\n')).toEqual(['Running', 'Running']);
  }, 240_000);

  it('grants what the code calls and nothing more (kubectl auth can-i --as the ServiceAccounts)', async () => {
    const worker = { namespace: opNs, name: workerSa };
    const watcher = { namespace: opNs, name: watcherSa };
    const elsewhere = 'default'; // not watched in the scoped variant
    const inScope = variant.scoped ? watched : [dbNs, elsewhere];
    type Expectation = { who: 'worker' | 'watcher'; check: AccessCheck; allowed: boolean };
    const table: Expectation[] = [
      ...inScope.flatMap((n) =>
        workerNeeds(n).map((check) => ({ who: 'worker' as const, check, allowed: true })),
      ),
      ...inScope.flatMap((n) =>
        watcherNeeds(n).map((check) => ({ who: 'watcher' as const, check, allowed: true })),
      ),
      { who: 'worker', check: { verb: 'get', resource: 'storageclasses.storage.k8s.io' }, allowed: true },
      ...leaderElectionNeeds(opNs).map((check) => ({ who: 'watcher' as const, check, allowed: true })),
      ...workerMustNot(dbNs).map((check) => ({ who: 'worker' as const, check, allowed: false })),
      ...watcherMustNot(dbNs).map((check) => ({ who: 'watcher' as const, check, allowed: false })),
      ...leaderElectionMustNot(opNs).map((check) => ({ who: 'watcher' as const, check, allowed: false })),
      // The Lease lives in the release namespace only.
      ...leaderElectionNeeds(dbNs).map((check) => ({ who: 'watcher' as const, check, allowed: false })),
      ...nobody.flatMap((check) => [
        { who: 'worker' as const, check, allowed: false },
        { who: 'watcher' as const, check, allowed: false },
      ]),
    ];
    if (variant.scoped) {
      // Nothing outside the watched namespaces, and nothing cluster-wide but StorageClasses.
      table.push(
        ...workerNeeds(elsewhere).map((check) => ({ who: 'worker' as const, check, allowed: false })),
        ...watcherNeeds(elsewhere).map((check) => ({ who: 'watcher' as const, check, allowed: false })),
        ...['secrets', 'databases.durable.dev', 'statefulsets.apps'].flatMap((resource) => [
          { who: 'watcher' as const, check: { verb: 'list', resource, namespace: 'all' }, allowed: false },
          { who: 'worker' as const, check: { verb: 'get', resource, namespace: 'all' }, allowed: false },
        ]),
      );
    } else {
      // Cluster-wide informers: list and watch across all namespaces; but no Secret can be
      // listed or watched anywhere, by either (the worker reads its Secrets by name).
      table.push(
        ...['databases.durable.dev', 'statefulsets.apps', 'services', 'configmaps'].flatMap((resource) =>
          ['list', 'watch'].map((verb) => ({
            who: 'watcher' as const,
            check: { verb, resource, namespace: 'all' },
            allowed: true,
          })),
        ),
        ...(['worker', 'watcher'] as const).flatMap((who) =>
          ['list', 'watch'].map((verb) => ({
            who,
            check: { verb, resource: 'secrets', namespace: 'all' },
            allowed: false,
          })),
        ),
      );
    }
    const answers = await mapLimit(table, 4, (row) =>
      canI(row.who === 'worker' ? worker : watcher, row.check),
    );
    const wrong = table
      .map((row, i) => ({ ...row, got: answers[i] }))
      .filter((row) => row.got !== row.allowed)
      .map((row) => `${row.who} ${describeAccess(row.check)}: expected ${row.allowed ? 'yes' : 'no'}`);
    expect(wrong).toEqual([]);
    expect(table.length).toBeGreaterThan(100);
  }, 240_000);

  it("runs the real worker and watcher with the ServiceAccounts' tokens: provision, scale, delete a Database", async () => {
    const taskQueue = uniqueName('dep');
    const logFiles: string[] = [];
    const logger = (component: string) => {
      const file = path.join(stackInfo().dir, 'logs', `deploy-${component}-${taskQueue}.log`);
      logFiles.push(file);
      return pino(
        { level: 'debug', base: { component } },
        pino.destination({ dest: file, sync: true, mkdir: true }),
      );
    };
    /**
     * The configuration the chart gives a component (its Deployment's environment), pointed at
     * the stack: its Temporal (no TLS there), a task queue of this test's own, the
     * ServiceAccount's token instead of the in-cluster one. With cluster-wide RBAC the watcher
     * still watches only this test's namespace: Databases of other test files running meanwhile
     * are none of its business.
     */
    const configOf = async (component: 'worker' | 'watcher', sa: string): Promise<OperatorConfig> => {
      const deployment = findObject(objects, 'Deployment', `${fullname}-${component}`, opNs);
      const env = containerEnv(podSpecOf(deployment).containers[0]!, {
        podName: `${component}-${taskQueue}`,
        podNamespace: opNs,
      });
      for (const name of TEMPORAL_SECURITY_ENV) delete env[name];
      const { temporal } = stackInfo();
      return loadConfig({
        ...env,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: temporal.namespace,
        TEMPORAL_TASK_QUEUE: taskQueue,
        TEMPORAL_UI_URL: temporal.uiUrl,
        KUBECONFIG: await serviceAccountKubeconfig(opNs, sa),
        // The worker runs on the machine, not in a pod: members' names resolve at the cluster's DNS.
        CLUSTER_DNS: stackInfo().clusterDns,
        WORKFLOW_BUNDLE_PATH: process.env.DURABLE_WORKFLOW_BUNDLE,
        LOG_LEVEL: 'debug',
        ...(variant.scoped ? {} : { WATCH_NAMESPACES: dbNs }),
      });
    };
    const workerCfg = await configOf('worker', workerSa);
    const watcherCfg = await configOf('watcher', watcherSa);
    expect(watcherCfg).toMatchObject({
      LEADER_ELECTION_ENABLED: true,
      LEADER_ELECTION_NAMESPACE: opNs,
      WATCH_NAMESPACES: variant.scoped ? watched : [dbNs],
    });

    const worker: Worker = await createWorker(workerCfg, logger('worker'));
    const running = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await worker.connection?.close();
    });
    const { watcher, close } = await createWatcher(watcherCfg, logger('watcher'));
    cleanups.push(close);
    await watcher.start();
    await waitFor('the watcher to hold the Lease', async () => {
      const res = await kubectl(['get', 'lease', LEASE, '-n', opNs, '-o', 'jsonpath={.spec.holderIdentity}']);
      return res.stdout === watcherCfg.POD_NAME;
    });
    // Every informer (Databases and the four owned kinds, per watched namespace) has listed: one
    // that may not list or watch keeps restarting, and the Database alone would still provision.
    await waitFor('every informer of the watcher listed', async () => watcher.status().informersRunning);

    const name = 'orders';
    const spec: DatabaseSpecInput = {
      engine: 'postgres',
      version: '15',
      replicas: 1,
      // Makes the worker read the StorageClass (the only cluster-scoped read).
      storage: { size: '1Gi', storageClassName: 'standard' },
      deletionPolicy: variant.deletionPolicy,
    };
    await applyDatabase(dbNs, name, spec);
    const ready = await waitForPhase(dbNs, name, 'Ready', { timeoutMs: 150_000 });
    expect(ready.metadata.finalizers).toContain('durable.dev/finalizer');
    expect(ready.status?.readyReplicas).toBe(1);

    await applyDatabase(dbNs, name, { ...spec, replicas: 2 });
    const scaled = await waitForPhase(dbNs, name, 'Ready', { generation: 2, timeoutMs: 150_000 });
    expect(scaled.status?.readyReplicas).toBe(2);
    const reasons = await kubectlOk([
      'get',
      'events',
      '-n',
      dbNs,
      '--field-selector',
      `involvedObject.kind=Database,involvedObject.name=${name}`,
      '-o',
      'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
    ]);
    expect(reasons.split('\n')).toEqual(expect.arrayContaining(['Provisioning', 'Ready', 'Scaling']));

    await kubectlOk(['delete', `databases.durable.dev/${name}`, '-n', dbNs, '--wait=false']);
    await waitFor(
      'the finalizer removed and the Database gone',
      async () => !(await getDatabase(dbNs, name)),
      {
        timeoutMs: 120_000,
      },
    );
    const volumes = async () =>
      (
        await kubectlOk([
          'get',
          'persistentvolumeclaims',
          '-n',
          dbNs,
          '-l',
          `app.kubernetes.io/instance=${name}`,
          '-o',
          'jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences}{"\\n"}{end}',
        ])
      )
        .split('\n')
        .filter(Boolean);
    if (variant.deletionPolicy === 'Delete') {
      await waitFor('data volumes deleted', async () => (await volumes()).length === 0, {
        timeoutMs: 60_000,
      });
    } else {
      // Retain: the volumes and the credentials stay, owned by nobody.
      expect(await volumes()).toEqual([`data-${name}-0 `, `data-${name}-1 `]);
      const owners = await kubectlOk([
        'get',
        'secret',
        `${name}-credentials`,
        '-n',
        dbNs,
        '-o',
        'jsonpath={.metadata.ownerReferences}',
      ]);
      expect(owners).toBe('');
    }

    expect(watcher.status()).toMatchObject({ leader: true, informersRunning: true });
    const logs = logFiles.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    expect(logs).toContain('"msg":"informers started"');
    expect(logs).not.toMatch(/forbidden|unauthorized|"code":40[13]\b|HTTP-Code: 40[13]\b/i);
  }, 420_000);
});

/**
 * The chart's values with the worker and watcher pods scheduled onto the stack's simulated (kwok)
 * nodes, by the chart's own nodeSelector and tolerations: the operator's image is not built on
 * this machine, so on a real node its pods could only fail to pull it.
 */
function onSimulatedNodes(values: Record<string, unknown>): Record<string, unknown> {
  const placement = {
    nodeSelector: { type: 'kwok' },
    tolerations: [{ key: SIMULATED_NODE_TAINT.key, operator: 'Exists', effect: SIMULATED_NODE_TAINT.effect }],
  };
  const part = (key: 'worker' | 'watcher') => ({
    ...((values[key] as object | undefined) ?? {}),
    ...placement,
  });
  return { ...values, worker: part('worker'), watcher: part('watcher') };
}
