/**
 * A Temporal dev server of its own (the CLI the stack uses, headless, no Kubernetes) and one
 * worker running the real workflow bundle with FakeActivities, for the workflow tests of one
 * jest file. Not the shared stack's server: these tests need none of its parts and must run
 * without it (DURABLE_STACK_FILE=/tmp/none).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import {
  DATABASE_WORKFLOW_TYPE,
  databaseWorkflowId,
  specSignal,
  stateQuery,
  type DatabaseWorkflowView,
  type SpecUpdate,
  type WorkflowLimits,
} from '../../workflows/signals';
import type { DatabaseSpec } from '../../crds';
import type { databaseWorkflow } from '../../workflows/database';
import { ProcessGroup } from '../../tools/stack/processes';
import { startTemporal } from '../../tools/stack/temporal';
import { FakeActivities } from './fake-activities';

/** Not test/support/stack's: that module loads the Kubernetes client, which these tests never need. */
const uniqueName = (prefix: string) => `${prefix}-${crypto.randomBytes(3).toString('hex')}`;

export interface WorkflowTestEnv {
  client: Client;
  taskQueue: string;
  fakes: FakeActivities;
  stop(): Promise<void>;
}

/**
 * Warnings and errors only, without the worker's "Activity failed" warnings: the failures these
 * tests script are expected, and each would print a stack trace.
 */
function installQuietRuntime(): void {
  const logger = new DefaultLogger('WARN', ({ level, message, meta }) => {
    if (message === 'Activity failed') return;
    process.stderr.write(`[${level}] ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // Installed already in this process (once per module registry is all the Runtime allows).
  }
}

export async function startWorkflowTestEnv(): Promise<WorkflowTestEnv> {
  installQuietRuntime();
  const bundlePath = process.env.DURABLE_WORKFLOW_BUNDLE;
  if (!bundlePath)
    throw new Error('DURABLE_WORKFLOW_BUNDLE is not set: run under jest (test/setup bundles it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-wftest-'));
  const procs = new ProcessGroup(dir, path.join(dir, 'logs'));
  const stopServer = async () => {
    await procs.stopAll(2_000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const temporal = await startTemporal(procs, {
      dir,
      persist: false,
      headless: true,
      log: () => undefined,
    });
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const native = await NativeConnection.connect({ address: temporal.address });
    const taskQueue = uniqueName('workflow-tests');
    const fakes = new FakeActivities();
    const worker = await Worker.create({
      connection: native,
      namespace: temporal.namespace,
      taskQueue,
      workflowBundle: { codePath: bundlePath },
      activities: fakes.activities,
      // A cancellation reaches a heartbeating activity with its next heartbeat: flush them at once
      // (in production they are throttled to 80% of the heartbeat timeout).
      maxHeartbeatThrottleInterval: '100 ms',
      defaultHeartbeatThrottleInterval: '100 ms',
      shutdownGraceTime: '1 s',
    });
    const running = worker.run();
    return {
      client,
      taskQueue,
      fakes,
      stop: async () => {
        worker.shutdown();
        await running.catch(() => undefined);
        await native.close();
        await connection.close();
        await stopServer();
      },
    };
  } catch (err) {
    await stopServer();
    throw err;
  }
}

/**
 * The environment for the tests of one file: started before them, stopped after them. Its
 * members can be read once the tests run.
 */
export function useWorkflowTestEnv(): WorkflowTestEnv {
  let started: WorkflowTestEnv | undefined;
  const env = () => {
    if (!started) throw new Error('the workflow test environment did not start (see beforeAll)');
    return started;
  };
  beforeAll(async () => {
    started = await startWorkflowTestEnv();
  }, 90_000);
  afterAll(async () => {
    await started?.stop();
  });
  return {
    get client() {
      return env().client;
    },
    get taskQueue() {
      return env().taskQueue;
    },
    get fakes() {
      return env().fakes;
    },
    stop: () => env().stop(),
  };
}

/**
 * A spec as a user writes it, sent as stored (like the watcher does): the workflow parses and
 * defaults it.
 */
export type RawSpec = Record<string, unknown>;

/**
 * One Database as the watcher sees it: sends its generations the way the watcher does
 * (signalWithStart on `database/<ns>/<name>`), and reads the workflow's state query.
 */
export class DatabaseUnderTest {
  readonly namespace = uniqueName('wf');
  readonly uid = `uid-${this.namespace}`;
  readonly workflowId: string;
  generation = 0;

  constructor(
    private readonly env: WorkflowTestEnv,
    readonly name: string,
    public spec: RawSpec,
    /** The run's bounds, as the watcher passes them from the operator's config. */
    private readonly limits?: WorkflowLimits,
  ) {
    this.workflowId = databaseWorkflowId(this.namespace, name);
  }

  get handle(): WorkflowHandle<typeof databaseWorkflow> {
    return this.env.client.workflow.getHandle(this.workflowId);
  }

  /** A new generation with `spec` (merged into the last one). */
  async apply(spec: RawSpec = {}): Promise<number> {
    this.spec = { ...this.spec, ...spec };
    this.generation += 1;
    await this.send({
      uid: this.uid,
      generation: this.generation,
      spec: this.spec as DatabaseSpec,
      deleting: false,
    });
    return this.generation;
  }

  /** deletionTimestamp set: the same generation, `deleting`. */
  async delete(): Promise<void> {
    await this.send({
      uid: this.uid,
      generation: this.generation,
      spec: this.spec as DatabaseSpec,
      deleting: true,
    });
  }

  async send(update: SpecUpdate): Promise<void> {
    await this.env.client.workflow.signalWithStart(DATABASE_WORKFLOW_TYPE, {
      workflowId: this.workflowId,
      taskQueue: this.env.taskQueue,
      args: [{ namespace: this.namespace, name: this.name, limits: this.limits }],
      signal: specSignal,
      signalArgs: [update],
    });
  }

  /**
   * Resolves once the workflow waits for a signal or a timer: the server lists no workflow task,
   * activity or child of its current run as pending, and every call the fakes received for this
   * Database has returned. (Only in a workflow task could it decide to do more.)
   */
  async idle(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const { raw, status } = await this.handle.describe();
      const busy =
        status.name === 'RUNNING' &&
        (!!raw.pendingWorkflowTask ||
          (raw.pendingActivities?.length ?? 0) > 0 ||
          (raw.pendingChildren?.length ?? 0) > 0);
      if (!busy && this.env.fakes.in(this.namespace).every((c) => c.outcome)) return;
      if (Date.now() > end) throw new Error(`${this.workflowId} still busy after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The workflow's result, or a failure naming the Database after `timeoutMs`. */
  async result(timeoutMs = 60_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.workflowId} did not complete within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.handle.result(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  state(): Promise<DatabaseWorkflowView> {
    return this.handle.query(stateQuery);
  }

  /** Polls the state query until `check` holds; fails with the last state seen. */
  async until(
    check: (s: DatabaseWorkflowView) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<DatabaseWorkflowView> {
    const end = Date.now() + timeoutMs;
    let last: DatabaseWorkflowView | undefined;
    for (;;) {
      last = await this.state();
      if (check(last)) return last;
      if (Date.now() > end) {
        throw new Error(
          `${this.namespace}: not ${what} within ${timeoutMs} ms; state ${JSON.stringify(last)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ready at `generation` (default: the last one sent). */
  ready(generation = this.generation, timeoutMs?: number): Promise<DatabaseWorkflowView> {
    return this.until(
      (s) => s.phase === 'Ready' && s.observedGeneration === generation,
      `Ready at generation ${generation}`,
      timeoutMs,
    );
  }
}

/**
 * A Database applied and Ready at generation 1, with nothing left to do and its resync an hour
 * away: the start of a test that then signals it (a readiness notice, a switchover request).
 */
export async function readyAtRest(
  env: WorkflowTestEnv,
  name: string,
  spec: RawSpec,
): Promise<DatabaseUnderTest> {
  const db = new DatabaseUnderTest(env, name, spec, { resyncSeconds: 3600 });
  await db.apply();
  await db.ready(1);
  await db.idle();
  return db;
}

/** Names of the activities the Database's workflows called after the first `after` calls. */
export function callsSince(env: WorkflowTestEnv, db: DatabaseUnderTest, after: number): string[] {
  return env.fakes
    .in(db.namespace)
    .slice(after)
    .map((c) => c.name);
}
