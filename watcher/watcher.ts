import type * as k8s from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import type { OperatorConfig } from '../common/config';
import type { Logger } from '../common/logger';
import type { AnnotationRequestSignaler } from './annotation-requests';
import { cancelUpgradeSignaler } from './cancel-upgrade';
import { switchoverSignaler } from './switchover-request';
import { BackupStarter, createBackupInformer } from './backup-informer';
import { createDatabaseInformer } from './database-informer';
import { createDriftInformers, DriftSignaler } from './drift';
import { DEFAULT_LEASE_NAME, defaultIdentity, LeaderElector, type LeaseSettings } from './leader-election';
import type { InformerEvent, ResilientInformer } from './resilient-informer';
import { SpecSignaler, type DatabaseObject, type SignalResult } from './signaler';
import type { BackoffOptions } from './timing';
import type { WorkflowLimits } from '../workflows/signals';

/**
 * The watcher: turns Kubernetes changes into Temporal signals (DESIGN.md, data flow). Only the
 * leader runs the informers: without leader election they start with `start()`; with it, when
 * the Lease is won, and they stop when it is lost.
 */

export interface LeaderElectionConfig extends LeaseSettings {
  enabled: boolean;
}

export interface WatcherOptions {
  kubeConfig: k8s.KubeConfig;
  temporalClient: Client;
  /** Task queue the Database workflows are started on. */
  taskQueue: string;
  /** Namespaces to watch; empty: all namespaces. */
  namespaces: string[];
  leaderElection: LeaderElectionConfig;
  logger: Logger;
  /** Re-list when no event or bookmark arrived for this long. Default 5 min. */
  watchdogMs?: number;
  /** Quiet time per owned object before its drift signal. Default 1 s. */
  driftDebounceMs?: number;
  /** Deadline of one signal call to Temporal. Default 20 s. */
  signalTimeoutMs?: number;
  /** Backoff of informer restarts and signal retries. Default 0.5 s doubling to 30 s. */
  backoff?: BackoffOptions;
  /** Called when this process loses the Lease it held (the caller may exit). */
  onLeadershipLost?: () => void;
  /** Metrics hooks (common/metrics.ts). */
  observer?: WatcherObserver;
  /** Given to each Database workflow it starts. */
  workflowLimits?: WorkflowLimits;
}

export type { SignalResult };

/** spec: signalWithStart of a generation; drift: an owned object changed; cancel-upgrade, switchover: annotations. */
export type SignalKind = 'spec' | 'drift' | 'cancel-upgrade' | 'switchover';

/** Hooks for metrics; each optional. A throw is logged and ignored. */
export interface WatcherObserver {
  /** An informer delivered an add, update or delete to its handlers. */
  informerEvent?(event: InformerEvent): void;
  /** One signal call to Temporal ended after `seconds`. */
  signal?(kind: SignalKind, result: SignalResult, seconds: number): void;
}

export interface WatcherStatus {
  /** Started and not stopped: leading or standing by. */
  started: boolean;
  /** Holds the Lease (always true without leader election while started). */
  leader: boolean;
  /** Every informer is running and has listed (false while one restarts). */
  informersRunning: boolean;
  /** Last event or bookmark from any informer. */
  lastEventAt?: Date;
}

/** What the watcher needs of an informer, whatever it caches. */
type RunningInformer = Pick<ResilientInformer<k8s.KubernetesObject>, 'start' | 'stop' | 'running'>;

export class Watcher {
  private readonly log: Logger;
  private readonly specSignaler: SpecSignaler;
  private readonly driftSignaler: DriftSignaler;
  /** The annotation requests: cancel-upgrade and switchover. */
  private readonly requestSignalers: AnnotationRequestSignaler[];
  private backupStarter?: BackupStarter;
  private readonly elector?: LeaderElector;
  private informers: RunningInformer[] = [];
  private databaseInformers: ResilientInformer<DatabaseObject>[] = [];
  private started = false;
  private informersStarted = false;
  private lastEventAt?: Date;
  /** Serialises starting and stopping the informers (leadership may flap). */
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly opts: WatcherOptions) {
    this.log = opts.logger;
    const signalHook = (kind: SignalKind) => (result: SignalResult, seconds: number) =>
      this.safely('observer.signal', () => opts.observer?.signal?.(kind, result, seconds));
    this.specSignaler = new SpecSignaler({
      client: opts.temporalClient,
      taskQueue: opts.taskQueue,
      logger: this.log,
      backoff: opts.backoff,
      requestTimeoutMs: opts.signalTimeoutMs,
      workflowLimits: opts.workflowLimits,
      onSignal: signalHook('spec'),
    });
    this.driftSignaler = new DriftSignaler({
      client: opts.temporalClient,
      logger: this.log,
      debounceMs: opts.driftDebounceMs,
      backoff: opts.backoff,
      requestTimeoutMs: opts.signalTimeoutMs,
      onSignal: signalHook('drift'),
    });
    const requestOptions = (kind: SignalKind) => ({
      client: opts.temporalClient,
      logger: this.log,
      backoff: opts.backoff,
      requestTimeoutMs: opts.signalTimeoutMs,
      onSignal: signalHook(kind),
    });
    this.requestSignalers = [
      cancelUpgradeSignaler(requestOptions('cancel-upgrade')),
      switchoverSignaler(requestOptions('switchover')),
    ];
    const le = opts.leaderElection;
    if (le.enabled) {
      this.elector = new LeaderElector({
        ...le,
        kubeConfig: opts.kubeConfig,
        logger: this.log,
        onStartedLeading: () => void this.enqueue(() => this.startInformers()),
        onStoppedLeading: () => {
          const stopped = this.enqueue(() => this.stopInformers());
          if (this.started) this.safely('onLeadershipLost', () => this.opts.onLeadershipLost?.());
          return stopped;
        },
      });
    }
  }

  /** Starts campaigning for the Lease, or the informers right away without leader election. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const scope = this.opts.namespaces.length ? this.opts.namespaces : ['(all namespaces)'];
    const le = this.opts.leaderElection;
    this.log.info(
      {
        namespaces: scope,
        taskQueue: this.opts.taskQueue,
        leaderElection: le.enabled
          ? { lease: `${le.namespace}/${le.leaseName ?? DEFAULT_LEASE_NAME}`, identity: le.identity }
          : false,
      },
      'watcher starting',
    );
    if (this.elector) this.elector.start();
    else await this.enqueue(() => this.startInformers());
  }

  /** Stops the informers, drops pending signals, and releases the Lease. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // With leader election this steps down (stopping the informers), then releases the Lease.
    if (this.elector) await this.elector.stop();
    await this.enqueue(() => this.stopInformers());
    this.log.info('watcher stopped');
  }

  status(): WatcherStatus {
    return {
      started: this.started,
      leader: this.elector ? this.elector.isLeader : this.started,
      informersRunning: this.informersStarted && this.informers.every((i) => i.running),
      lastEventAt: this.lastEventAt,
    };
  }

  /** The Databases in the informers' cache: all watched ones while leading, none otherwise. */
  databases(): DatabaseObject[] {
    return this.databaseInformers.flatMap((i) => i.list());
  }

  /** Runs `step` after every earlier transition; the returned promise never rejects. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step).catch((err: unknown) => {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'watcher transition failed');
    });
    return this.transition;
  }

  private async startInformers(): Promise<void> {
    if (this.informersStarted || !this.started) return;
    if (this.elector && !this.elector.isLeader) return;
    const { kubeConfig, watchdogMs, backoff } = this.opts;
    const onActivity = () => {
      this.lastEventAt = new Date();
    };
    const { observer } = this.opts;
    const onEvent = observer?.informerEvent && ((e: InformerEvent) => observer.informerEvent!(e));
    const common = { kubeConfig, logger: this.log, watchdogMs, backoff, onActivity, onEvent };
    const scopes: (string | undefined)[] = this.opts.namespaces.length ? this.opts.namespaces : [undefined];
    this.specSignaler.start();
    this.driftSignaler.start();
    for (const r of this.requestSignalers) r.start();
    this.databaseInformers = scopes.map((namespace) =>
      createDatabaseInformer({
        ...common,
        namespace,
        signaler: this.specSignaler,
        requests: this.requestSignalers,
      }),
    );
    // A fresh starter per leadership term: what it remembers is only an optimisation.
    const starter = new BackupStarter({
      client: this.opts.temporalClient,
      taskQueue: this.opts.taskQueue,
      logger: this.log,
      backoff,
      requestTimeoutMs: this.opts.signalTimeoutMs,
    });
    this.backupStarter = starter;
    this.informers = [
      ...this.databaseInformers,
      ...scopes.map((namespace) => createBackupInformer({ ...common, namespace, starter })),
      ...scopes.flatMap((namespace) =>
        createDriftInformers({ ...common, namespace, signaler: this.driftSignaler }),
      ),
    ];
    for (const informer of this.informers) informer.start();
    this.informersStarted = true;
    this.log.info({ informers: this.informers.length }, 'informers started');
  }

  private async stopInformers(): Promise<void> {
    if (!this.informersStarted) return;
    this.informersStarted = false;
    const informers = this.informers;
    this.informers = [];
    this.databaseInformers = [];
    await Promise.all(informers.map((i) => i.stop()));
    const starter = this.backupStarter;
    this.backupStarter = undefined;
    await Promise.all([
      this.specSignaler.stop(),
      this.driftSignaler.stop(),
      ...this.requestSignalers.map((r) => r.stop()),
      starter?.stop(),
    ]);
    this.log.info('informers stopped');
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error(
        { err: err instanceof Error ? err.message : String(err), callback: what },
        'callback threw',
      );
    }
  }
}

/** Watcher options from the operator configuration (cmd/ supplies the clients and the logger). */
export function watcherOptionsFromConfig(
  cfg: OperatorConfig,
  deps: Pick<WatcherOptions, 'kubeConfig' | 'temporalClient' | 'logger'> & Partial<WatcherOptions>,
): WatcherOptions {
  return {
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    namespaces: cfg.WATCH_NAMESPACES,
    leaderElection: {
      enabled: cfg.LEADER_ELECTION_ENABLED,
      namespace: cfg.LEADER_ELECTION_NAMESPACE,
      identity: defaultIdentity(cfg.POD_NAME),
    },
    workflowLimits: {
      historyEvents: cfg.DATABASE_HISTORY_LIMIT,
      readyWaitSeconds: cfg.READY_WAIT_SECONDS,
      resyncSeconds: cfg.RESYNC_SECONDS,
    },
    ...deps,
  };
}
