/**
 * What the cost benchmark (cost.ts) measures with: one clock for every time (wall-clock
 * milliseconds, fractional, so that they compare with the audit log's and Temporal's), watches
 * that note when each StatefulSet appears and turns ready and when each Database turns Ready, the
 * API server's audit log of the operator's user, workflow histories, and /proc for CPU and memory.
 */
import fs from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { GROUP, VERSION, DATABASE } from '../../crds';
import { databaseWorkflowId } from '../../workflows/signals';
import { kubeConfig } from '../support/stack';
import { addActions, countActions, noActions, timerDurationsMs, type ActionCounts } from './temporal-actions';

/** Wall-clock milliseconds with sub-millisecond resolution. */
export const now = (): number => performance.timeOrigin + performance.now();

export interface Timeline {
  applied?: number;
  stsCreated?: number;
  stsReady?: number;
  ready?: number;
}

interface Watched {
  metadata?: { namespace?: string; name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; observedGeneration?: number; phase?: string };
}

/**
 * Watches StatefulSets and Databases of every namespace whose name starts with `prefix` and keeps,
 * per `<namespace>/<name>`, when this process first saw the StatefulSet, saw it ready (every
 * replica ready at its current generation), and saw the Database's phase Ready.
 */
export class Recorder {
  readonly timelines = new Map<string, Timeline>();
  private readonly aborts: AbortController[] = [];
  private stopped = false;

  constructor(private readonly prefix: string) {}

  timeline(namespace: string, name: string): Timeline {
    const key = `${namespace}/${name}`;
    let t = this.timelines.get(key);
    if (!t) this.timelines.set(key, (t = {}));
    return t;
  }

  async start(): Promise<void> {
    await Promise.all([
      this.watch('/apis/apps/v1/statefulsets', (o, t) => {
        t.stsCreated ??= now();
        const s = o.status;
        const ready =
          (s?.observedGeneration ?? 0) >= (o.metadata?.generation ?? 1) &&
          (s?.readyReplicas ?? 0) >= (o.spec?.replicas ?? 1);
        if (ready) t.stsReady ??= now();
      }),
      this.watch(`/apis/${GROUP}/${VERSION}/${DATABASE.plural}`, (o, t) => {
        if (o.status?.phase === 'Ready') t.ready ??= now();
      }),
    ]);
  }

  /** Resolves once the watch is established; restarts it where it ended until stop(). */
  private async watch(path: string, onObject: (o: Watched, t: Timeline) => void): Promise<void> {
    const watch = new k8s.Watch(kubeConfig());
    let resourceVersion: string | undefined;
    const begin = async (): Promise<void> => {
      const abort = await watch.watch(
        path,
        { allowWatchBookmarks: true, ...(resourceVersion && { resourceVersion }) },
        (type: string, o: Watched & { metadata?: { resourceVersion?: string } }) => {
          resourceVersion = o.metadata?.resourceVersion ?? resourceVersion;
          const ns = o.metadata?.namespace;
          if (type === 'BOOKMARK' || type === 'DELETED' || !ns?.startsWith(this.prefix)) return;
          onObject(o, this.timeline(ns, o.metadata!.name!));
        },
        () => {
          if (this.stopped) return;
          // A watch ends now and then (server timeout); an expired resourceVersion means a gap:
          // start from now rather than fail, the times already noted stay.
          setTimeout(() => {
            begin().catch(() => {
              resourceVersion = undefined;
              void begin().catch(() => undefined);
            });
          }, 100);
        },
      );
      this.aborts.push(abort);
    };
    await begin();
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }
}

// ---- the API server's audit log --------------------------------------------------------------------

export interface AuditWrite {
  /** stageTimestamp, wall-clock ms. */
  at: number;
  verb: string;
  resource: string;
  namespace: string;
  name: string;
}

/**
 * The audit log of the stack records each completed write of the operator's user (the operator
 * and the peer both act as it); dry-run requests, which store nothing, are not counted. Reads only what was appended since `open()`, the log being
 * shared with everything else that runs on the stack.
 */
export class AuditLog {
  private constructor(
    private readonly file: string,
    private readonly offset: number,
  ) {}

  static open(file: string): AuditLog {
    return new AuditLog(file, fs.existsSync(file) ? fs.statSync(file).size : 0);
  }

  /** Writes in namespaces starting with `prefix`, since open(). */
  writes(prefix: string): AuditWrite[] {
    const size = fs.statSync(this.file).size;
    // Rotated since (--audit-log-maxsize): the new file holds only what came after.
    const from = size >= this.offset ? this.offset : 0;
    const fd = fs.openSync(this.file, 'r');
    const buf = Buffer.alloc(size - from);
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    const out: AuditWrite[] = [];
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.includes(`"namespace":"${prefix}`)) continue;
      const e = JSON.parse(line) as {
        stage: string;
        verb: string;
        requestURI?: string;
        stageTimestamp: string;
        objectRef?: { resource?: string; namespace?: string; name?: string };
      };
      const ns = e.objectRef?.namespace;
      if (e.stage !== 'ResponseComplete' || !ns?.startsWith(prefix)) continue;
      // A dry run (the operator's look at a Database at rest) stores nothing: not a write.
      if (/[?&]dryRun=All(&|$)/.test(e.requestURI ?? '')) continue;
      out.push({
        at: Date.parse(e.stageTimestamp) + microseconds(e.stageTimestamp),
        verb: e.verb,
        resource: e.objectRef?.resource ?? '',
        namespace: ns,
        name: e.objectRef?.name ?? '',
      });
    }
    return out;
  }
}

/** The sub-millisecond part of an RFC 3339 time with microseconds (Date.parse drops it). */
function microseconds(ts: string): number {
  const m = /\.\d{3}(\d+)Z$/.exec(ts);
  return m ? Number(`0.${m[1]}`) : 0;
}

/**
 * Whether an object named `object` belongs to the Database `db`: the Database itself, what is
 * named after it (`<db>-config`, `<db>-0`, `data-<db>-0`) and its Events (`<db>.<suffix>`).
 * Database names of a run never prefix one another (db-001, db-002, …).
 */
export function belongsTo(object: string, db: string): boolean {
  return (
    object === db ||
    object.startsWith(`${db}-`) ||
    object.startsWith(`${db}.`) ||
    object.startsWith(`data-${db}-`)
  );
}

export interface WriteCount {
  all: number;
  withoutEvents: number;
}

export function countWrites(writes: readonly AuditWrite[], pick: (w: AuditWrite) => boolean): WriteCount {
  const picked = writes.filter(pick);
  return { all: picked.length, withoutEvents: picked.filter((w) => w.resource !== 'events').length };
}

// ---- workflow histories ----------------------------------------------------------------------------

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** Every run of a Database's workflow, newest first (following continue-as-new back). */
export async function databaseHistories(
  client: Client,
  namespace: string,
  name: string,
): Promise<HistoryEvent[][]> {
  const id = databaseWorkflowId(namespace, name);
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(id, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) return runs;
  }
}

export function actionsOf(runs: HistoryEvent[][], window?: { fromMs?: number; toMs?: number }): ActionCounts {
  return runs.reduce((sum, events) => addActions(sum, countActions(events, window)), noActions());
}

export function timersOf(runs: HistoryEvent[][]): number[] {
  return runs.flatMap(timerDurationsMs);
}

// ---- processes ------------------------------------------------------------------------------------

export interface ProcessSample {
  cpuSeconds: number;
  rssBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRssBytes: number;
}

/** user + system CPU time is in clock ticks: 100 a second on Linux (USER_HZ). */
const TICKS_PER_SECOND = 100;

export function sampleProcess(pid: number): ProcessSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/** Summed over processes (worker + watcher). */
export function sampleProcesses(pids: readonly number[]): ProcessSample {
  return pids.map(sampleProcess).reduce(
    (a, b) => ({
      cpuSeconds: a.cpuSeconds + b.cpuSeconds,
      rssBytes: a.rssBytes + b.rssBytes,
      peakRssBytes: a.peakRssBytes + b.peakRssBytes,
    }),
    { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0 },
  );
}

// ---- statistics -----------------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of the finite values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  return xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))]!;
}
