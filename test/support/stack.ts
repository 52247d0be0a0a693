import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { kubectlPath, repoRoot } from '../../tools/stack/binaries';
import { readStackInfo, stacksRoot, type StackInfo } from '../../tools/stack/stack';

const run = promisify(execFile);

/** The stack started by the jest global setup (or by hand, with DURABLE_STACK_FILE set). */
export function stackInfo(): StackInfo {
  return readStackInfo(
    process.env.DURABLE_STACK_FILE ??
      path.join(stacksRoot, process.env.DURABLE_STACK_NAME ?? 'test', 'stack.json'),
  );
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(stackInfo().kubernetes.kubeconfig);
  return kc;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs kubectl against the test stack; never throws on a non-zero exit (the caller asserts). */
export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), [`--kubeconfig=${stackInfo().kubernetes.kubeconfig}`, ...args], {
      cwd: repoRoot,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? -1 }));
    child.stdin.end(input ?? '');
  });
}

/** kubectl that throws with its stderr on failure. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const res = await kubectl(args, input);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

/** A unique, DNS-safe name with a readable prefix, for namespaces and task queues. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Creates a namespace of its own for one test; returns its name. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await kubectlOk(['create', 'namespace', name]);
  return name;
}

/** Deletes a test namespace without waiting for its finalization. */
export async function deleteNamespace(name: string): Promise<void> {
  const kubectl = (...args: string[]) =>
    run(kubectlPath(), [`--kubeconfig=${stackInfo().kubernetes.kubeconfig}`, ...args]);
  await kubectl('delete', 'namespace', name, '--wait=false', '--ignore-not-found');
  // The test's operator has stopped: nothing would remove the Databases' finalizers, and the
  // namespace (with its real pods, which cost the machine CPU and memory) would stay Terminating.
  const { stdout } = await kubectl('get', 'databases.durable.dev', '-n', name, '-o', 'name').catch(() => ({
    stdout: '',
  }));
  for (const db of stdout.split('\n').filter(Boolean)) {
    await kubectl('patch', '-n', name, db, '--type=merge', '-p', '{"metadata":{"finalizers":null}}').catch(
      () => undefined,
    );
  }
}

export async function temporalConnection(): Promise<Connection> {
  return Connection.connect({ address: stackInfo().temporal.address });
}

export function temporalClient(connection: Connection): Client {
  return new Client({ connection, namespace: stackInfo().temporal.namespace });
}
