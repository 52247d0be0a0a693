/**
 * Local stack CLI: `npm run stack -- up [--name dev] [--nodes 3] [--persist]` starts Temporal
 * (with UI) and a Kubernetes control plane with simulated nodes, prints how to reach them, and
 * stops everything on Ctrl-C. With --watch-stdin it also stops when its stdin closes, which is
 * how the jest global setup makes sure no process outlives the test run, even a killed one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Stack, stacksRoot } from './stack';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'dev' },
      nodes: { type: 'string', default: '3' },
      persist: { type: 'boolean', default: false },
      'watch-stdin': { type: 'boolean', default: false },
    },
  });
  const command = positionals[0] ?? 'up';
  if (command === 'down') return down(values.name);
  if (command !== 'up') throw new Error(`unknown command ${command}; use "up" or "down"`);

  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50)
    throw new Error('--nodes must be an integer 1..50');
  const stack = await Stack.start({ name: values.name, nodes, persist: values.persist });
  const { kubernetes, temporal, engines, dir } = stack.info;
  // One machine-readable line on stdout (for the jest global setup); the rest goes to stderr.
  process.stdout.write(`STACK_READY ${path.join(dir, 'stack.json')}\n`);
  process.stderr.write(
    [
      '',
      `  Kubernetes API   ${kubernetes.server} (${kubernetes.nodes} simulated kwok nodes)`,
      `  kubectl          export KUBECONFIG=${kubernetes.kubeconfig}`,
      `  Temporal         ${temporal.address} (namespace ${temporal.namespace})`,
      `  Temporal UI      ${temporal.uiUrl}`,
      `  Database pods    run as local engines (PostgreSQL 15, MariaDB for mysql); addresses in ${engines.addressMap}`,
      `                   logs in ${engines.logDir}, data in ${engines.dataDir}`,
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
