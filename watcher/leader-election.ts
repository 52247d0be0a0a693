import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../common/logger';
import { describeError, httpStatus, withTimeout } from './timing';

/**
 * Leader election with a coordination.k8s.io/v1 Lease, in the manner of client-go:
 *
 * - a candidate takes the Lease when nobody holds it, or when the holder has not renewed it
 *   for `leaseDurationSeconds`, measured on this process's monotonic clock from the moment it
 *   last saw the Lease change (so clock skew between hosts does not matter);
 * - the leader renews every `renewIntervalMs` (default a third of the lease duration); every
 *   write carries the resourceVersion it read, so of two racing candidates one gets a 409;
 * - a leader that could not renew for `renewDeadlineMs` (default two thirds of the duration),
 *   or that finds another holder in the Lease, steps down at once: before anyone else may take
 *   over, so two leaders never overlap as long as clocks run at the same rate;
 * - on a clean stop the leader releases the Lease (empties holderIdentity), so a standby takes
 *   over at its next retry instead of after the lease duration.
 */

export const DEFAULT_LEASE_NAME = 'durable-db-operator-watcher';
export const DEFAULT_LEASE_DURATION_SECONDS = 15;

/** `POD_NAME` when set (unique per pod), else `<hostname>-<pid>`. */
export function defaultIdentity(podName?: string): string {
  return podName && podName.trim() !== '' ? podName.trim() : `${os.hostname()}-${process.pid}`;
}

/** Which Lease, who competes for it, and the timings (the watcher's configuration shares these). */
export interface LeaseSettings {
  /** Namespace of the Lease. */
  namespace: string;
  /** Default `durable-db-operator-watcher`. */
  leaseName?: string;
  /** Unique per process: POD_NAME, or `defaultIdentity()`. */
  identity: string;
  /** Default 15. */
  leaseDurationSeconds?: number;
  /** How often the leader renews. Default leaseDuration / 3. */
  renewIntervalMs?: number;
  /** How often a standby tries to acquire. Default leaseDuration / 3. */
  retryIntervalMs?: number;
  /** A leader that could not renew for this long steps down. Default leaseDuration * 2 / 3. */
  renewDeadlineMs?: number;
  /** Bound on one API request. Default min(renewInterval, 10 s). */
  requestTimeoutMs?: number;
}

export interface LeaderElectorOptions extends LeaseSettings {
  kubeConfig: k8s.KubeConfig;
  logger: Logger;
  onStartedLeading: () => void;
  /** When it returns a promise, a clean stop awaits it before releasing the Lease. */
  onStoppedLeading: () => void | Promise<void>;
}

interface Observed {
  /** holderIdentity, renewTime and leaseTransitions as read. */
  record: string;
  /** performance.now() when the record last changed. */
  at: number;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private readonly leaseName: string;
  private readonly durationMs: number;
  private readonly renewIntervalMs: number;
  private readonly retryIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private readonly requestTimeoutMs: number;
  private readonly log: Logger;
  private leader = false;
  private running = false;
  private timer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private observed?: Observed;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    this.leaseName = opts.leaseName ?? DEFAULT_LEASE_NAME;
    const seconds = opts.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
    if (!Number.isInteger(seconds) || seconds < 1)
      throw new Error('leaseDurationSeconds must be a positive integer');
    this.durationMs = seconds * 1000;
    this.renewIntervalMs = opts.renewIntervalMs ?? Math.floor(this.durationMs / 3);
    this.retryIntervalMs = opts.retryIntervalMs ?? Math.floor(this.durationMs / 3);
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((this.durationMs * 2) / 3);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? Math.min(this.renewIntervalMs, 10_000);
    if (this.renewDeadlineMs >= this.durationMs)
      throw new Error('renewDeadlineMs must be below the lease duration');
    this.log = opts.logger.child({ part: 'leader-election', lease: `${opts.namespace}/${this.leaseName}` });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get identity(): string {
    return this.opts.identity;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.log.info({ identity: this.opts.identity }, 'leader election started');
    this.schedule(0);
  }

  /** Stops campaigning; a leader steps down (onStoppedLeading) and releases the Lease. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.loop; // let a round in progress finish, so it cannot renew after the release
    // The informers are down before anyone else can lead. Release even when not leading: a round
    // that won the lease while stopping did not make us leader, but the lease is ours.
    if (this.leader) await this.stepDown('stopping');
    await this.release();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.loop = this.round().finally(() => {
        this.loop = undefined;
        if (this.running) this.schedule(this.leader ? this.renewIntervalMs : jitter(this.retryIntervalMs));
      });
    }, delayMs);
  }

  private async round(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (!this.running) return;
      if (ok) {
        this.armDeadline();
        if (!this.leader) {
          this.leader = true;
          this.log.info({ identity: this.opts.identity }, 'became leader');
          void this.callback('onStartedLeading');
        }
      }
    } catch (err) {
      this.log.warn(describeError(err), 'leader election round failed');
    }
  }

  /** A leader steps down when the next renewal does not succeed within the renew deadline. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => void this.stepDown('could not renew the lease within the renew deadline'),
      this.renewDeadlineMs,
    );
  }

  /** One round: true when we hold the Lease afterwards. Throws on API trouble. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, identity } = this.opts;
    const name = this.leaseName;
    let lease: k8s.V1Lease;
    try {
      lease = await this.request(this.api.readNamespacedLease({ name, namespace }), 'read lease');
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
      return this.create();
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(spec);

    if (holder === identity) {
      return this.replace(lease, { ...spec, renewTime: new k8s.V1MicroTime(Date.now()) }, 'renew');
    }
    if (this.leader) {
      void this.stepDown(holder ? `the lease is held by ${holder}` : 'the lease was released');
    }
    const leaseMs = (spec.leaseDurationSeconds ?? this.durationMs / 1000) * 1000;
    const expired = performance.now() - this.observed!.at > leaseMs;
    if (holder !== '' && !expired) return false;
    const now = new k8s.V1MicroTime(Date.now());
    return this.replace(
      lease,
      {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.durationMs / 1000,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
      },
      holder ? `take over from ${holder} (expired)` : 'acquire',
    );
  }

  private observe(spec: k8s.V1LeaseSpec): void {
    const record = JSON.stringify([
      spec.holderIdentity ?? '',
      String(spec.renewTime ?? ''),
      spec.leaseTransitions,
    ]);
    if (this.observed?.record !== record) this.observed = { record, at: performance.now() };
  }

  private async create(): Promise<boolean> {
    const { namespace, identity } = this.opts;
    const now = new k8s.V1MicroTime(Date.now());
    try {
      await this.request(
        this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name: this.leaseName, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: this.durationMs / 1000,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        }),
        'create lease',
      );
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) return false; // another candidate created it first
      throw err;
    }
  }

  /** Replaces the Lease with `spec`, conditional on the resourceVersion that was read. */
  private async replace(lease: k8s.V1Lease, spec: k8s.V1LeaseSpec, what: string): Promise<boolean> {
    const { namespace } = this.opts;
    try {
      await this.request(
        this.api.replaceNamespacedLease({
          name: this.leaseName,
          namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
        }),
        what,
      );
      if (what !== 'renew') this.log.debug({ what }, 'lease written');
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) {
        this.log.debug({ what }, 'lease changed meanwhile (409)');
        return false;
      }
      throw err;
    }
  }

  /** Empties holderIdentity so that a standby need not wait for the lease to expire. */
  private async release(): Promise<void> {
    try {
      const lease = await this.request(
        this.api.readNamespacedLease({ name: this.leaseName, namespace: this.opts.namespace }),
        'read lease',
      );
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      const now = new k8s.V1MicroTime(Date.now());
      const spec: k8s.V1LeaseSpec = { ...lease.spec, holderIdentity: undefined, renewTime: now };
      if (await this.replace(lease, spec, 'release')) this.log.info('lease released');
    } catch (err) {
      this.log.warn(describeError(err), 'could not release the lease; it expires on its own');
    }
  }

  private async stepDown(reason: string): Promise<void> {
    clearTimeout(this.deadlineTimer);
    if (!this.leader) return;
    this.leader = false;
    this.log.warn({ reason }, 'stopped leading');
    await this.callback('onStoppedLeading');
  }

  private async callback(which: 'onStartedLeading' | 'onStoppedLeading'): Promise<void> {
    try {
      await this.opts[which]();
    } catch (err) {
      this.log.error({ ...describeError(err), callback: which }, 'leader election callback threw');
    }
  }

  private request<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.requestTimeoutMs, what);
  }
}

/** ±10 % so that standbys do not poll in lockstep. */
function jitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}
