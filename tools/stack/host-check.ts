/**
 * `npm test`'s last step: proves that a stack with real nodes leaves the host as it found it, also
 * when its supervisor dies by SIGKILL. It starts a stack with one real node and a running pod,
 * SIGKILLs the supervisor (every component and the pod keep running, orphaned), starts a stack
 * again (which must undo what the dead one left), stops that one cleanly, and then checks that no
 * process, mount, cgroup, link, iptables chain or changed sysctl is left. Exits 1 with the list of
 * leftovers otherwise. Run on its own: `npx tsx tools/stack/host-check.ts`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kubectlPath } from './binaries';
import { hostLeftovers, readSysctls } from './host';
import { isAlive } from './processes';
import { readStackInfo, stacksRoot, type StackInfo } from './stack';
import { startSupervisor } from './supervisor';
import { waitFor } from './wait';

const NAME = 'host-check';
const say = (msg: string) => process.stderr.write(`[host-check] ${msg}\n`);

async function startStack(): Promise<{ pid: number; info: StackInfo; stop: () => Promise<void> }> {
  const { child, stackFile } = await startSupervisor([`--name=${NAME}`, '--nodes=1', '--kwok-nodes=0']);
  return {
    pid: child.pid!,
    info: readStackInfo(stackFile),
    stop: () =>
      new Promise<void>((done) => {
        child.once('exit', () => done());
        child.stdin!.end();
      }),
  };
}

async function kubectl(info: StackInfo, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), [`--kubeconfig=${info.kubernetes.kubeconfig}`, ...args]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${code}`)),
    );
    child.stdin.end(input ?? '');
  });
}

/** Processes on the machine that belong to the check's stack (by environment or command line). */
function stackProcesses(dir: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .map(Number)
    .filter((pid) => {
      try {
        const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return (env.includes(`DURABLE_STACK_DIR=${dir}\0`) || cmd.includes(`${dir}/`)) && isAlive(pid);
      } catch {
        return false;
      }
    });
}

async function main(): Promise<void> {
  const before = readSysctls();
  const dir = path.join(stacksRoot, NAME);

  say('starting a stack with one real node and a running pod, then SIGKILLing its supervisor');
  const first = await startStack();
  await kubectl(
    first.info,
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Pod
metadata: { name: sleeper, namespace: default }
spec:
  containers: [{ name: c, image: postgres:15, command: [sleep, '3600'] }]
`,
  );
  await waitFor(
    'the pod Running',
    async () =>
      (await kubectl(first.info, ['get', 'pod', 'sleeper', '-o', 'jsonpath={.status.phase}'])) === 'Running',
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  process.kill(first.pid, 'SIGKILL');
  await waitFor('the supervisor gone', async () => !isAlive(first.pid), { timeoutMs: 10_000 });
  const orphans = stackProcesses(dir).length;
  say(`supervisor killed; ${orphans} processes of the stack left running`);

  say('starting again: the new stack must undo what the dead one left, then stop cleanly');
  const second = await startStack();
  await second.stop();

  const left = [
    ...hostLeftovers([dir, path.join(stacksRoot, '.node-images')], before),
    ...stackProcesses(dir).map(
      (pid) => `process ${pid} (${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]})`,
    ),
  ];
  if (left.length) {
    say(`the host is not clean:\n  ${left.join('\n  ')}`);
    process.exit(1);
  }
  say(
    `clean: after a SIGKILL with ${orphans} orphans and a clean stop, no process, mount, cgroup, link, chain or changed sysctl is left`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  say(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
