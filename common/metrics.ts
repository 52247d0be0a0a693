import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DATABASE_PHASES, ENGINES } from '../crds';

/**
 * The operator's Prometheus metrics: every name, type, label and meaning is defined here, once.
 * The worker and the watcher each serve their own registry on `/metrics` (common/http-server.ts),
 * together with the default Node.js process metrics. Labels are bounded sets: no namespace, name
 * or uid ends up in a label (per-Database detail belongs in the status, Events and Temporal).
 */

export type Component = 'worker' | 'watcher';

export interface MetricDefinition {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  help: string;
  /** The process that registers and serves it. */
  component: Component | 'both';
}

export const METRICS = {
  buildInfo: {
    name: 'durable_build_info',
    type: 'gauge',
    labels: ['version'],
    help: 'Always 1, labelled with the operator version: shows that a worker or watcher is up and scraped.',
    component: 'both',
  },
  activityDuration: {
    name: 'durable_activity_duration_seconds',
    type: 'histogram',
    labels: ['activity', 'outcome'],
    help: 'Duration of one activity attempt on this worker, by activity type and outcome (success, failure, cancelled).',
    component: 'worker',
  },
  activityFailures: {
    name: 'durable_activity_failures_total',
    type: 'counter',
    labels: ['activity', 'type'],
    help: 'Failed activity attempts by activity type and failure type (e.g. Invalid, Forbidden, Unsatisfiable, Http409, Transient); retried attempts count too.',
    component: 'worker',
  },
  backupRuns: {
    name: 'durable_backup_runs_total',
    type: 'counter',
    labels: ['result'],
    help: 'Backup runs by result (succeeded, failed), counted by the backup activities when a run reaches its final phase.',
    component: 'worker',
  },
  databases: {
    name: 'durable_databases',
    type: 'gauge',
    labels: ['engine', 'phase'],
    help: "Databases by engine and status.phase, from the leading watcher's informer cache (a standby reports zeros).",
    component: 'watcher',
  },
  reconcileLatency: {
    name: 'durable_reconcile_latency_seconds',
    type: 'histogram',
    labels: ['engine', 'result'],
    help: 'Time from the watcher first seeing a new generation of a Database to seeing status.observedGeneration catch up with it, by result (Ready, Failed).',
    component: 'watcher',
  },
  workflowFailures: {
    name: 'durable_workflow_failures_total',
    type: 'counter',
    labels: ['engine', 'reason'],
    help: "Database reconciles that ended Failed (the workflow gave up on a generation), by the Ready condition's reason; counted by the watcher when a phase turns Failed.",
    component: 'watcher',
  },
  watcherEvents: {
    name: 'durable_watcher_events_total',
    type: 'counter',
    labels: ['resource', 'type'],
    help: "Events the watcher's informers delivered, by resource (databases, statefulsets, services, configmaps, secrets) and type (add, update, delete).",
    component: 'watcher',
  },
  watcherSignals: {
    name: 'durable_watcher_signals_total',
    type: 'counter',
    labels: ['kind', 'result'],
    help: 'Signal calls to Temporal by kind (spec: signalWithStart, drift, cancel-upgrade and switchover: signal) and result (sent, failed, cancelled, no-workflow).',
    component: 'watcher',
  },
  watcherSignalLatency: {
    name: 'durable_watcher_signal_latency_seconds',
    type: 'histogram',
    labels: ['kind'],
    help: 'Duration of one signal call to Temporal, by kind (spec, drift, cancel-upgrade, switchover), whatever its result.',
    component: 'watcher',
  },
  watcherLeader: {
    name: 'durable_watcher_leader',
    type: 'gauge',
    labels: [],
    help: '1 while this watcher leads (holds the Lease, or runs without leader election), else 0.',
    component: 'watcher',
  },
} as const satisfies Record<string, MetricDefinition>;

export const ACTIVITY_OUTCOMES = ['success', 'failure', 'cancelled'] as const;
export const BACKUP_RESULTS = ['succeeded', 'failed'] as const;
export const RECONCILE_RESULTS = ['Ready', 'Failed'] as const;
export const WATCHED_RESOURCES = ['databases', 'statefulsets', 'services', 'configmaps', 'secrets'] as const;

/** Activity attempts: 5 ms (a cached read) up to the readiness wait's 60 s budget and beyond. */
const ACTIVITY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Apply to Ready: seconds on simulated nodes, minutes for real pods pulling images. */
const RECONCILE_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** One gRPC call to the Temporal frontend. */
const SIGNAL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];

/** A label value from a bounded set: anything else becomes `fallback`. */
function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: string): string {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? value : fallback;
}

/** An identifier-like label value (a failure type or condition reason); anything else is `Other`. */
export function identifierLabel(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/.test(value) ? value : 'Other';
}

function newRegistry(component: Component, defaultMetrics: boolean): Registry {
  const registry = new Registry();
  // Every series says which process it comes from (the default process metrics included).
  registry.setDefaultLabels({ component });
  if (defaultMetrics) collectDefaultMetrics({ register: registry });
  const info = METRICS.buildInfo;
  new Gauge({ name: info.name, help: info.help, labelNames: info.labels, registers: [registry] }).set(
    { version: packageVersion() },
    1,
  );
  return registry;
}

/** The package's version, from the source tree or from dist/. */
export function packageVersion(): string {
  for (const file of ['../package.json', '../../package.json']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require(file) as { name?: string; version?: string };
      if (pkg.name === 'durable-db-operator' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return 'unknown';
}

type Labels<D extends MetricDefinition> = D['labels'][number];

function counter<D extends MetricDefinition>(registry: Registry, d: D): Counter<Labels<D>> {
  return new Counter({ name: d.name, help: d.help, labelNames: d.labels, registers: [registry] });
}

function histogram<D extends MetricDefinition>(
  registry: Registry,
  d: D,
  buckets: number[],
): Histogram<Labels<D>> {
  return new Histogram({ name: d.name, help: d.help, labelNames: d.labels, buckets, registers: [registry] });
}

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

/** The worker's metrics: activities (through an activity interceptor) and backups. */
export class WorkerMetrics {
  readonly registry: Registry;
  readonly activityDuration: Histogram<Labels<typeof METRICS.activityDuration>>;
  readonly activityFailures: Counter<Labels<typeof METRICS.activityFailures>>;
  /** For the backup activities: `backupRuns.inc({ result: 'succeeded' })`. */
  readonly backupRuns: Counter<Labels<typeof METRICS.backupRuns>>;

  constructor({ defaultMetrics = true }: MetricsOptions = {}) {
    this.registry = newRegistry('worker', defaultMetrics);
    this.activityDuration = histogram(this.registry, METRICS.activityDuration, ACTIVITY_BUCKETS);
    this.activityFailures = counter(this.registry, METRICS.activityFailures);
    this.backupRuns = counter(this.registry, METRICS.backupRuns);
    // Present at 0 from the start, so that rate() and alerts see the series before the first run.
    for (const result of BACKUP_RESULTS) this.backupRuns.inc({ result }, 0);
  }
}

/**
 * What the watcher reports to its metrics, in the shapes the metrics need. Declared here, not
 * imported from watcher/: common sits below the watcher, which passes a WatcherMetrics as its
 * observer (the types match structurally, checked where cmd/watcher.ts wires the two).
 */
export interface ObservedInformerEvent {
  /** The informer's name, `<resource>/<namespace or *>`. */
  informer: string;
  type: 'add' | 'update' | 'delete';
  object: unknown;
  old?: unknown;
}

/** What the watcher metrics read at scrape time. */
export interface WatcherMetricsSource {
  status(): { leader: boolean };
  /** The Databases in the informer cache (empty on a standby). */
  databases(): readonly DatabaseLike[];
}

/** The parts of a Database the metrics look at; nothing of it is trusted to be well-formed. */
export interface DatabaseLike {
  metadata?: { uid?: string; generation?: number; deletionTimestamp?: unknown };
  spec?: unknown;
  status?: unknown;
}

interface DatabaseStatusLike {
  phase?: unknown;
  observedGeneration?: unknown;
  conditions?: { type?: unknown; reason?: unknown }[];
}

interface PendingGeneration {
  generation: number;
  /** performance.now() when the watcher first saw this generation. */
  since: number;
}

/** Pending generations not caught up after this long are dropped (a Database deleted while away). */
const PENDING_MAX_AGE_MS = 24 * 3600_000;

/**
 * The watcher's metrics, fed by its observer hooks (informer events, signal calls) and, at scrape
 * time, by its status and its Database informer cache.
 */
export class WatcherMetrics {
  readonly registry: Registry;
  readonly databases: Gauge<Labels<typeof METRICS.databases>>;
  readonly reconcileLatency: Histogram<Labels<typeof METRICS.reconcileLatency>>;
  readonly workflowFailures: Counter<Labels<typeof METRICS.workflowFailures>>;
  readonly watcherEvents: Counter<Labels<typeof METRICS.watcherEvents>>;
  readonly watcherSignals: Counter<Labels<typeof METRICS.watcherSignals>>;
  readonly watcherSignalLatency: Histogram<Labels<typeof METRICS.watcherSignalLatency>>;
  readonly watcherLeader: Gauge<never>;
  private source?: WatcherMetricsSource;
  /** Per uid: the newest generation seen but not yet reconciled. */
  private readonly pending = new Map<string, PendingGeneration>();

  constructor({ defaultMetrics = true }: MetricsOptions = {}) {
    this.registry = newRegistry('watcher', defaultMetrics);
    const d = METRICS.databases;
    this.databases = new Gauge({
      name: d.name,
      help: d.help,
      labelNames: d.labels,
      registers: [this.registry],
      collect: () => this.collectDatabases(),
    });
    this.reconcileLatency = histogram(this.registry, METRICS.reconcileLatency, RECONCILE_BUCKETS);
    this.workflowFailures = counter(this.registry, METRICS.workflowFailures);
    this.watcherEvents = counter(this.registry, METRICS.watcherEvents);
    this.watcherSignals = counter(this.registry, METRICS.watcherSignals);
    this.watcherSignalLatency = histogram(this.registry, METRICS.watcherSignalLatency, SIGNAL_BUCKETS);
    const l = METRICS.watcherLeader;
    this.watcherLeader = new Gauge({
      name: l.name,
      help: l.help,
      registers: [this.registry],
      collect: () => this.watcherLeader.set(this.source?.status().leader ? 1 : 0),
    });
  }

  /** The watcher whose status and cache the gauges report. */
  attach(source: WatcherMetricsSource): void {
    this.source = source;
  }

  // ---- WatcherObserver ------------------------------------------------------------------------

  informerEvent(event: ObservedInformerEvent): void {
    const resource = event.informer.split('/')[0];
    this.watcherEvents.inc({ resource: oneOf(resource, WATCHED_RESOURCES, 'other'), type: event.type });
    if (resource === 'databases') {
      this.databaseEvent(event.type, event.object as DatabaseLike, event.old as DatabaseLike | undefined);
    }
  }

  signal(kind: 'spec' | 'drift' | 'cancel-upgrade' | 'switchover', result: string, seconds: number): void {
    this.watcherSignals.inc({ kind, result });
    this.watcherSignalLatency.observe({ kind }, seconds);
  }

  // ---------------------------------------------------------------------------------------------

  private databaseEvent(type: ObservedInformerEvent['type'], db: DatabaseLike, old?: DatabaseLike): void {
    const uid = db.metadata?.uid;
    if (!uid) return;
    const now = performance.now();
    if (type === 'delete' || db.metadata?.deletionTimestamp) {
      this.pending.delete(uid);
      return;
    }
    const generation = db.metadata?.generation ?? 0;
    const status = (db.status ?? {}) as DatabaseStatusLike;
    const observed = typeof status.observedGeneration === 'number' ? status.observedGeneration : 0;
    const engine = engineOf(db);

    // An add is a new Database or a (re)list after a restart: start measuring afresh from now.
    const known = this.pending.get(uid);
    if (observed < generation && (type === 'add' || !known || known.generation < generation)) {
      this.pending.set(uid, { generation, since: now });
    }
    const waiting = this.pending.get(uid);
    if (
      waiting &&
      observed >= waiting.generation &&
      (status.phase === 'Ready' || status.phase === 'Failed')
    ) {
      this.pending.delete(uid);
      this.reconcileLatency.observe({ engine, result: status.phase }, (now - waiting.since) / 1000);
    }

    // A phase that turns Failed: a generation the workflow gave up on. A Database found Failed by
    // an add (a restart's list) was counted before, or by another watcher.
    const oldPhase = ((old?.status ?? {}) as DatabaseStatusLike).phase;
    if (type === 'update' && status.phase === 'Failed' && oldPhase !== 'Failed') {
      const ready = (status.conditions ?? []).find((c) => c?.type === 'Ready');
      this.workflowFailures.inc({ engine, reason: identifierLabel(ready?.reason) });
    }

    for (const [key, entry] of this.pending) {
      if (now - entry.since > PENDING_MAX_AGE_MS) this.pending.delete(key);
    }
  }

  private collectDatabases(): void {
    this.databases.reset();
    // Every known combination is present (at 0), so dashboards and sums see no gaps.
    for (const engine of ENGINES)
      for (const phase of DATABASE_PHASES) this.databases.set({ engine, phase }, 0);
    for (const db of this.source?.databases() ?? []) {
      const status = (db.status ?? {}) as DatabaseStatusLike;
      const phase = status.phase === undefined ? 'Pending' : oneOf(status.phase, DATABASE_PHASES, 'Unknown');
      this.databases.inc({ engine: engineOf(db), phase });
    }
  }
}

function engineOf(db: DatabaseLike): string {
  return oneOf((db.spec as { engine?: unknown } | undefined)?.engine, ENGINES, 'unknown');
}

/**
 * Every metric name the operator's processes register (durable_* and the default process
 * metrics), for the static checks of the dashboard, the alert rules and the README.
 */
export function registeredMetrics(): { name: string; type: string; component: Component }[] {
  const out: { name: string; type: string; component: Component }[] = [];
  for (const [component, registry] of [
    ['worker', new WorkerMetrics().registry],
    ['watcher', new WatcherMetrics().registry],
  ] as const) {
    for (const m of registry.getMetricsAsArray()) {
      out.push({ name: m.name, type: String((m as unknown as { type: string }).type), component });
    }
  }
  return out;
}
