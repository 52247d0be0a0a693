/**
 * Local stack CLI: `npm run stack -- up [--name dev] [--nodes 3] [--kwok-nodes 3] [--persist]`
 * starts Temporal (with UI), a Kubernetes control plane, real nodes (kubelet + containerd; 0..3)
 * and simulated kwok nodes (tainted, for scale tests), prints how to reach them, and
 * stops everything on Ctrl-C. With --watch-stdin it also stops when its stdin closes, which is
 * how the jest global setup makes sure no process outlives the test run, even a killed one.
 *
 * `s3 --name dev --namespace shop [--bucket db-backups] [--secret s3-keys]` makes a bucket in the
 * running stack's object store and a credentials Secret for it in the namespace, and prints the
 * `spec.backup.target.s3` to use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { provisionS3Target } from './s3-bucket';
import { MAX_REAL_NODES, readStackInfo, Stack, stacksRoot } from './stack';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'dev' },
      nodes: { type: 'string', default: '3' },
      'kwok-nodes': { type: 'string', default: '3' },
      persist: { type: 'boolean', default: false },
      'watch-stdin': { type: 'boolean', default: false },
      namespace: { type: 'string', default: 'default' },
      bucket: { type: 'string', default: 'db-backups' },
      secret: { type: 'string', default: 's3-keys' },
    },
  });
  const command = positionals[0] ?? 'up';
  if (command === 'down') return down(values.name);
  if (command === 's3') return s3(values.name, values.namespace, values.bucket, values.secret);
  if (command !== 'up') throw new Error(`unknown command ${command}; use "up", "down" or "s3"`);

  const realNodes = Number(values.nodes);
  if (!Number.isInteger(realNodes) || realNodes < 0 || realNodes > MAX_REAL_NODES)
    throw new Error(`--nodes (real nodes) must be an integer 0..${MAX_REAL_NODES}`);
  const kwokNodes = Number(values['kwok-nodes']);
  if (!Number.isInteger(kwokNodes) || kwokNodes < 0 || kwokNodes > 50)
    throw new Error('--kwok-nodes must be an integer 0..50');
  const stack = await Stack.start({
    name: values.name,
    nodes: kwokNodes,
    realNodes,
    persist: values.persist,
  });
  const { kubernetes, temporal, realNodes: nodes, clusterDns, objectStore, dir } = stack.info;
  // One machine-readable line on stdout (for the jest global setup); the rest goes to stderr.
  process.stdout.write(`STACK_READY ${path.join(dir, 'stack.json')}\n`);
  process.stderr.write(
    [
      '',
      `  Kubernetes API   ${kubernetes.server}`,
      `  Nodes            ${nodes.map((n) => `${n.name} (${n.ip})`).join(', ') || 'no real nodes'}; ${kubernetes.nodes} simulated kwok nodes (tainted)`,
      `  kubectl          export KUBECONFIG=${kubernetes.kubeconfig}`,
      `  Temporal         ${temporal.address} (namespace ${temporal.namespace})`,
      `  Temporal UI      ${temporal.uiUrl}`,
      `  S3 store         ${objectStore.endpoint} (npx tsx tools/stack/cli.ts s3 --name ${values.name} --namespace <ns>: a bucket and a Secret)`,
      ...(clusterDns
        ? [`  Cluster DNS      ${clusterDns} (export CLUSTER_DNS=${clusterDns} for a worker on this machine)`]
        : []),
      '',
      '  Ctrl-C stops the stack.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[stack] stopping (${why})\n`);
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  if (values['watch-stdin']) {
    process.stdin.on('end', () => void stop('stdin closed'));
    process.stdin.on('error', () => void stop('stdin error'));
    process.stdin.resume();
  }
}

/** A bucket in the stack's object store and a credentials Secret for it in the namespace. */
async function s3(name: string, namespace: string, bucket: string, secretName: string): Promise<void> {
  const info = readStackInfo(path.join(stacksRoot, name, 'stack.json'));
  const target = await provisionS3Target(info, { namespace, bucket, secretName });
  process.stderr.write(
    [
      `[stack] bucket ${bucket} in ${target.endpoint}, Secret ${namespace}/${secretName}; in a Database of ${namespace}:`,
      '  backup:',
      '    target:',
      `      s3: { bucket: ${target.bucket}, endpoint: '${target.endpoint}', credentialsSecret: ${target.credentialsSecret} }`,
      '',
    ].join('\n'),
  );
}

/** Stops a stack started by another `up` (its supervisor handles SIGTERM). */
function down(name: string): void {
  const pidFile = path.join(stacksRoot, name, 'supervisor.pid');
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  try {
    if (pid) process.kill(pid, 'SIGTERM');
    process.stderr.write(`[stack] asked supervisor ${pid} of "${name}" to stop\n`);
  } catch {
    process.stderr.write(`[stack] no running stack named "${name}"\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[stack] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
