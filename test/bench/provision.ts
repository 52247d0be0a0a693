/**
 * Benchmark: time from `kubectl apply` to phase Ready, Kubernetes API writes made by the
 * operator and Temporal history events, per provisioned Database. Prints figures; asserts
 * nothing about speed (a busy 2-core machine would make such a test flaky).
 *
 *   npm run bench -- [--count 20] [--replicas 1] [--engine postgres|mariadb]
 *
 * With DURABLE_STACK_FILE set, it uses that running stack (and its audit log) instead of starting
 * one; each run works in namespaces of its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Stack } from '../../tools/stack/stack';
import { applyDatabase, startOperator, waitForPhase } from '../support/operator';
import { deleteNamespace, kubectlOk, stackInfo, temporalClient, temporalConnection } from '../support/stack';
import { databaseWorkflowId } from '../../workflows/signals';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '20' },
      replicas: { type: 'string', default: '1' },
      engine: { type: 'string', default: 'postgres' },
    },
  });
  const count = Number(values.count);
  const replicas = Number(values.replicas);
  const engine = values.engine === 'mariadb' ? 'mariadb' : 'postgres';
  const version = engine === 'mariadb' ? '11.8' : '15';
  const given = process.env.DURABLE_STACK_FILE;
  const stack = given
    ? undefined
    : await Stack.start({ name: 'bench', log: (m) => process.stderr.write(`[bench] ${m}\n`) });
  // The test support modules find the stack through this, as under jest.
  if (stack) process.env.DURABLE_STACK_FILE = path.join(stack.info.dir, 'stack.json');
  const info = stackInfo();
  const run = Date.now().toString(36).slice(-4);
  const connection = await temporalConnection();
  const client = temporalClient(connection);
  const namespaces = Array.from({ length: count }, (_, i) => `bench-${run}-${i + 1}`);
  for (const ns of namespaces) await kubectlOk(['create', 'namespace', ns]);
  const op = await startOperator(namespaces.join(','));
  try {
    const rows: { ns: string; ms: number; historyEvents: number }[] = [];
    for (const ns of namespaces) {
      const t0 = performance.now();
      await applyDatabase(ns, 'db', { engine, version, replicas, storage: { size: '1Gi' } });
      await waitForPhase(ns, 'db', 'Ready', { timeoutMs: 300_000 });
      const ms = performance.now() - t0;
      const history = await client.workflow.getHandle(databaseWorkflowId(ns, 'db')).fetchHistory();
      rows.push({ ns, ms, historyEvents: history.events?.length ?? 0 });
      process.stderr.write(`[bench] ${ns}/db Ready in ${ms.toFixed(0)} ms\n`);
    }
    await new Promise((r) => setTimeout(r, 1_000)); // let the audit backend flush
    const writes = new Map<string, number>();
    for (const line of fs.readFileSync(info.kubernetes.auditLog, 'utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line) as { objectRef?: { namespace?: string }; verb: string; stage: string };
      const ns = entry.objectRef?.namespace;
      if (entry.stage === 'ResponseComplete' && ns) writes.set(ns, (writes.get(ns) ?? 0) + 1);
    }
    const sorted = rows.map((r) => r.ms).sort((a, b) => a - b);
    const median = (xs: number[]) => xs[Math.floor((xs.length - 1) / 2)]!;
    const perDbWrites = namespaces.map((ns) => writes.get(ns) ?? 0);
    process.stdout.write(
      [
        `provisioned ${count} Databases (${engine} ${version}, ${replicas} member(s)) one after another, on ${info.realNodes.length} real nodes`,
        `apply → Ready: median ${median(sorted).toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`,
        `Kubernetes API writes by the operator per Database: median ${median([...perDbWrites].sort((a, b) => a - b))}, min ${Math.min(...perDbWrites)}, max ${Math.max(...perDbWrites)}`,
        `Temporal history events per Database at Ready: median ${median(rows.map((r) => r.historyEvents).sort((a, b) => a - b))}`,
        '',
      ].join('\n'),
    );
  } finally {
    await op.stop();
    await connection.close();
    for (const ns of namespaces) await deleteNamespace(ns);
    await stack?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
