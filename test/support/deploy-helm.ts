import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { binary, repoRoot } from '../../tools/stack/binaries';
import { writeKubeconfig } from '../../tools/stack/kubeconfig';
import { createNamespace, kubectl, kubectlOk, stackInfo } from './stack';

/**
 * Helpers of the deploy tests: Helm (the binary tools/build-binaries.sh builds), the chart's
 * rendered objects, kubectl as a ServiceAccount, and a kubeconfig holding a ServiceAccount's token.
 */

const run = promisify(execFile);

export const chartDir = path.join(repoRoot, 'deploy', 'helm', 'durable-db-operator');
export const manifestsDir = path.join(repoRoot, 'deploy', 'manifests');
export const renderScript = path.join(repoRoot, 'deploy', 'render.sh');

export interface ProcessResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command; never throws on a non-zero exit (the caller asserts). */
export async function runCommand(
  file: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<ProcessResult> {
  try {
    const { stdout, stderr } = await run(file, args, {
      cwd: repoRoot,
      env: env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    if (typeof e.code !== 'number') throw err;
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code };
  }
}

export function helm(args: string[]): Promise<ProcessResult> {
  return runCommand(binary('helm'), args);
}

export interface RenderOptions {
  release: string;
  namespace: string;
  /** Values, written to a file and passed with -f. */
  values?: Record<string, unknown>;
  includeCrds?: boolean;
}

/** `helm template` of the chart; throws with Helm's message when it fails. */
export async function renderChart(opts: RenderOptions): Promise<string> {
  const args = ['template', opts.release, chartDir, '--namespace', opts.namespace];
  if (opts.includeCrds) args.push('--include-crds');
  let valuesFile: string | undefined;
  if (opts.values) {
    valuesFile = path.join(os.tmpdir(), `deploy-values-${process.pid}-${Date.now()}.yaml`);
    fs.writeFileSync(valuesFile, stringify(opts.values));
    args.push('-f', valuesFile);
  }
  try {
    const res = await helm(args);
    if (res.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return res.stdout;
  } finally {
    if (valuesFile) fs.rmSync(valuesFile, { force: true });
  }
}

/** A Kubernetes object as parsed from YAML, loosely typed: the tests assert its shape. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function parseObjects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJSON() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null && typeof obj === 'object');
}

export function findObject(objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const found = objects.find(
    (o) => o.kind === kind && o.metadata.name === name && (!namespace || o.metadata.namespace === namespace),
  );
  if (!found) throw new Error(`no ${kind} ${namespace ? `${namespace}/` : ''}${name} in the rendered chart`);
  return found;
}

/** The one container of a rendered Deployment. */
export interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  startupProbe: { httpGet: { path: string; port: string | number } };
  resources: Record<string, unknown>;
}

export interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; emptyDir?: Record<string, unknown>; secret?: Record<string, unknown> }[];
}

export function podSpecOf(deployment: K8sObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

/**
 * The environment a rendered container would get, with fieldRefs resolved as the kubelet would
 * (metadata.name → `podName`, metadata.namespace → `podNamespace`).
 */
export function containerEnv(
  container: Container,
  pod: { podName: string; podNamespace: string },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = pod.podNamespace;
    else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

/** `kubectl apply --server-side --force-conflicts` of a YAML stream (CRDs are shared: idempotent). */
export function applyServerSide(yamlText: string, { dryRun = false } = {}): Promise<ProcessResult> {
  const args = ['apply', '--server-side', '--force-conflicts', '-f', '-'];
  if (dryRun) args.push('--dry-run=server');
  return kubectl(args, yamlText);
}

/** The cluster-scoped objects of a release (its namespaced ones go with the namespaces). */
export async function deleteClusterScoped(release: string): Promise<void> {
  await kubectl([
    'delete',
    'clusterroles.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io',
    '-l',
    `app.kubernetes.io/instance=${release}`,
    '--ignore-not-found',
    '--wait=false',
  ]);
}

export interface AccessCheck {
  verb: string;
  /** As kubectl auth can-i takes it: `secrets`, `statefulsets.apps`, `leases/<name>`. */
  resource: string;
  subresource?: string;
  /** A namespace, or 'all' for a cluster-wide check (-A); cluster-scoped resources need none. */
  namespace?: string | 'all';
}

export function describeAccess(c: AccessCheck): string {
  const sub = c.subresource ? `/${c.subresource}` : '';
  const where = c.namespace === 'all' ? ' (all namespaces)' : c.namespace ? ` in ${c.namespace}` : '';
  return `${c.verb} ${c.resource}${sub}${where}`;
}

/** `kubectl auth can-i … --as=system:serviceaccount:<ns>:<sa>`: true for yes, false for no. */
export async function canI(
  serviceAccount: { namespace: string; name: string },
  c: AccessCheck,
): Promise<boolean> {
  const args = [
    'auth',
    'can-i',
    c.verb,
    c.resource,
    `--as=system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
  ];
  if (c.subresource) args.push(`--subresource=${c.subresource}`);
  if (c.namespace === 'all') args.push('--all-namespaces');
  else if (c.namespace) args.push('--namespace', c.namespace);
  const res = await kubectl(args);
  const answer = res.stdout.trim().split('\n').pop();
  if (res.code === 0 && answer === 'yes') return true;
  if (res.code === 1 && answer === 'no') return false;
  throw new Error(`kubectl ${args.join(' ')}: exit ${res.code}: ${res.stdout} ${res.stderr}`);
}

/** Runs `fn` over `items` with at most `limit` at a time (kubectl processes on a small machine). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * A kubeconfig for the stack's API server that authenticates with a token of the ServiceAccount
 * (TokenRequest, as the kubelet mounts one into the pod): what the operator has in the cluster.
 */
export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const token = (await kubectlOk(['create', 'token', name, '-n', namespace, '--duration=2h'])).trim();
  const admin = parseYaml(fs.readFileSync(stackInfo().kubernetes.kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority': string } }[];
  };
  const cluster = admin.clusters[0]!.cluster;
  const file = path.join(stackInfo().dir, `${namespace}-${name}.kubeconfig`);
  writeKubeconfig(file, cluster.server, cluster['certificate-authority'], `${namespace}:${name}`, token);
  return file;
}

/**
 * A namespace for the operator's own pods, enforcing the restricted Pod Security Standard (as
 * deploy/manifests/00-namespace.yaml does): the chart's pods must pass it.
 */
export async function createRestrictedNamespace(prefix: string): Promise<string> {
  const name = await createNamespace(prefix);
  await kubectlOk([
    'label',
    'namespace',
    name,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/warn=restricted',
  ]);
  return name;
}
