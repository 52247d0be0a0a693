/**
 * Cost benchmark: what this operator costs against a plain controller-runtime controller that
 * makes the same objects (tools/k8s/peer), both measured in one run on one stack. Prints a table
 * to compare run to run (and writes it as JSON with --json); asserts nothing about speed.
 *
 *   npm run bench -- [--count 10] [--at-once 50] [--scale-count 200] [--idle-seconds 600]
 *                    [--resync-seconds 120] [--engine postgres|mariadb] [--replicas 1] [--json FILE]
 *
 * Phases, each for the operator and then for the peer, in namespaces of their own (the operator
 * watches only its own, the peer reconciles only its own):
 *  1. `--count` Databases one at a time on the real nodes: apply → StatefulSet created, Ready −
 *     StatefulSet ready, API writes and Temporal actions to Ready;
 *  2. `--at-once` Databases applied at once on the real nodes: the same, and the time to all
 *     Ready against the time the pods themselves take (every StatefulSet ready);
 *  3. idle: the Ready Databases of 1 and 2 sit for `--idle-seconds`; Temporal actions and API
 *     writes in that window, extrapolated per Database-day and -hour. The operator runs with
 *     RESYNC_SECONDS = `--resync-seconds` (120 s), so that the window holds several periodic looks;
 *     the actions of one look, times the looks a day at the default interval (6 h), give the
 *     idle Database-day a user gets;
 *  4. `--scale-count` Databases at once whose members run on the simulated (kwok) nodes, for the
 *     control plane at scale, and the footprint with all of them.
 * Times are those at which this process sees the change through its own watches; API writes are
 * the audit log's (the operator and the peer both act as the operator's user), actions are
 * counted from the workflow histories (temporal-actions.ts). Worker and watcher run as child
 * processes as the image runs them (compiled into dist/, the image's node flags, a pre-built
 * workflow bundle, LOG_LEVEL info), whose CPU and RSS come from /proc, like the peer's.
 *
 * With DURABLE_STACK_FILE set, it uses that running stack; otherwise it starts one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { writeWorkflowBundle } from '../../cmd/bundle';
import { loadConfig } from '../../common/config';
import type { DatabaseSpecInput } from '../../crds';
import { Stack } from '../../tools/stack/stack';
import { SIMULATED_NODE_TAINT } from '../../tools/stack/kubernetes';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId } from '../../workflows/signals';
import { NODE_FLAGS } from '../../cmd/node-flags';
import { repoRoot } from '../../tools/stack/binaries';
import {
  createDatabase,
  installCrds,
  operatorConfig,
  sigkill,
  spawnOperatorProcess,
} from '../support/operator';
import {
  deleteNamespace,
  kubectlOk,
  stackInfo,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';
import {
  actionsOf,
  AuditLog,
  belongsTo,
  countWrites,
  databaseHistories,
  now,
  percentile,
  Recorder,
  sampleProcesses,
  timersOf,
  type AuditWrite,
  type ProcessSample,
  type Timeline,
} from './cost-measure';
import { renderTable, type CostReport, type Figure } from './cost-table';
import { startPeer } from './peer';
import { addActions, noActions, type ActionCounts } from './temporal-actions';

type Side = 'operator' | 'peer';
const SIDES: Side[] = ['operator', 'peer'];
type PhaseName = 'one' | 'many' | 'scale';

/** The Ready Event is written right after the status that says Ready, in the same step. */
const READY_EVENT_SLACK_MS = 1_000;
const MIB = 1024 * 1024;
/** The interval a user gets: the per-day figure at rest is extrapolated to it. */
const DEFAULT_RESYNC_SECONDS = loadConfig({}).RESYNC_SECONDS;

interface Options {
  count: number;
  atOnce: number;
  scaleCount: number;
  idleSeconds: number;
  resyncSeconds: number;
  engine: 'postgres' | 'mariadb';
  replicas: number;
  json?: string;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '10' },
      'at-once': { type: 'string', default: '50' },
      'scale-count': { type: 'string', default: '200' },
      'idle-seconds': { type: 'string', default: '600' },
      'resync-seconds': { type: 'string', default: '120' },
      engine: { type: 'string', default: 'postgres' },
      replicas: { type: 'string', default: '1' },
      json: { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, not ${v}`);
    return n;
  };
  return {
    count: int('count', values.count, 1),
    atOnce: int('at-once', values['at-once'], 1),
    scaleCount: int('scale-count', values['scale-count'], 1),
    idleSeconds: int('idle-seconds', values['idle-seconds'], 1),
    resyncSeconds: int('resync-seconds', values['resync-seconds'], 10),
    engine: values.engine === 'mariadb' ? 'mariadb' : 'postgres',
    replicas: int('replicas', values.replicas, 1),
    json: values.json,
  };
}

/** Names of a phase's Databases; fixed width, so that none is a prefix of another. */
const dbNames = (n: number) => Array.from({ length: n }, (_, i) => `db-${String(i + 1).padStart(3, '0')}`);

const log = (m: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

interface Controller {
  pids(): number[];
  stop(): Promise<void>;
}

/** Worker and watcher as their own processes, configured as a user would, for these namespaces. */
async function startOperatorProcesses(
  namespaces: string[],
  run: string,
  bundle: string,
  resyncSeconds: number,
): Promise<Controller> {
  const cfg = operatorConfig(namespaces.join(','), uniqueName('bench'), {
    LOG_LEVEL: 'info',
    HTTP_PORT: '0',
    WORKFLOW_BUNDLE_PATH: bundle,
    RESYNC_SECONDS: String(resyncSeconds),
  });
  const logs = path.join(stackInfo().dir, 'logs');
  const started: ChildProcess[] = [];
  for (const [entry, line] of [
    ['worker', 'worker ready'],
    ['watcher', 'watcher started'],
  ] as const) {
    const name = `bench-${run}-${entry}`;
    // Compiled, with the image's node flags: the footprint is the one a cluster sees.
    const child = spawnOperatorProcess(
      path.join(repoRoot, 'dist', 'cmd', `${entry}.js`),
      cfg,
      name,
      NODE_FLAGS,
    );
    started.push(child);
    await waitFor(
      `the operator's ${entry} to start`,
      async () => {
        if (child.exitCode !== null) return true; // reported below, without waiting for the timeout
        const file = path.join(logs, `${name}.log`);
        return fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(`"msg":"${line}"`);
      },
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}; see ${name}.log`);
  }
  return {
    pids: () => started.map((c) => c.pid!),
    stop: async () => {
      for (const c of started) await stopGracefully(c);
    },
  };
}

/** `npm run build`: dist/, what the image holds. */
function compileOperator(): Promise<void> {
  return new Promise((resolve, reject) => {
    const tsc = spawn(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    tsc.on('error', reject);
    tsc.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tsc -p tsconfig.build.json exited with ${code}`)),
    );
  });
}

async function stopGracefully(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => void sigkill(child), 15_000);
  await exited;
  clearTimeout(timer);
}

interface PhaseResult {
  names: string[];
  namespace: string;
  timelines: Timeline[];
  /** CPU seconds of the controller's processes during the phase. */
  cpuSeconds: number;
  /** The controller's processes at the end of the phase. */
  after: ProcessSample;
}

async function waitReady(
  recorder: Recorder,
  namespace: string,
  names: string[],
  timeoutMs: number,
): Promise<void> {
  const pending = () => names.filter((n) => recorder.timeline(namespace, n).ready === undefined);
  await waitFor(
    `${names.length} Database(s) Ready in ${namespace}`,
    async () => {
      const left = pending();
      return left.length === 0;
    },
    { timeoutMs, intervalMs: 20 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; not Ready: ${pending().slice(0, 10).join(', ')}`);
  });
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const given = process.env.DURABLE_STACK_FILE;
  const stack = given ? undefined : await Stack.start({ name: 'bench', log });
  if (stack) process.env.DURABLE_STACK_FILE = path.join(stack.info.dir, 'stack.json');
  const info = stackInfo();
  const run = Date.now().toString(36).slice(-5);
  const prefix = `bench-${run}-`;
  const ns = (side: Side, phase: PhaseName) => `${prefix}${side === 'operator' ? 'op' : 'peer'}-${phase}`;
  const phases: PhaseName[] = ['one', 'many', 'scale'];
  const namespacesOf = (side: Side) => phases.map((p) => ns(side, p));
  const connection = await temporalConnection();
  const client = temporalClient(connection);
  const recorder = new Recorder(prefix);
  const audit = AuditLog.open(info.kubernetes.auditLog);
  const controllers = new Map<Side, Controller>();
  let ownBundle: string | undefined;
  const started = new Date();
  try {
    // A signal (a test's timeout, Ctrl-C) ends the measuring; the cleanup below still runs.
    await Promise.race([
      interrupted(),
      (async () => {
        for (const side of SIDES)
          for (const n of namespacesOf(side)) await kubectlOk(['create', 'namespace', n]);
        await installCrds();
        await recorder.start();
        log('compiling the operator (npm run build), to run it as the image does');
        await compileOperator();
        let bundle = process.env.DURABLE_WORKFLOW_BUNDLE;
        if (!bundle) {
          ownBundle = path.join(info.dir, `bench-bundle-${run}.js`);
          log('bundling the workflows (as the container image does at build time)');
          bundle = (await writeWorkflowBundle(ownBundle)).path;
        }
        controllers.set(
          'operator',
          await startOperatorProcesses(namespacesOf('operator'), run, bundle, opts.resyncSeconds),
        );
        const peer = await startPeer(namespacesOf('peer'), `bench-${run}-peer`);
        controllers.set('peer', {
          pids: () => [peer.pid!],
          stop: () => stopGracefully(peer),
        });
        log(`operator and peer running; namespaces ${prefix}{op,peer}-{one,many,scale}`);

        // Small requests, so that both sides' pods fit on the real nodes' few cores at once.
        const realSpec: DatabaseSpecInput = {
          engine: opts.engine,
          version: opts.engine === 'mariadb' ? '11.8' : '15',
          replicas: opts.replicas,
          storage: { size: '1Gi' },
          resources: { requests: { cpu: '10m', memory: '64Mi' } },
        };
        const kwokSpec: DatabaseSpecInput = {
          ...realSpec,
          scheduling: {
            nodeSelector: { type: 'kwok' },
            tolerations: [{ ...SIMULATED_NODE_TAINT, operator: 'Equal' }],
          },
        };
        const sample = (side: Side) => sampleProcesses(controllers.get(side)!.pids());

        const results = new Map<string, PhaseResult>();
        const key = (side: Side, phase: PhaseName) => `${side}/${phase}`;
        const runPhase = async (
          side: Side,
          phase: PhaseName,
          count: number,
          spec: DatabaseSpecInput,
          together: boolean,
        ) => {
          const namespace = ns(side, phase);
          const names = dbNames(count);
          const before = sample(side);
          const readyTimeout = 300_000 + count * 10_000;
          const apply = async (name: string) => {
            recorder.timeline(namespace, name).applied = now();
            await createDatabase(namespace, name, spec);
          };
          if (together) {
            await Promise.all(names.map(apply));
            await waitReady(recorder, namespace, names, readyTimeout);
          } else {
            for (const name of names) {
              await apply(name);
              await waitReady(recorder, namespace, [name], readyTimeout);
            }
          }
          const after = sample(side);
          results.set(key(side, phase), {
            names,
            namespace,
            timelines: names.map((n) => recorder.timeline(namespace, n)),
            cpuSeconds: after.cpuSeconds - before.cpuSeconds,
            after,
          });
          log(`${side}: ${count} Database(s) ${together ? 'at once' : 'one at a time'} (${phase}) Ready`);
        };

        for (const side of SIDES) await runPhase(side, 'one', opts.count, realSpec, false);
        for (const side of SIDES) await runPhase(side, 'many', opts.atOnce, realSpec, true);

        log(`idle for ${opts.idleSeconds} s with ${opts.count + opts.atOnce} Ready Databases a side`);
        const idleBefore = new Map(SIDES.map((s) => [s, sample(s)]));
        const idleFrom = now();
        await new Promise((r) => setTimeout(r, opts.idleSeconds * 1000));
        const idleTo = now();
        const idleAfter = new Map(SIDES.map((s) => [s, sample(s)]));

        for (const side of SIDES) await runPhase(side, 'scale', opts.scaleCount, kwokSpec, true);

        await new Promise((r) => setTimeout(r, 2_000 + READY_EVENT_SLACK_MS)); // the audit backend flushes
        const writes = audit.writes(prefix);
        const histories = new Map<string, Awaited<ReturnType<typeof databaseHistories>>>();
        for (const phase of phases) {
          const r = results.get(key('operator', phase))!;
          for (const name of r.names)
            histories.set(`${r.namespace}/${name}`, await databaseHistories(client, r.namespace, name));
        }

        const report = buildReport({
          opts,
          info: { realNodes: info.realNodes.length, kwokNodes: info.kubernetes.nodes },
          started,
          results: (side, phase) => results.get(key(side, phase))!,
          writes,
          histories: (namespace, name) => histories.get(`${namespace}/${name}`)!,
          idle: { fromMs: idleFrom, toMs: idleTo, before: idleBefore, after: idleAfter },
        });
        process.stdout.write(renderTable(report));
        if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 2));
      })(),
    ]);
  } finally {
    recorder.stop();
    for (const c of controllers.values()) await c.stop().catch(() => undefined);
    await terminateWorkflows(client, namespacesOf('operator')).catch(() => undefined);
    await connection.close();
    for (const side of SIDES)
      for (const n of namespacesOf(side)) await deleteNamespace(n).catch(() => undefined);
    if (ownBundle) fs.rmSync(ownBundle, { force: true });
    await stack?.stop();
  }
}

/** Rejects on SIGTERM or SIGINT, so that the run stops measuring and cleans up before it exits. */
function interrupted(): Promise<never> {
  return new Promise((_, reject) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => reject(new Error(`interrupted by ${signal}`)));
    }
  });
}

/** The Database workflows of the run would otherwise wait on a task queue nobody polls any more. */
async function terminateWorkflows(client: Client, namespaces: string[]): Promise<void> {
  for (const namespace of namespaces) {
    const out = await kubectlOk(['get', 'databases.durable.dev', '-n', namespace, '-o', 'name']).catch(
      () => '',
    );
    for (const line of out.split('\n').filter(Boolean)) {
      const name = line.split('/').pop()!;
      await client.workflow
        .getHandle(databaseWorkflowId(namespace, name))
        .terminate('benchmark finished')
        .catch(() => undefined);
    }
  }
}

interface ReportInput {
  opts: Options;
  info: { realNodes: number; kwokNodes: number };
  started: Date;
  results: (side: Side, phase: PhaseName) => PhaseResult;
  writes: AuditWrite[];
  histories: (namespace: string, name: string) => Awaited<ReturnType<typeof databaseHistories>>;
  idle: {
    fromMs: number;
    toMs: number;
    before: Map<Side, ProcessSample>;
    after: Map<Side, ProcessSample>;
  };
}

function buildReport(input: ReportInput): CostReport {
  const { opts, results, writes, histories, idle } = input;
  const p50 = (xs: number[]) => percentile(xs, 50);
  const p95 = (xs: number[]) => percentile(xs, 95);
  const created = (r: PhaseResult) => r.timelines.map((t) => t.stsCreated! - t.applied!);
  const overhead = (r: PhaseResult) => r.timelines.map((t) => t.ready! - t.stsReady!);
  const toReady = (r: PhaseResult) => r.timelines.map((t) => t.ready! - t.applied!);
  const firstApply = (r: PhaseResult) => Math.min(...r.timelines.map((t) => t.applied!));
  const allReady = (r: PhaseResult) => Math.max(...r.timelines.map((t) => t.ready!)) - firstApply(r);
  const allStsReady = (r: PhaseResult) => Math.max(...r.timelines.map((t) => t.stsReady!)) - firstApply(r);
  const writesToReady = (r: PhaseResult) =>
    r.names.map((name, i) =>
      countWrites(
        writes,
        (w) =>
          w.namespace === r.namespace &&
          belongsTo(w.name, name) &&
          w.at <= r.timelines[i]!.ready! + READY_EVENT_SLACK_MS,
      ),
    );
  const actionsToReady = (r: PhaseResult) =>
    r.names.map((name, i) => actionsOf(histories(r.namespace, name), { toMs: r.timelines[i]!.ready! }));
  const both = (
    label: string,
    unit: Figure['unit'],
    f: (side: Side) => number,
    positive: Figure['positive'] = 'both',
  ): Figure => ({ label, unit, operator: f('operator'), peer: f('peer'), positive });
  const opOnly = (
    label: string,
    unit: Figure['unit'],
    value: number,
    positive: Figure['positive'],
  ): Figure => ({
    label,
    unit,
    operator: value,
    positive,
  });

  const one = (s: Side) => results(s, 'one');
  const many = (s: Side) => results(s, 'many');
  const scale = (s: Side) => results(s, 'scale');
  const N = opts.atOnce;
  const S = opts.scaleCount;

  // At rest: the Databases of phases one and many, over the idle window.
  const idleDbs = (s: Side) => [one(s), many(s)].flatMap((r) => r.names.map((name) => ({ r, name })));
  const idleHours = (idle.toMs - idle.fromMs) / 3_600_000;
  const idleWrites = (s: Side) =>
    countWrites(
      writes,
      (w) =>
        (w.namespace === one(s).namespace || w.namespace === many(s).namespace) &&
        w.at >= idle.fromMs &&
        w.at < idle.toMs,
    ).all;
  const idleActions = idleDbs('operator')
    .map(({ r, name }) => actionsOf(histories(r.namespace, name), idle))
    .reduce(addActions, noActions());
  const idleDbCount = opts.count + N;
  // Every periodic look starts with its timer: the actions of the window per look, whatever else
  // (a readiness notice, a signal) fell into it.
  const looks = idleActions.timers;
  const looksPerDayByDefault = 86_400 / DEFAULT_RESYNC_SECONDS;
  const timers = [
    ...new Set(
      idleDbs('operator').flatMap(({ r, name }) =>
        timersOf(histories(r.namespace, name)).map((ms) => ms / 1000),
      ),
    ),
  ].sort((a, b) => a - b);

  const oneActions = actionsToReady(one('operator'));
  const oneWrites = (s: Side) => writesToReady(one(s));
  const scaleWrites = (s: Side) => writesToReady(scale(s));

  const figures: Figure[] = [
    both(`apply → StatefulSet created, p50 (${opts.count} one at a time)`, 'ms', (s) => p50(created(one(s)))),
    both('Ready − StatefulSet ready, p50 (one at a time)', 'ms', (s) => p50(overhead(one(s)))),
    both('Ready − StatefulSet ready, p95 (one at a time)', 'ms', (s) => p95(overhead(one(s)))),
    both('apply → Ready, p50 (one at a time)', 'ms', (s) => p50(toReady(one(s)))),
    both(`${N} at once: apply → StatefulSet created, p50`, 'ms', (s) => p50(created(many(s)))),
    both(`${N} at once: Ready − StatefulSet ready, p95`, 'ms', (s) => p95(overhead(many(s)))),
    both(`${N} at once: apply → every StatefulSet ready (the pods)`, 'ms', (s) => allStsReady(many(s))),
    both(`${N} at once: apply → every Database Ready`, 'ms', (s) => allReady(many(s))),
    both(
      `${N} at once: all Ready ÷ all StatefulSets ready`,
      'x',
      (s) => allReady(many(s)) / allStsReady(many(s)),
    ),
    both('API writes per Database to Ready, p50', 'count', (s) => p50(oneWrites(s).map((w) => w.all))),
    both('API writes per Database to Ready without Events, p50', 'count', (s) =>
      p50(oneWrites(s).map((w) => w.withoutEvents)),
    ),
    opOnly(
      'Temporal actions per Database to Ready, p50',
      'count',
      p50(oneActions.map((a) => a.total)),
      'operator',
    ),
    opOnly(
      `Temporal actions per idle Database-day (measured, resync ${opts.resyncSeconds} s)`,
      'count',
      idleActions.total / idleDbCount / (idleHours / 24),
      'none',
    ),
    opOnly(
      'Temporal actions per periodic look at rest',
      'count',
      looks ? idleActions.total / looks : NaN,
      'none',
    ),
    opOnly(
      `Temporal actions per idle Database-day (default resync, ${DEFAULT_RESYNC_SECONDS / 3600} h)`,
      'count',
      looks ? (idleActions.total / looks) * looksPerDayByDefault : NaN,
      'none',
    ),
    both(
      'API writes at rest per Database-hour',
      'count',
      (s) => idleWrites(s) / idleDbCount / idleHours,
      'none',
    ),
    both(
      'CPU at rest per Database-hour',
      's',
      (s) => (idle.after.get(s)!.cpuSeconds - idle.before.get(s)!.cpuSeconds) / idleDbCount / idleHours,
      'operator',
    ),
    both(
      `CPU to provision ${opts.count + N} Databases (phases one + at once)`,
      's',
      (s) => one(s).cpuSeconds + many(s).cpuSeconds,
      'operator',
    ),
    both(
      `RSS with ${idleDbCount} Databases (operator: worker + watcher)`,
      'MiB',
      (s) => idle.after.get(s)!.rssBytes / MIB,
    ),
    both(`${S} at once on kwok: apply → StatefulSet created, p50`, 'ms', (s) => p50(created(scale(s)))),
    both(`${S} at once on kwok: Ready − StatefulSet ready, p95`, 'ms', (s) => p95(overhead(scale(s)))),
    both(`${S} at once on kwok: apply → every StatefulSet ready`, 'ms', (s) => allStsReady(scale(s))),
    both(`${S} at once on kwok: apply → every Database Ready`, 'ms', (s) => allReady(scale(s))),
    both(`${S} at once on kwok: API writes per Database to Ready, p50`, 'count', (s) =>
      p50(scaleWrites(s).map((w) => w.all)),
    ),
    opOnly(
      `${S} at once on kwok: Temporal actions per Database to Ready, p50`,
      'count',
      p50(actionsToReady(scale('operator')).map((a) => a.total)),
      'operator',
    ),
    both(`${S} at once on kwok: CPU`, 's', (s) => scale(s).cpuSeconds, 'operator'),
    both(`RSS with ${idleDbCount + S} Databases`, 'MiB', (s) => scale(s).after.rssBytes / MIB),
    both(`peak RSS over the run`, 'MiB', (s) => scale(s).after.peakRssBytes / MIB),
  ];

  const breakdown = (a: ActionCounts) =>
    Object.entries(a)
      .filter(([k, v]) => k !== 'total' && v > 0)
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
      .join(', ');
  const meanActions = oneActions.reduce(addActions, noActions());
  for (const k of Object.keys(meanActions) as (keyof ActionCounts)[]) meanActions[k] /= oneActions.length;
  return {
    setup: {
      started: input.started.toISOString(),
      engine: opts.engine,
      replicas: opts.replicas,
      'one at a time': opts.count,
      'at once': N,
      'on kwok': S,
      'idle window': `${opts.idleSeconds} s`,
      'resync (operator)': `${opts.resyncSeconds} s`,
      nodes: `${input.info.realNodes} real + ${input.info.kwokNodes} kwok`,
    },
    figures,
    notes: [
      `Temporal actions to Ready, mean per Database (one at a time): ${breakdown(meanActions)}.`,
      `Temporal actions in the idle window (${idleDbCount} Databases, ${opts.idleSeconds} s): ${breakdown(idleActions) || 'none'}; timers seen: ${timers.map((t) => `${t} s`).join(', ') || 'none'} ; ${looks} periodic looks in the window.`,
      `API writes in the idle window: operator ${idleWrites('operator')}, peer ${idleWrites('peer')}.`,
      'Times: seen by the bench through its own watches; writes: the API audit log (the Ready Event, written just after the Ready status, included); CPU and RSS: /proc of the worker + watcher processes (pre-built bundle, LOG_LEVEL info, leader election off) and of the peer.',
    ],
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
