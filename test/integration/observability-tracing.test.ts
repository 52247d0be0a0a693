import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import pino from 'pino';
import { startWatcherProcess, type WatcherProcess } from '../../cmd/watcher';
import { bundleCanTrace, loadWorkflowBundle, startWorkerProcess, type WorkerProcess } from '../../cmd/worker';
import { disabledTracingSinks } from '../../common/tracing';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId } from '../../workflows/signals';
import { applyDatabase, getDatabase, installCrds, operatorConfig, waitForPhase } from '../support/operator';
import {
  createNamespace,
  deleteNamespace,
  kubectlOk,
  stackInfo,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

/**
 * Tracing end to end: the real worker and watcher with OTEL_TRACING_ENABLED=true export over
 * OTLP/HTTP to a tiny receiver on 127.0.0.1 (standing in for an OpenTelemetry Collector), and a
 * Database provisioned meanwhile yields one trace from the watcher's signalWithStart through the
 * workflow to its activities. The worker is handed the suite's pre-built bundle, which has no
 * tracing interceptors: the one setting must be enough all the same.
 */

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
type OtlpAttributes = { key: string; value: OtlpValue }[] | undefined;

const attrs = (list: OtlpAttributes) =>
  Object.fromEntries(
    (list ?? []).map(({ key, value }) => [key, value.stringValue ?? value.intValue ?? value.boolValue]),
  );

/** An OTLP/HTTP JSON trace receiver: POST /v1/traces, keeps every span it is sent. */
async function startReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      if (req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end();
        return;
      }
      const payload = JSON.parse(body.toString('utf8')) as {
        resourceSpans?: {
          resource?: { attributes?: OtlpAttributes };
          scopeSpans?: {
            spans?: {
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              attributes?: OtlpAttributes;
            }[];
          }[];
        }[];
      };
      for (const rs of payload.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              attributes: attrs(s.attributes),
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function fileLogger(name: string): pino.Logger {
  return pino(
    { level: 'debug', base: { component: name } },
    pino.destination({ dest: path.join(stackInfo().dir, 'logs', `${name}.log`), sync: true, mkdir: true }),
  );
}

describe('observability: OpenTelemetry tracing through the Temporal interceptors', () => {
  const name = 'traced';
  let ns: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let worker: WorkerProcess | undefined;
  let watcher: WatcherProcess | undefined;

  beforeAll(async () => {
    ns = await createNamespace('otel');
    await installCrds();
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await watcher?.stop();
    await worker?.stop();
    await receiver?.close();
    await deleteNamespace(ns);
  }, 60_000);

  const named = (prefix: string) => receiver.spans.filter((s) => s.name === prefix);
  const one = (spanName: string) => named(spanName)[0];

  let tracedBundle: { code: string };

  it('the suite bundle cannot trace; one bundled with tracing on can', async () => {
    expect(bundleCanTrace(fs.readFileSync(process.env.DURABLE_WORKFLOW_BUNDLE!, 'utf8'))).toBe(false);
    tracedBundle = await loadWorkflowBundle({ OTEL_TRACING_ENABLED: true });
    expect(bundleCanTrace(tracedBundle.code)).toBe(true);
  }, 180_000);

  it('a Database provisioned with tracing on yields one trace: signalWithStart → workflow → activities', async () => {
    const taskQueue = uniqueName('otel');
    const cfg = operatorConfig(ns, taskQueue, {
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      OTEL_TRACING_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // The suite's bundle, without the interceptors: the worker bundles them itself.
      WORKFLOW_BUNDLE_PATH: process.env.DURABLE_WORKFLOW_BUNDLE,
    });
    worker = await startWorkerProcess(cfg, fileLogger(`worker-${taskQueue}`));
    watcher = await startWatcherProcess(cfg, fileLogger(`watcher-${taskQueue}`));
    await applyDatabase(ns, name, { engine: 'mariadb', version: '11.8', replicas: 1 });
    await waitForPhase(ns, name, 'Ready', { timeoutMs: 120_000 });

    // Spans leave in batches (every 5 s).
    await waitFor(
      'spans of the client, the workflow and the activities',
      async () =>
        [
          'SignalWithStartWorkflow:databaseWorkflow',
          'HandleSignal:spec',
          'StartActivity:ensureObjects',
          'RunActivity:ensureObjects',
          'RunActivity:waitForStatefulSetReady',
        ].every((n) => named(n).length > 0),
      { timeoutMs: 30_000 },
    );
    const client = one('SignalWithStartWorkflow:databaseWorkflow')!;
    expect(client.resource).toMatchObject({
      'service.name': 'durable-db-operator',
      'durable.component': 'watcher',
    });
    expect(client.attributes).toMatchObject({ temporalWorkflowId: databaseWorkflowId(ns, name) });

    const scheduled = one('StartActivity:ensureObjects')!;
    const ran = one('RunActivity:ensureObjects')!;
    expect(scheduled.resource).toMatchObject({ 'durable.component': 'worker' });
    expect(ran.resource).toMatchObject({ 'durable.component': 'worker' });
    // The activity attempt is a child of the workflow's scheduling span, in the watcher's trace.
    expect(ran).toMatchObject({ traceId: scheduled.traceId, parentSpanId: scheduled.spanId });
    expect(scheduled.traceId).toBe(client.traceId);
    expect(ran.attributes).toMatchObject({ temporalWorkflowId: databaseWorkflowId(ns, name) });
    // Every activity of the workflow's first run is in that trace.
    const activities = receiver.spans.filter((s) => s.name.startsWith('RunActivity:'));
    expect(new Set(activities.map((s) => s.traceId))).toEqual(new Set([client.traceId]));
    expect(activities.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'RunActivity:assessSpec',
        'RunActivity:ensureObjects',
        'RunActivity:waitForStatefulSetReady',
        'RunActivity:reportStatus',
      ]),
    );

    // The workflow run's own span ends with the run: delete the Database.
    await kubectlOk(['delete', `databases.durable.dev/${name}`, '-n', ns, '--wait=false']);
    await waitFor('Database gone', async () => (await getDatabase(ns, name)) === undefined, {
      timeoutMs: 60_000,
    });
    const run = await waitFor('the workflow run span', async () => one('RunWorkflow:databaseWorkflow'), {
      timeoutMs: 30_000,
    });
    expect(run).toMatchObject({ traceId: client.traceId, parentSpanId: client.spanId });
    expect(scheduled.parentSpanId).toBe(run.spanId);
  }, 300_000);

  it('turning tracing off or on keeps histories replayable', async () => {
    const connection = await temporalConnection();
    try {
      const handle = temporalClient(connection).workflow.getHandle(databaseWorkflowId(ns, name));
      const traced = await handle.fetchHistory();
      // A history made with tracing replays without the interceptors (tracing turned off) …
      const untracedBundle = { code: fs.readFileSync(process.env.DURABLE_WORKFLOW_BUNDLE!, 'utf8') };
      const off = await Worker.runReplayHistory({ workflowBundle: untracedBundle }, traced).then(
        () => undefined,
        (err: unknown) => String(err),
      );
      expect(off).toBeUndefined();
      // … and recorded histories made without it replay with them (tracing turned on), as well as
      // they do without.
      const dir = path.join(__dirname, '..', 'replay', 'histories');
      const recorded = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.json') && f !== 'index.json')
        .map((f) => ({
          workflowId: f,
          history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))),
        }));
      expect(recorded.length).toBeGreaterThan(0);
      const replay = async (workflowBundle: { code: string }) => {
        const out: Record<string, string | undefined> = {};
        for await (const r of Worker.runReplayHistories(
          { workflowBundle, sinks: disabledTracingSinks() },
          recorded,
        )) {
          out[r.workflowId] = r.error?.message;
        }
        return out;
      };
      expect(await replay(tracedBundle)).toEqual(await replay(untracedBundle));
    } finally {
      await connection.close();
    }
  }, 240_000);
});
