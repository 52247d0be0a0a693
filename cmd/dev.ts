/**
 * `npm run dev` — the main job on the embedded local stack: starts Temporal (with its UI), a
 * Kubernetes control plane and real nodes (kubelet + containerd, running the images built here),
 * installs the CRDs, runs the worker and the watcher in this process (their JSON logs go to a
 * file), applies the Databases in examples/, and prints progress until they are Ready, with the
 * reason while they are not. It keeps running (edit or delete the Databases with kubectl and watch it react) until
 * Ctrl-C, then stops everything it started.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, DATABASE, GROUP, VERSION, type Database } from '../crds';
import { loadConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { kubectlPath, repoRoot } from '../tools/stack/binaries';
import { Stack } from '../tools/stack/stack';
import { startWatcherProcess } from './watcher';
import { startWorkerProcess } from './worker';

const run = promisify(execFile);
const say = (msg: string) => process.stderr.write(`[dev] ${msg}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      persist: { type: 'boolean', default: false },
      examples: { type: 'string', default: path.join(repoRoot, 'examples') },
      'log-level': { type: 'string', default: 'info' },
      nodes: { type: 'string', default: '3' },
    },
  });
  say(
    'starting the local stack (Temporal + UI, etcd, kube-apiserver, controller manager, scheduler, real nodes)',
  );
  const stack = await Stack.start({
    name: 'dev',
    persist: values.persist,
    realNodes: Number(values.nodes),
    log: (m) => say(m),
  });
  const { kubernetes, temporal, clusterDns } = stack.info;
  const kubectl = (...args: string[]) =>
    run(kubectlPath(), [`--kubeconfig=${kubernetes.kubeconfig}`, ...args]);

  let stopping = false;
  const cleanups: (() => Promise<void>)[] = [];
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${why})`);
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    say('installing the CRDs');
    await kubectl('apply', '--server-side', '-f', path.join(repoRoot, 'crds', 'generated'));
    await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${DATABASE.plural}.${GROUP}`);

    const cfg = loadConfig({
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_UI_URL: temporal.uiUrl,
      KUBECONFIG: kubernetes.operatorKubeconfig,
      // This worker runs on the machine, not in a pod: members' names resolve at the cluster's DNS.
      CLUSTER_DNS: clusterDns,
      LOG_LEVEL: values['log-level'],
      POD_NAME: 'dev',
    });
    say('starting the worker (bundling the workflows takes a few seconds)');
    const logFile = path.join(stack.info.dir, 'logs', 'operator.log');
    say(`operator logs (JSON) go to ${logFile}`);
    const worker = await startWorkerProcess(cfg, createLogger(cfg.LOG_LEVEL, 'worker', logFile));
    cleanups.push(() => worker.stop());
    say('starting the watcher');
    // Both run in this process: the watcher serves its endpoints on the next port.
    const watcher = await startWatcherProcess(
      { ...cfg, HTTP_PORT: cfg.HTTP_PORT === 0 ? 0 : cfg.HTTP_PORT + 1 },
      createLogger(cfg.LOG_LEVEL, 'watcher', logFile),
    );
    cleanups.push(() => watcher.stop());

    say(`applying ${values.examples}`);
    await kubectl('apply', '-f', values.examples);
    say('');
    say(`Temporal UI   ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows`);
    say(`kubectl       export KUBECONFIG=${kubernetes.kubeconfig}; kubectl get db -A`);
    say(
      `metrics       worker ${worker.http.url ?? '(not bound)'}/metrics, watcher ${watcher.http.url ?? '(not bound)'}/metrics`,
    );
    say(
      `nodes         ${stack.info.realNodes.map((n) => n.name).join(', ')}: real kubelets; ` +
        `kubectl logs / exec work on every member`,
    );
    say(`operator logs ${logFile}`);
    say(
      `S3 store      ${stack.info.objectStore.endpoint}; a bucket and a Secret for backups: ` +
        `npx tsx tools/stack/cli.ts s3 --name dev --namespace <ns>`,
    );
    say('');
    await watchProgress(kubernetes.kubeconfig, () => stopping);
  } catch (err) {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown('error');
  }
}

/** Prints each Database's phase when it changes; says once when all are Ready. Runs until stopped. */
async function watchProgress(kubeconfig: string, stopped: () => boolean): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const seen = new Map<string, string>();
  let allReadyAnnounced = false;
  const started = Date.now();
  while (!stopped()) {
    const list = (await api.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: DATABASE.plural,
    })) as {
      items: Database[];
    };
    for (const db of list.items) {
      const key = `${db.metadata.namespace}/${db.metadata.name}`;
      const st = db.status ?? {};
      // While not Ready, the Ready condition says why (the last failure, in words).
      const why =
        st.phase === 'Ready'
          ? undefined
          : (st.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True')?.message ??
            st.conditions?.find((c) => c.type === 'Progressing' && c.status === 'True')?.message);
      const line = `${st.phase ?? 'Pending'} ${st.readyReplicas ?? 0}/${db.spec.replicas} ready${why ? ` (${why})` : ''}`;
      if (seen.get(key) !== line) {
        seen.set(key, line);
        say(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${DATABASE.kind} ${key}: ${line}`);
      }
    }
    const allReady = list.items.length > 0 && list.items.every((db) => db.status?.phase === 'Ready');
    if (allReady && !allReadyAnnounced) {
      allReadyAnnounced = true;
      say(`all ${list.items.length} Databases are Ready (${API_VERSION}); Ctrl-C stops everything`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
