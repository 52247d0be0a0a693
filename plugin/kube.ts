import { spawn } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import {
  DATABASE,
  DATABASE_BACKUP,
  GROUP,
  LABEL_BACKUP_DATABASE,
  VERSION,
  type Database,
  type DatabaseBackup,
} from '../crds';
import { UserError } from './output';

/**
 * The Kubernetes side of the plugin: the kubeconfig as kubectl finds it (`--kubeconfig`, then
 * KUBECONFIG, then ~/.kube/config; `--context`), the namespace (`-n`, else the context's, else
 * `default`), reads of the objects the commands show, and kubectl itself for exec.
 */
export interface KubeTarget {
  kc: k8s.KubeConfig;
  namespace: string;
  /** Flags that point a kubectl child process at the same cluster, context and namespace. */
  kubectlFlags: string[];
}

export function kubeTarget(opts: { kubeconfig?: string; context?: string; namespace?: string }): KubeTarget {
  const kc = new k8s.KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UserError(
      `cannot read the kubeconfig ${opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config'}: ${message(err)}`,
      'pass --kubeconfig FILE or set KUBECONFIG',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new UserError(`no context '${opts.context}' in the kubeconfig`, 'kubectl config get-contexts');
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new UserError('the kubeconfig names no current cluster', 'kubectl config use-context NAME');
  }
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  checkName(namespace, 'namespace');
  const kubectlFlags = [
    ...(opts.kubeconfig ? [`--kubeconfig=${opts.kubeconfig}`] : []),
    ...(opts.context ? [`--context=${opts.context}`] : []),
    `--namespace=${namespace}`,
  ];
  return { kc, namespace, kubectlFlags };
}

/**
 * Names reach Temporal list queries and kubectl arguments: allow-listed as Kubernetes object names
 * (DNS labels), never escaped after the fact.
 */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS subdomain (DatabaseBackup names may hold dots). */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function checkName(name: string, what: string, subdomain = false): string {
  const ok = subdomain
    ? name.length <= 253 && DNS_SUBDOMAIN.test(name)
    : name.length <= 63 && DNS_LABEL.test(name);
  if (!ok) {
    throw new UserError(
      `'${name}' is not a valid ${what} name (lowercase letters, digits and '-'${subdomain ? " and '.'" : ''}, at most ${subdomain ? 253 : 63} characters)`,
    );
  }
  return name;
}

export function message(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    return (body as { message?: string } | undefined)?.message ?? `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/** Wraps an API call: an unreachable server or a refusal becomes a message that names the fix. */
export async function api<T>(what: string, call: () => Promise<T>, t: KubeTarget): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = statusCode(err);
    if (code === 403) {
      throw new UserError(
        `not allowed to ${what}: ${message(err)}`,
        `kubectl auth can-i --list -n ${t.namespace}`,
      );
    }
    if (code === 404 && /the server could not find the requested resource/i.test(message(err))) {
      throw new UserError(
        `the cluster has no ${DATABASE.plural}.${GROUP} API`,
        'install the CRDs: durable-db-operator crds | kubectl apply --server-side -f -',
      );
    }
    if (code === undefined) {
      throw new UserError(
        `cannot reach the Kubernetes API at ${t.kc.getCurrentCluster()?.server} to ${what}: ${message(err)}`,
        'check --kubeconfig / --context (kubectl cluster-info)',
      );
    }
    throw err;
  }
}

/** A custom object of this API, or undefined when it does not exist (a missing CRD is an error). */
async function getCustom<T>(
  t: KubeTarget,
  plural: string,
  kind: string,
  name: string,
): Promise<T | undefined> {
  const custom = t.kc.makeApiClient(k8s.CustomObjectsApi);
  try {
    return (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
      namespace: t.namespace,
      name,
    })) as T;
  } catch (err) {
    if (statusCode(err) === 404 && !/could not find the requested resource/i.test(message(err)))
      return undefined;
    return api(`read ${kind} ${t.namespace}/${name}`, () => Promise.reject(err), t);
  }
}

/** The Database, or undefined when there is none of that name. */
export function findDatabase(t: KubeTarget, name: string): Promise<Database | undefined> {
  checkName(name, 'Database');
  return getCustom<Database>(t, DATABASE.plural, DATABASE.kind, name);
}

export async function getDatabase(t: KubeTarget, name: string): Promise<Database> {
  const db = await findDatabase(t, name);
  if (!db) {
    throw new UserError(
      `Database ${name} not found in namespace ${t.namespace}`,
      `kubectl get databases -n ${t.namespace}`,
    );
  }
  return db;
}

/** The Database's backups (by their label, as retention selects them), newest first. */
export async function listBackups(t: KubeTarget, database: string): Promise<DatabaseBackup[]> {
  const custom = t.kc.makeApiClient(k8s.CustomObjectsApi);
  const list = (await api(
    `list DatabaseBackups in ${t.namespace}`,
    () =>
      custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: DATABASE_BACKUP.plural,
        namespace: t.namespace,
        labelSelector: `${LABEL_BACKUP_DATABASE}=${database}`,
      }),
    t,
  )) as { items: DatabaseBackup[] };
  return sortBackups(list.items);
}

/** Newest first: by startedAt, else creation time. */
export function sortBackups(items: DatabaseBackup[]): DatabaseBackup[] {
  const at = (b: DatabaseBackup) =>
    Date.parse(String(b.status?.startedAt ?? b.metadata.creationTimestamp ?? '')) || 0;
  return [...items].sort((a, b) => at(b) - at(a));
}

export function getBackup(t: KubeTarget, name: string): Promise<DatabaseBackup | undefined> {
  return getCustom<DatabaseBackup>(t, DATABASE_BACKUP.plural, DATABASE_BACKUP.kind, name);
}

export function createBackup(t: KubeTarget, body: object): Promise<DatabaseBackup> {
  return createCustom<DatabaseBackup>(t, DATABASE_BACKUP.plural, DATABASE_BACKUP.kind, body);
}

export function createDatabase(t: KubeTarget, body: object): Promise<Database> {
  return createCustom<Database>(t, DATABASE.plural, DATABASE.kind, body);
}

async function createCustom<T>(t: KubeTarget, plural: string, kind: string, body: object): Promise<T> {
  const custom = t.kc.makeApiClient(k8s.CustomObjectsApi);
  return (await api(
    `create a ${kind} in ${t.namespace}`,
    () =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural,
        namespace: t.namespace,
        body,
      }),
    t,
  )) as T;
}

export async function getPods(t: KubeTarget, names: string[]): Promise<Map<string, k8s.V1Pod>> {
  const core = t.kc.makeApiClient(k8s.CoreV1Api);
  const pods = new Map<string, k8s.V1Pod>();
  await Promise.all(
    names.map(async (name) => {
      try {
        pods.set(name, await core.readNamespacedPod({ name, namespace: t.namespace }));
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    }),
  );
  return pods;
}

export async function getStatefulSet(t: KubeTarget, name: string): Promise<k8s.V1StatefulSet | undefined> {
  const apps = t.kc.makeApiClient(k8s.AppsV1Api);
  try {
    return await apps.readNamespacedStatefulSet({ name, namespace: t.namespace });
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** Events about the Database, oldest first (as `kubectl events --for database/<name>`). */
export async function databaseEvents(t: KubeTarget, name: string): Promise<k8s.CoreV1Event[]> {
  const core = t.kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedEvent({
    namespace: t.namespace,
    fieldSelector: `involvedObject.kind=${DATABASE.kind},involvedObject.name=${name}`,
  });
  return [...list.items].sort((a, b) => eventTime(a) - eventTime(b));
}

export function eventTime(e: k8s.CoreV1Event): number {
  const at = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return at ? new Date(at as unknown as string).getTime() : 0;
}

/** kubectl from PATH (the plugin runs under it), or KUBECTL. */
export function kubectlBinary(): string {
  return process.env.KUBECTL || 'kubectl';
}

/**
 * Runs kubectl with the target's flags and captures its output; never a shell. For the short
 * read-only queries the plugin makes inside a pod (replication lag).
 */
export function kubectlCapture(
  t: KubeTarget,
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(kubectlBinary(), [...t.kubectlFlags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Sets one annotation on a Database (a merge patch: nothing else is touched). */
export function annotateDatabase(t: KubeTarget, name: string, key: string, value: string): Promise<void> {
  return annotate(t, DATABASE, name, key, value);
}

/** Sets one annotation on a DatabaseBackup (a merge patch). */
export function annotateBackup(t: KubeTarget, name: string, key: string, value: string): Promise<void> {
  return annotate(t, DATABASE_BACKUP, name, key, value);
}

async function annotate(
  t: KubeTarget,
  resource: { plural: string; kind: string },
  name: string,
  key: string,
  value: string,
): Promise<void> {
  const custom = t.kc.makeApiClient(k8s.CustomObjectsApi);
  await api(
    `annotate ${resource.kind} ${t.namespace}/${name}`,
    () =>
      custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: resource.plural,
          namespace: t.namespace,
          name,
          body: { metadata: { annotations: { [key]: value } } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    t,
  );
}
