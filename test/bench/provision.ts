/**
 * Benchmark: time from `kubectl apply` to phase Ready, Kubernetes API writes made by the
 * operator and Temporal history events, per provisioned Database. Prints figures; asserts
 * nothing about speed (a busy 2-core machine would make such a test flaky).
 *
 *   npm run bench -- [--count 20]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Stack } from '../../tools/stack/stack';
import { applyDatabase, startOperator, waitForPhase } from '../support/operator';
import { kubectlOk, temporalClient, temporalConnection } from '../support/stack';
import { databaseWorkflowId } from '../../workflows/signals';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '20' } } });
  const count = Number(values.count);
  const stack = await Stack.start({ name: 'bench', log: (m) => process.stderr.write(`[bench] ${m}\n`) });
  // The test support modules find the stack through this, as under jest.
  process.env.DURABLE_STACK_FILE = path.join(stack.info.dir, 'stack.json');
  const connection = await temporalConnection();
  const client = temporalClient(connection);
  const namespaces = Array.from({ length: count }, (_, i) => `bench-${i + 1}`);
  for (const ns of namespaces) await kubectlOk(['create', 'namespace', ns]);
  const op = await startOperator(namespaces.join(','));
  try {
    const rows: { ns: string; ms: number; historyEvents: number }[] = [];
    for (const ns of namespaces) {
      const t0 = performance.now();
      await applyDatabase(ns, 'db', { engine: 'postgres', version: '15', replicas: 1 });
      await waitForPhase(ns, 'db', 'Ready', { timeoutMs: 120_000 });
      const ms = performance.now() - t0;
      const history = await client.workflow.getHandle(databaseWorkflowId(ns, 'db')).fetchHistory();
      rows.push({ ns, ms, historyEvents: history.events?.length ?? 0 });
      process.stderr.write(`[bench] ${ns}/db Ready in ${ms.toFixed(0)} ms\n`);
    }
    await new Promise((r) => setTimeout(r, 1_000)); // let the audit backend flush
    const writes = new Map<string, number>();
    for (const line of fs.readFileSync(stack.info.kubernetes.auditLog, 'utf8').split('\n')) {
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
        `provisioned ${count} Databases (postgres, 1 replica) one after another`,
        `apply → Ready: median ${median(sorted).toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`,
        `Kubernetes API writes by the operator per Database: median ${median([...perDbWrites].sort((a, b) => a - b))}, min ${Math.min(...perDbWrites)}, max ${Math.max(...perDbWrites)}`,
        `Temporal history events per Database at Ready: median ${median(rows.map((r) => r.historyEvents).sort((a, b) => a - b))}`,
        '',
      ].join('\n'),
    );
  } finally {
    await op.stop();
    await connection.close();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
