import crypto from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { configHash } from '../../activities/manifests';
import { databaseWorkflowId } from '../../workflows/signals';
import { applyDatabase, startOperator, waitForPhase, type RunningOperator } from '../support/operator';
import { recordNamespaceHistories } from '../support/record-histories';
import { sql } from '../support/sql';
import {
  createNamespace,
  deleteNamespace,
  kubectlOk,
  temporalClient,
  temporalConnection,
} from '../support/stack';

jest.setTimeout(600_000);

/**
 * `spec.parameters` travel by reference (issue 12): the watcher signals the spec without them and
 * their digest, the ConfigMap's activity reads them from the Database. What is checked, on real
 * nodes with a real engine: the engine runs with the parameters, no workflow history of the
 * Database holds any of them (a marker in a value is searched for in every run's history), the
 * history grows by a bounded number of bytes per generation (printed), and a burst of edits ends
 * with the last one's parameters in the ConfigMap and the engine, never an earlier one's.
 */

/** Every event of every run of a workflow ID (continued-as-new runs included), as JSON text. */
async function allHistories(client: Client, workflowId: string): Promise<string> {
  const texts: string[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    texts.push(JSON.stringify(history));
  }
  return texts.join('\n');
}

async function historyBytes(client: Client, workflowId: string): Promise<number> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0);
}

/** A log_line_prefix of the allow-list's full length (256) that carries `marker`. */
function prefixWith(marker: string): string {
  return `%m [%p] ${marker} `.padEnd(256, 'x');
}

describe('spec.parameters by reference', () => {
  let ns = '';
  let op: RunningOperator | undefined;
  const connection = temporalConnection();
  afterAll(async () => {
    await op?.stop();
    await (await connection).close();
    if (ns) await deleteNamespace(ns);
  });

  it('reach the engine, never the history; a burst of edits ends on the last one', async () => {
    ns = await createNamespace('byref');
    op = await startOperator(ns);
    const client = temporalClient(await connection);
    const name = 'wide';
    const id = databaseWorkflowId(ns, name);
    const markers = Array.from({ length: 5 }, () => `ref-${crypto.randomBytes(6).toString('hex')}`);
    const spec = (marker: string) => ({
      engine: 'postgres' as const,
      version: '15',
      parameters: {
        log_line_prefix: prefixWith(marker),
        datestyle: 'ISO, MDY',
        default_text_search_config: 'pg_catalog.english',
        log_connections: 'on',
        track_io_timing: 'on',
        work_mem: '8MB',
      },
    });
    const showPrefix = async () =>
      (await sql<{ log_line_prefix: string }>(ns, name, 'postgres', 'SHOW log_line_prefix'))[0]
        ?.log_line_prefix;

    await applyDatabase(ns, name, spec(markers[0]!));
    await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 240_000 });
    expect(await showPrefix()).toBe(prefixWith(markers[0]!));
    const afterFirst = await historyBytes(client, id);

    await applyDatabase(ns, name, spec(markers[1]!));
    await waitForPhase(ns, name, 'Ready', { generation: 2, timeoutMs: 240_000 });
    expect(await showPrefix()).toBe(prefixWith(markers[1]!));
    const afterSecond = await historyBytes(client, id);
    const perGeneration = afterSecond - afterFirst;
    process.stderr.write(
      `history of ${id}: ${afterFirst} bytes at generation 1 Ready, ${afterSecond} at generation 2 ` +
        `(${perGeneration} bytes for a generation that changes the parameters and rolls the pod)\n`,
    );
    // A generation that rolls a pod is a few dozen events of a few hundred bytes each. Were the
    // spec carried into each activity, as before, it would be several times this.
    expect(perGeneration).toBeGreaterThan(0);
    expect(perGeneration).toBeLessThan(48 * 1024);

    // Three edits at once: the ConfigMap's activity of an abandoned generation may read a newer
    // Database; it refuses to render parameters of another generation, and the last one wins.
    for (const marker of markers.slice(2)) await applyDatabase(ns, name, spec(marker));
    const last = markers[4]!;
    await waitForPhase(ns, name, 'Ready', { generation: 5, timeoutMs: 300_000 });
    expect(await showPrefix()).toBe(prefixWith(last));
    const configMap = JSON.parse(
      await kubectlOk(['get', 'configmap', '-n', ns, `${name}-config`, '-o', 'json']),
    ) as V1ConfigMap;
    const files = Object.values(configMap.data ?? {}).join('\n');
    expect(files).toContain(prefixWith(last));
    for (const earlier of markers.slice(0, 4)) expect(files).not.toContain(earlier);
    // The pods run the ConfigMap they were rolled for.
    const podHash = await kubectlOk([
      'get',
      'statefulset',
      '-n',
      ns,
      name,
      '-o',
      'jsonpath={.spec.template.metadata.annotations}',
    ]);
    expect(podHash).toContain(configHash(configMap));

    const histories = await allHistories(client, id);
    for (const marker of markers) expect(histories).not.toContain(marker);
    expect(histories).not.toContain('log_line_prefix');
    await recordNamespaceHistories(
      client,
      ns,
      'spec-by-reference',
      'parameters by reference: two generations that change them, then a burst of three edits',
    );
  });
});
