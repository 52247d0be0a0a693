import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { binary } from '../../tools/stack/binaries';
import { waitFor } from '../../tools/stack/wait';
import { stackInfo } from '../support/stack';

/**
 * The plain controller the cost benchmark compares against (tools/k8s/peer, built into the bin
 * dir by tools/build-binaries.sh): one OS process, reconciling only the Databases of
 * `namespaces`, as the operator's user, so that the audit log records its writes alike.
 */
export async function startPeer(namespaces: string[], logName: string): Promise<ChildProcess> {
  const info = stackInfo();
  const log = path.join(info.dir, 'logs', `${logName}.log`);
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const out = fs.openSync(log, 'a');
  const child = spawn(
    binary('durable-peer'),
    [`--namespaces=${namespaces.join(',')}`, `--kubeconfig=${info.kubernetes.operatorKubeconfig}`],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  // controller-runtime logs this once its caches have synced and its reconcile worker runs.
  await waitFor(
    'the peer controller to start its workers',
    async () => {
      if (child.exitCode !== null) return true; // reported below, without waiting for the timeout
      return fs.readFileSync(log, 'utf8').includes('Starting workers');
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  if (child.exitCode !== null) throw new Error(`durable-peer exited with ${child.exitCode}; see ${log}`);
  return child;
}
