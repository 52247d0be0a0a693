import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * Freezes a pod's engine from the host (SIGSTOP), as a hung disk or a stalled process would: it
 * holds its port and its connections but answers nothing, and the kubelet's probes time out.
 * Returns the time of the freeze. The kubelet's SIGKILL still ends it when the pod is deleted.
 */
export async function freezeEngine(namespace: string, pod: string): Promise<number> {
  process.kill((await enginePid(namespace, pod)).pid, 'SIGSTOP');
  return Date.now();
}

/** The host PID of a real node's kubelet, from the stack supervisor's process list. */
function kubeletPid(node: string): number {
  const info = stackInfo();
  const process = info.realNodes?.find((n) => n.name === node)?.kubeletProcess;
  if (!process) throw new Error(`${node} is not a real node of this stack`);
  const pids = JSON.parse(fs.readFileSync(path.join(info.dir, 'pids.json'), 'utf8')) as {
    name: string;
    pid: number;
  }[];
  const pid = pids.find((p) => p.name === process)?.pid;
  if (!pid) throw new Error(`no pid recorded for ${process}`);
  return pid;
}

/**
 * Stops a node's kubelet (SIGSTOP: it neither reports nor acts, its containers keep running, as
 * when the kubelet hangs or its node loses the control plane). Returns the function that lets it
 * go on again.
 */
export function stopKubelet(node: string): () => void {
  const pid = kubeletPid(node);
  process.kill(pid, 'SIGSTOP');
  return () => process.kill(pid, 'SIGCONT');
}

/**
 * Cuts a pod off the network: every packet to or from its IP dropped, on the host (where the
 * operator and the tests dial from) and between the nodes' bridges. Returns the function that
 * heals the cut.
 */
export async function cutPodNetwork(podIp: string): Promise<() => Promise<void>> {
  const rules = [
    ['OUTPUT', '-d'],
    ['INPUT', '-s'],
    ['FORWARD', '-d'],
    ['FORWARD', '-s'],
  ];
  for (const [chain, dir] of rules) await run('iptables', ['-w', '-I', chain!, dir!, podIp, '-j', 'DROP']);
  return async () => {
    for (const [chain, dir] of rules) await run('iptables', ['-w', '-D', chain!, dir!, podIp, '-j', 'DROP']);
  };
}
