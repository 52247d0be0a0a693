import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { kubeConfig, stackInfo } from './stack';

const run = promisify(execFile);

/**
 * The host PID of a pod's `database` container: the task of that container in its real node's
 * containerd (the entrypoints exec the engine, so it is the engine's own process).
 */
export async function enginePid(namespace: string, pod: string): Promise<{ pid: number; restarts: number }> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const p = await core.readNamespacedPod({ name: pod, namespace });
  const status = p.status?.containerStatuses?.find((c) => c.name === 'database');
  const id = status?.containerID?.replace(/^containerd:\/\//, '');
  const node = stackInfo().realNodes?.find((n) => n.name === p.spec?.nodeName);
  if (!id || !node) throw new Error(`${pod}: no container id or not on a real node`);
  const { stdout } = await run('ctr', ['--address', node.containerdSocket, '-n', 'k8s.io', 'tasks', 'ls']);
  const line = stdout.split('\n').find((l) => l.startsWith(id));
  const pid = Number(line?.split(/\s+/)[1]);
  if (!pid) throw new Error(`${pod}: no running task ${id} on ${node.name}:\n${stdout}`);
  return { pid, restarts: status?.restartCount ?? 0 };
}

/**
 * SIGKILLs a pod's engine from the host, as the kernel's OOM killer or a crash would end it.
 * Returns the time of the kill (after finding the process, which takes a while).
 */
export async function killEngine(namespace: string, pod: string): Promise<number> {
  process.kill((await enginePid(namespace, pod)).pid, 'SIGKILL');
  return Date.now();
}
